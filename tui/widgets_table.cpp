// Tables: column widths from the content, shrunk (widest first) to fit; numbers right-aligned.
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

}  // namespace

int table_height(const labs::Table& t) {
  return (t.title.empty() ? 0 : 1) + (t.header.empty() ? 0 : 2) + static_cast<int>(t.rows.size());
}

void draw_table(Grid& g, Rect r, const labs::Table& t, const Glyphs& gl) {
  std::size_t ncol = t.header.size();
  for (const auto& row : t.rows) ncol = std::max(ncol, row.size());
  if (ncol == 0 || r.w <= 0) return;
  std::vector<int> w(ncol, 0);
  auto cell = [&](const std::vector<std::string>& row, std::size_t c) -> std::string {
    return c < row.size() ? row[c] : std::string();
  };
  for (std::size_t c = 0; c < ncol; ++c) {
    w[c] = text_width(cell(t.header, c));
    for (const auto& row : t.rows) w[c] = std::max(w[c], text_width(cell(row, c)));
  }
  const int gap = 2;
  auto total = [&] {
    int s = 0;
    for (int x : w) s += x;
    return s + gap * static_cast<int>(ncol - 1);
  };
  while (total() > r.w) {
    auto it = std::max_element(w.begin(), w.end());
    if (*it <= 3) break;
    --*it;
  }
  std::vector<bool> right(ncol, false);
  for (std::size_t c = 0; c < ncol; ++c) {
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
  int y = r.y;
  auto draw_row = [&](const std::vector<std::string>& row, Style s) {
    if (y >= r.y + r.h) return;
    int x = r.x;
    for (std::size_t c = 0; c < ncol && x < r.x + r.w; ++c) {
      std::string v = truncate(cell(row, c), w[c], gl.ellipsis);
      int vw = text_width(v);
      int room = std::min(w[c], r.x + r.w - x);
      int off = right[c] ? std::max(0, w[c] - vw) : 0;
      if (off < room) g.put(x + off, y, v, s, room - off);
      x += w[c] + gap;
    }
    ++y;
  };
  if (!t.title.empty() && y < r.y + r.h) g.put_clipped(r, y++, t.title, Style::Heading, gl.ellipsis);
  if (!t.header.empty()) {
    draw_row(t.header, Style::Title);
    if (y < r.y + r.h) {
      int x = r.x;
      for (std::size_t c = 0; c < ncol; ++c) {
        for (int i = 0; i < w[c] && x + i < r.x + r.w; ++i) g.set(x + i, y, gl.h, Style::Frame);
        x += w[c] + gap;
      }
      ++y;
    }
  }
  for (const auto& row : t.rows) draw_row(row, Style::Normal);
}

}  // namespace qlab::tui
