// Charts drawn with text cells: line chart, bar chart, histogram, number line; and the block layout.
#include <algorithm>
#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "tui/widgets.h"

namespace qlab::tui {

namespace {

std::string short_num(double v) {
  if (v == 0) return "0";
  double a = std::fabs(v);
  if (a >= 1e4 || a < 1e-2) return fmt::format("{:.2g}", v);
  if (a >= 100) return fmt::format("{:.0f}", v);
  return fmt::format("{:.3g}", v);
}

std::string glyph(char32_t c) { return utf8_encode(std::u32string(1, c)); }

// The glyph for the top cell of a bar filled `level` eighths (1..8) in a set that may lack some
// levels (ASCII and the Linux console have few): the nearest level the set has at or below, else the
// smallest mark it has -- never the full block, which would make a nearly empty bin look as tall as
// a full one.
char32_t partial(const char32_t (&bar)[9], int level) {
  for (int l = level; l >= 1; --l)
    if (bar[l] != U' ') return bar[l];
  for (int l = 1; l <= 8; ++l)
    if (bar[l] != U' ') return bar[l];
  return bar[8];
}

}  // namespace

void draw_line_chart(Grid& g, Rect r, const labs::LineChart& c, const Glyphs& gl) {
  if (r.h < 5 || r.w < 20) return;
  int y = r.y;
  g.put_clipped(r, y++, c.title, Style::Heading, gl.ellipsis);
  // legend
  {
    int x = r.x;
    for (std::size_t i = 0; i < c.series.size() && x < r.x + r.w; ++i) {
      std::string item = glyph(gl.marks[i % 4]) + " " + c.series[i].name + "  ";
      x += g.put(x, y, item, i % 2 ? Style::Accent : Style::Good, r.x + r.w - x);
    }
    ++y;
  }
  double xmin = std::numeric_limits<double>::infinity(), xmax = -xmin, ymin = xmin, ymax = -xmin;
  auto ty = [&](double v) { return c.log_y ? std::log10(v) : v; };
  for (const auto& s : c.series)
    for (std::size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
      if (!std::isfinite(s.y[i]) || (c.log_y && s.y[i] <= 0)) continue;
      xmin = std::min(xmin, s.x[i]);
      xmax = std::max(xmax, s.x[i]);
      ymin = std::min(ymin, ty(s.y[i]));
      ymax = std::max(ymax, ty(s.y[i]));
    }
  int plot_h = r.y + r.h - y - 1;
  const int label_w = 8;
  int plot_w = r.w - label_w - 1;
  if (plot_h < 2 || plot_w < 8) return;
  if (!std::isfinite(xmin)) {
    g.put(r.x, y, "(no points yet)", Style::Dim, r.w);
    return;
  }
  if (xmax == xmin) xmax = xmin + 1;
  if (ymax == ymin) ymax = ymin + 1;
  auto uy = [&](double v) { return c.log_y ? std::pow(10.0, v) : v; };
  g.put(r.x, y, fmt::format("{:>{}}", short_num(uy(ymax)), label_w), Style::Dim, label_w);
  g.put(r.x, y + plot_h - 1, fmt::format("{:>{}}", short_num(uy(ymin)), label_w), Style::Dim, label_w);
  for (int i = 0; i < plot_h; ++i) g.set(r.x + label_w, y + i, gl.v, Style::Frame);
  int px0 = r.x + label_w + 1;
  for (std::size_t si = 0; si < c.series.size(); ++si) {
    const auto& s = c.series[si];
    for (std::size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
      if (!std::isfinite(s.y[i]) || (c.log_y && s.y[i] <= 0)) continue;
      int cx = static_cast<int>(std::lround((s.x[i] - xmin) / (xmax - xmin) * (plot_w - 1)));
      int cy = static_cast<int>(std::lround((ty(s.y[i]) - ymin) / (ymax - ymin) * (plot_h - 1)));
      g.set(px0 + cx, y + plot_h - 1 - cy, gl.marks[si % 4], si % 2 ? Style::Accent : Style::Good);
    }
  }
  int ax = y + plot_h;
  std::string left = short_num(xmin), right = short_num(xmax);
  g.put(px0, ax, left, Style::Dim, plot_w);
  g.put(px0 + plot_w - text_width(right), ax, right, Style::Dim, text_width(right));
  if (!c.x_label.empty()) {
    int lw = text_width(c.x_label);
    int lx = px0 + (plot_w - lw) / 2;
    if (lx > px0 + text_width(left) && lx + lw < px0 + plot_w - text_width(right))
      g.put(lx, ax, c.x_label, Style::Dim, lw);
  }
}

void draw_bar_chart(Grid& g, Rect r, const labs::BarChart& c, const Glyphs& gl) {
  if (r.h < 2 || r.w < 20) return;
  int y = r.y;
  g.put_clipped(r, y++, c.title, Style::Heading, gl.ellipsis);
  int label_w = 0;
  double vmax = 0;
  for (const auto& l : c.labels) label_w = std::max(label_w, text_width(l));
  for (double v : c.values)
    if (std::isfinite(v)) vmax = std::max(vmax, v);
  label_w = std::min(label_w, r.w / 3);
  // +inf is an exact result (an SQNR with no error at all): no bar length can show it, so it is
  // written out instead of drawn as an empty bar.
  std::vector<std::string> vals;
  int val_w = 0;
  for (double v : c.values) {
    vals.push_back(std::isinf(v) && v > 0 ? "exact (no error)" : short_num(v) + (c.unit.empty() ? "" : " " + c.unit));
    if (!(std::isinf(v) && v > 0)) val_w = std::max(val_w, text_width(vals.back()));
  }
  int bar_w = r.w - label_w - val_w - 3;
  for (std::size_t i = 0; i < c.values.size() && y < r.y + r.h; ++i, ++y) {
    g.put(r.x, y, truncate(i < c.labels.size() ? c.labels[i] : "", label_w, gl.ellipsis), Style::Normal, label_w);
    if (std::isinf(c.values[i]) && c.values[i] > 0) {
      g.put(r.x + label_w + 1, y, vals[i], Style::Accent, r.w - label_w - 1);
      continue;
    }
    double frac = vmax > 0 && std::isfinite(c.values[i]) ? std::max(0.0, c.values[i]) / vmax : 0;
    double cells = frac * std::max(0, bar_w);
    int full = static_cast<int>(cells);
    int eighths = static_cast<int>((cells - full) * 8);
    int x = r.x + label_w + 1;
    for (int k = 0; k < full; ++k) g.set(x + k, y, gl.hbar[8], Style::Good);
    if (eighths > 0 && gl.hbar[eighths] != U' ') g.set(x + full, y, gl.hbar[eighths], Style::Good);
    g.put(x + std::max(0, bar_w) + 1, y, vals[i], Style::Normal, val_w + 1);
  }
}

void draw_histogram(Grid& g, Rect r, const labs::Histogram& h, const Glyphs& gl) {
  if (r.h < 4 || r.w < 16 || h.counts.empty()) return;
  int y = r.y;
  g.put_clipped(r, y++, h.title, Style::Heading, gl.ellipsis);
  int plot_h = r.h - 2;
  // Bins onto columns: several columns per bin when there is room, several bins per column when not.
  int cols = std::min(r.w, static_cast<int>(h.counts.size()) * std::max(1, r.w / static_cast<int>(h.counts.size())));
  std::vector<double> col_val(static_cast<std::size_t>(cols), 0.0);
  for (int cx = 0; cx < cols; ++cx) {
    std::size_t b0 = static_cast<std::size_t>(cx) * h.counts.size() / static_cast<std::size_t>(cols);
    std::size_t b1 = std::max(b0 + 1, static_cast<std::size_t>(cx + 1) * h.counts.size() / static_cast<std::size_t>(cols));
    for (std::size_t b = b0; b < b1 && b < h.counts.size(); ++b) col_val[static_cast<std::size_t>(cx)] += h.counts[b];
  }
  double vmax = *std::max_element(col_val.begin(), col_val.end());
  int x0 = r.x + (r.w - cols) / 2;
  for (int cx = 0; cx < cols; ++cx) {
    double v = col_val[static_cast<std::size_t>(cx)];
    int e = vmax > 0 ? static_cast<int>(std::lround(v / vmax * plot_h * 8)) : 0;
    if (v > 0 && e == 0) e = 1;  // a non-empty bin never looks empty
    for (int row = 0; row < plot_h; ++row) {
      int level = std::clamp(e - row * 8, 0, 8);
      if (level > 0) g.set(x0 + cx, y + plot_h - 1 - row, partial(gl.vbar, level), Style::Good);
    }
  }
  int ax = y + plot_h;
  std::string lo = short_num(h.lo), hi = short_num(h.hi), mid = "0";
  g.put(x0, ax, lo, Style::Dim, cols);
  g.put(x0 + cols - text_width(hi), ax, hi, Style::Dim, text_width(hi));
  if (h.lo < 0 && h.hi > 0) {
    int zx = x0 + static_cast<int>(std::lround(-h.lo / (h.hi - h.lo) * (cols - 1)));
    if (zx > x0 + text_width(lo) && zx < x0 + cols - text_width(hi) - 1) g.put(zx, ax, mid, Style::Dim, 1);
  }
}

void draw_number_line(Grid& g, Rect r, const labs::NumberLine& n, const Glyphs& gl) {
  if (r.h < 3 || r.w < 24) return;
  int y = r.y;
  g.put_clipped(r, y++, n.title, Style::Heading, gl.ellipsis);
  int name_w = 0;
  for (const auto& s : n.names) name_w = std::max(name_w, text_width(s));
  name_w = std::min(name_w, 10);
  int ax_x = r.x + name_w + 1;
  int ax_w = r.w - name_w - 1;
  if (ax_w < 10 || n.hi <= n.lo) return;
  auto col = [&](double v) { return static_cast<int>(std::lround((v - n.lo) / (n.hi - n.lo) * (ax_w - 1))); };
  for (std::size_t i = 0; i < n.names.size() && y < r.y + r.h - 1; ++i, ++y) {
    g.put(r.x, y, truncate(n.names[i], name_w, gl.ellipsis), Style::Normal, name_w);
    for (int k = 0; k < ax_w; ++k) g.set(ax_x + k, y, gl.axis, Style::Frame);
    if (i < n.values.size())
      for (double v : n.values[i]) g.set(ax_x + col(v), y, gl.tick, Style::Good);
  }
  // scale: every whole number that fits, labelled at lo, 0, hi and the units between when roomy
  std::string lo = short_num(n.lo), hi = short_num(n.hi);
  g.put(ax_x, y, lo, Style::Dim, ax_w);
  g.put(ax_x + ax_w - text_width(hi), y, hi, Style::Dim, text_width(hi));
  for (double v = std::ceil(n.lo) + 1; v < n.hi; v += 1) {
    int cx = ax_x + col(v);
    std::string s = short_num(v);
    if (cx - 1 > ax_x + text_width(lo) && cx + text_width(s) < ax_x + ax_w - text_width(hi) - 1 &&
        (ax_w / (n.hi - n.lo) >= 4 || v == 0))
      g.put(cx, y, s, Style::Dim, text_width(s));
  }
}

int block_height(const labs::Block& b, int width) {
  struct V {
    int w;
    int operator()(const labs::Text& t) const { return static_cast<int>(wrap_text(t.body, w).size()); }
    int operator()(const labs::Table& t) const { return table_height(t, w); }
    int operator()(const labs::LineChart&) const { return 14; }
    int operator()(const labs::Histogram&) const { return 9; }
    int operator()(const labs::BarChart& c) const { return 1 + static_cast<int>(c.values.size()); }
    int operator()(const labs::NumberLine& n) const { return 2 + static_cast<int>(n.names.size()); }
  };
  return std::visit(V{width}, b);
}

void draw_block(Grid& g, Rect r, const labs::Block& b, const Glyphs& gl) {
  struct V {
    Grid& g;
    Rect r;
    const Glyphs& gl;
    void operator()(const labs::Text& t) const {
      auto lines = wrap_text(t.body, r.w);
      for (int i = 0; i < r.h && i < static_cast<int>(lines.size()); ++i)
        g.put(r.x, r.y + i, lines[static_cast<std::size_t>(i)], Style::Normal, r.w);
    }
    void operator()(const labs::Table& t) const { draw_table(g, r, t, gl); }
    void operator()(const labs::LineChart& c) const { draw_line_chart(g, r, c, gl); }
    void operator()(const labs::Histogram& h) const { draw_histogram(g, r, h, gl); }
    void operator()(const labs::BarChart& c) const { draw_bar_chart(g, r, c, gl); }
    void operator()(const labs::NumberLine& n) const { draw_number_line(g, r, n, gl); }
  };
  std::visit(V{g, r, gl}, b);
}

}  // namespace qlab::tui
