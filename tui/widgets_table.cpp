// Tables: column widths from the content; a table wider than its rectangle wraps its cells at spaces
// (a bit string "0 01111011 1001..." wraps between its fields) rather than cutting them, and a number
// is never cut: a column is never narrower than its longest word. When even that does not fit, each
// row is written as its own little list ("header: value" lines): narrower, every figure whole.
#include <algorithm>
#include <cctype>

#include "tui/widgets.h"

namespace qlab::tui {

namespace {

bool looks_numeric(const std::string& s) {
  if (s.empty()) return false;
  unsigned char c0 = static_cast<unsigned char>(s[0]);
  if (!(std::isdigit(c0) || c0 == '-' || c0 == '+' || c0 == '.')) return false;
  for (char c : s)
    if (std::isalpha(static_cast<unsigned char>(c)) && c != 'e' && c != 'x' && c != 'B' && c != 'G' && c != 'M')
      return false;
  return std::any_of(s.begin(), s.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
}

std::string cell(const std::vector<std::string>& row, std::size_t c) { return c < row.size() ? row[c] : std::string(); }

int longest_word(const std::string& s) {
  int best = 0, cur = 0;
  for (const auto& l : wrap_text(s, 1 << 20)) {
    for (char32_t ch : utf8_decode(l)) {
      if (ch == U' ') cur = 0;
      else best = std::max(best, ++cur);
    }
    cur = 0;
  }
  return best;
}

struct Layout {
  std::size_t ncol = 0;
  std::vector<int> w;
  int gap = 2;           // columns between cells: 2, or 1 when that is what makes the table fit
  bool stacked = false;  // one row as a list of "header: value" lines
  int width = 0;
};

Layout layout(const labs::Table& t, int width) {
  Layout L;
  L.width = width;
  L.ncol = t.header.size();
  for (const auto& row : t.rows) L.ncol = std::max(L.ncol, row.size());
  if (L.ncol == 0 || width <= 0) return L;
  L.w.assign(L.ncol, 0);
  std::vector<int> floor(L.ncol, 1);
  for (std::size_t c = 0; c < L.ncol; ++c) {
    L.w[c] = text_width(cell(t.header, c));
    floor[c] = std::max(1, std::min(longest_word(cell(t.header, c)), 12));  // headers may wrap
    for (const auto& row : t.rows) {
      L.w[c] = std::max(L.w[c], text_width(cell(row, c)));
      floor[c] = std::max(floor[c], longest_word(cell(row, c)));
    }
  }
  auto total = [&] {
    int s = 0;
    for (int x : L.w) s += x;
    return s + L.gap * static_cast<int>(L.ncol - 1);
  };
  int floors = 0;
  for (int f : floor) floors += f;
  if (floors + 2 * static_cast<int>(L.ncol - 1) > width) L.gap = 1;
  // Narrow the widest column that can still wrap, one cell at a time.
  while (total() > width) {
    int best = -1;
    for (std::size_t c = 0; c < L.ncol; ++c)
      if (L.w[c] > floor[c] && (best < 0 || L.w[c] > L.w[static_cast<std::size_t>(best)])) best = static_cast<int>(c);
    if (best < 0) break;
    --L.w[static_cast<std::size_t>(best)];
  }
  L.stacked = total() > width;
  return L;
}

int row_height(const Layout& L, const std::vector<std::string>& row) {
  int h = 1;
  for (std::size_t c = 0; c < L.ncol; ++c)
    h = std::max(h, static_cast<int>(wrap_text(cell(row, c), L.w[c]).size()));
  return h;
}

// A row in the stacked layout: its first cell, then "header: value" for the others, indented.
std::vector<std::string> stacked_lines(const labs::Table& t, const std::vector<std::string>& row, int width) {
  std::vector<std::string> out;
  for (auto& l : wrap_text(cell(row, 0), width)) out.push_back(std::move(l));
  for (std::size_t c = 1; c < std::max(t.header.size(), row.size()); ++c) {
    std::string item = cell(t.header, c).empty() ? cell(row, c) : cell(t.header, c) + ": " + cell(row, c);
    for (auto& l : wrap_text(item, std::max(1, width - 2))) out.push_back("  " + l);
  }
  return out;
}

}  // namespace

int table_height(const labs::Table& t, int width) {
  const Layout L = layout(t, width);
  int h = t.title.empty() ? 0 : static_cast<int>(wrap_text(t.title, std::max(1, width)).size());
  if (L.stacked) {
    for (const auto& row : t.rows) h += static_cast<int>(stacked_lines(t, row, width).size());
    return h;
  }
  if (!t.header.empty()) h += row_height(L, t.header) + 1;
  for (const auto& row : t.rows) h += row_height(L, row);
  return h;
}

void draw_table(Grid& g, Rect r, const labs::Table& t, const Glyphs& gl) {
  const Layout L = layout(t, r.w);
  if (L.ncol == 0 || r.w <= 0) return;
  int y = r.y;
  if (!t.title.empty())
    for (const auto& l : wrap_text(t.title, r.w))
      if (y < r.y + r.h) g.put(r.x, y++, l, Style::Heading, r.w);
  if (L.stacked) {
    for (const auto& row : t.rows) {
      bool first = true;
      for (const auto& l : stacked_lines(t, row, r.w)) {
        if (y >= r.y + r.h) return;
        g.put(r.x, y++, l, first ? Style::Title : Style::Normal, r.w);
        first = false;
      }
    }
    return;
  }
  std::vector<bool> right(L.ncol, false);
  for (std::size_t c = 0; c < L.ncol; ++c) {
    if (c < t.right_align.size()) {
      right[c] = t.right_align[c];
      continue;
    }
    int numeric = 0, text = 0;
    for (const auto& row : t.rows) {
      std::string v = cell(row, c);
      if (v.empty() || v == "-") continue;
      (looks_numeric(v) ? numeric : text)++;
    }
    right[c] = numeric > 0 && text == 0;
  }
  auto draw_row = [&](const std::vector<std::string>& row, Style s) {
    const int h = row_height(L, row);
    int x = r.x;
    for (std::size_t c = 0; c < L.ncol && x < r.x + r.w; ++c) {
      const auto lines = wrap_text(cell(row, c), L.w[c]);
      for (int i = 0; i < static_cast<int>(lines.size()) && y + i < r.y + r.h; ++i) {
        const std::string& v = lines[static_cast<std::size_t>(i)];
        int vw = text_width(v);
        int room = std::min(L.w[c], r.x + r.w - x);
        int off = right[c] ? std::max(0, L.w[c] - vw) : 0;
        if (off < room) g.put(x + off, y + i, v, s, room - off);
      }
      x += L.w[c] + L.gap;
    }
    y += h;
  };
  if (!t.header.empty() && y < r.y + r.h) {
    draw_row(t.header, Style::Title);
    if (y < r.y + r.h) {
      int x = r.x;
      for (std::size_t c = 0; c < L.ncol; ++c) {
        for (int i = 0; i < L.w[c] && x + i < r.x + r.w; ++i) g.set(x + i, y, gl.h, Style::Frame);
        x += L.w[c] + L.gap;
      }
      ++y;
    }
  }
  for (const auto& row : t.rows) {
    if (y >= r.y + r.h) break;
    draw_row(row, Style::Normal);
  }
}

}  // namespace qlab::tui
