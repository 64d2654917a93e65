#include "tui/grid.h"

#include <algorithm>

#include "engine/io/unicode_text.h"

namespace qlab::tui {

namespace {
bool is_wide(char32_t c) {
  return (c >= 0x1100 && c <= 0x115F) || (c >= 0x2E80 && c <= 0xA4CF) || (c >= 0xAC00 && c <= 0xD7A3) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0xFE30 && c <= 0xFE4F) || (c >= 0xFF00 && c <= 0xFF60) ||
         (c >= 0xFFE0 && c <= 0xFFE6) || c >= 0x1F000;
}
}  // namespace

void Grid::resize(int w, int h) {
  w_ = std::max(0, w);
  h_ = std::max(0, h);
  cells_.assign(static_cast<std::size_t>(w_) * static_cast<std::size_t>(h_), Cell{});
}

void Grid::set(int x, int y, char32_t ch, Style s) {
  if (!inside(x, y)) return;
  // Control characters and two-column code points would break the grid's geometry.
  if (ch < 0x20 || (ch >= 0x7f && ch < 0xa0) || is_wide(ch)) ch = U'?';
  cells_[static_cast<std::size_t>(y * w_ + x)] = Cell{ch, s};
}

void Grid::fill(Rect r, char32_t ch, Style s) {
  for (int y = r.y; y < r.y + r.h; ++y)
    for (int x = r.x; x < r.x + r.w; ++x) set(x, y, ch, s);
}

int Grid::put(int x, int y, std::string_view utf8, Style s, int max_w) {
  std::u32string u = utf8_decode(utf8);
  int n = 0;
  for (char32_t c : u) {
    if (n >= max_w || x + n >= w_) break;
    set(x + n, y, c, s);
    ++n;
  }
  return n;
}

int Grid::put_clipped(Rect r, int y, std::string_view utf8, Style s, char32_t ellipsis) {
  if (r.w <= 0 || y < r.y || y >= r.y + r.h) return 0;
  return put(r.x, y, truncate(utf8, r.w, ellipsis), s, r.w);
}

void Grid::blit(const Grid& src, int src_y, int x, int y, int h) {
  for (int i = 0; i < h; ++i) {
    int sy = src_y + i;
    if (sy < 0 || sy >= src.height()) continue;
    for (int j = 0; j < src.width(); ++j) {
      const Cell& c = src.at(j, sy);
      if (inside(x + j, y + i)) cells_[static_cast<std::size_t>((y + i) * w_ + x + j)] = c;
    }
  }
}

std::string Grid::row_text(int y) const {
  std::u32string u;
  for (int x = 0; x < w_; ++x) u.push_back(at(x, y).ch);
  while (!u.empty() && u.back() == U' ') u.pop_back();
  return utf8_encode(u);
}

std::string Grid::to_text() const {
  std::string out;
  for (int y = 0; y < h_; ++y) {
    out += row_text(y);
    out += '\n';
  }
  return out;
}

bool Grid::contains(std::string_view needle) const {
  for (int y = 0; y < h_; ++y)
    if (row_text(y).find(needle) != std::string::npos) return true;
  return false;
}

std::u32string utf8_decode(std::string_view s) {
  // The engine's decoder (Unicode's maximal-subpart rule): each invalid run shows as one U+FFFD.
  std::u32string out;
  out.reserve(s.size());
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  for (std::size_t i = 0; i < s.size();) {
    char32_t cp = 0;
    const int len = io::unicode::utf8_next(p + i, s.size() - i, cp);
    out.push_back(len > 0 ? cp : char32_t{0xFFFD});
    i += static_cast<std::size_t>(len > 0 ? len : -len);
  }
  return out;
}

std::string utf8_encode(std::u32string_view s) {
  std::string out;
  for (char32_t c : s) io::unicode::append_utf8(out, c);
  return out;
}

int text_width(std::string_view utf8) { return static_cast<int>(utf8_decode(utf8).size()); }

std::string truncate(std::string_view utf8, int w, char32_t ellipsis) {
  std::u32string u = utf8_decode(utf8);
  if (w <= 0) return {};
  if (static_cast<int>(u.size()) <= w) return std::string(utf8);
  u.resize(static_cast<std::size_t>(w - 1));
  while (!u.empty() && u.back() == U' ') u.pop_back();
  u.push_back(ellipsis);
  return utf8_encode(u);
}

std::vector<std::string> wrap_text(std::string_view text, int w) {
  std::vector<std::string> lines;
  if (w <= 0) return lines;
  std::u32string u = utf8_decode(text);
  std::size_t start = 0;
  while (start <= u.size()) {
    std::size_t end = u.find(U'\n', start);
    if (end == std::u32string::npos) end = u.size();
    std::u32string para = u.substr(start, end - start);
    // keep leading indentation of a paragraph (lists, code-like lines)
    std::size_t indent = 0;
    while (indent < para.size() && para[indent] == U' ') ++indent;
    if (static_cast<int>(indent) >= w) indent = 0;
    std::u32string line(para.substr(0, indent));
    std::size_t i = indent;
    bool line_has_word = false;
    while (i < para.size()) {
      while (i < para.size() && para[i] == U' ') ++i;
      std::size_t j = i;
      while (j < para.size() && para[j] != U' ') ++j;
      if (j == i) break;
      std::u32string word = para.substr(i, j - i);
      i = j;
      std::size_t need = line.size() + (line_has_word ? 1 : 0) + word.size();
      if (line_has_word && static_cast<int>(need) > w) {
        lines.push_back(utf8_encode(line));
        line = std::u32string(indent, U' ');
        line_has_word = false;
      }
      while (static_cast<int>(line.size() + word.size()) > w && !line_has_word) {
        std::size_t room = static_cast<std::size_t>(w) - line.size();
        lines.push_back(utf8_encode(line + word.substr(0, room)));
        word = word.substr(room);
        line = std::u32string(indent, U' ');
      }
      if (line_has_word) line.push_back(U' ');
      line += word;
      line_has_word = true;
    }
    lines.push_back(utf8_encode(line));
    if (end == u.size()) break;
    start = end + 1;
  }
  return lines;
}

}  // namespace qlab::tui
