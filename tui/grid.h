#pragma once
// The cell grid every widget draws into. The terminal layer copies it to the screen; tests read it
// back as text. One cell holds one code point of display width 1 (the tutor's text and glyphs are
// chosen so; wider code points are replaced by '?').
//   Style        what a cell means (title, selected, good, bad, ...); the terminal maps it to colour
//                or, under NO_COLOR, to attributes; meaning never rests on colour alone
//   Rect, Grid   put() clips to a rectangle and returns the columns written
//   utf8 helpers decode/encode and display width
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace qlab::tui {

enum class Style : std::uint8_t { Normal, Title, Heading, Selected, Dim, Good, Bad, Accent, Status, Frame };

struct Cell {
  char32_t ch = U' ';
  Style style = Style::Normal;
  bool operator==(const Cell&) const = default;
};

struct Rect {
  int x = 0, y = 0, w = 0, h = 0;
  Rect inset(int d) const { return {x + d, y + d, w - 2 * d, h - 2 * d}; }
  Rect row(int i) const { return {x, y + i, w, 1}; }
  bool empty() const { return w <= 0 || h <= 0; }
};

class Grid {
 public:
  Grid() = default;
  Grid(int w, int h) { resize(w, h); }
  void resize(int w, int h);
  int width() const { return w_; }
  int height() const { return h_; }
  Rect area() const { return {0, 0, w_, h_}; }

  bool inside(int x, int y) const { return x >= 0 && y >= 0 && x < w_ && y < h_; }
  const Cell& at(int x, int y) const { return cells_[static_cast<std::size_t>(y * w_ + x)]; }
  void set(int x, int y, char32_t ch, Style s);  // ignored outside
  void fill(Rect r, char32_t ch, Style s);
  void clear() { fill(area(), U' ', Style::Normal); }
  // Writes UTF-8 text at (x, y), at most max_w columns (and never past the grid); returns columns used.
  int put(int x, int y, std::string_view utf8, Style s, int max_w = 1 << 30);
  // Like put() but clipped to rect r's row y; text too long ends in an ellipsis glyph.
  int put_clipped(Rect r, int y, std::string_view utf8, Style s, char32_t ellipsis);
  // Copies src's rows [src_y, src_y + h) into this grid at (x, y).
  void blit(const Grid& src, int src_y, int x, int y, int h);

  std::string row_text(int y) const;  // UTF-8, trailing spaces removed
  std::string to_text() const;        // every row, '\n' after each
  // True when `needle` occurs on some row.
  bool contains(std::string_view needle) const;

 private:
  int w_ = 0, h_ = 0;
  std::vector<Cell> cells_;
};

std::u32string utf8_decode(std::string_view s);  // invalid bytes become U+FFFD
std::string utf8_encode(std::u32string_view s);
int text_width(std::string_view utf8);            // code points (one column each)
// Truncates to at most w columns, ending in `ellipsis` when cut.
std::string truncate(std::string_view utf8, int w, char32_t ellipsis);
// Word-wraps text (paragraphs split on '\n') to width w; a word longer than w is cut.
std::vector<std::string> wrap_text(std::string_view text, int w);

}  // namespace qlab::tui
