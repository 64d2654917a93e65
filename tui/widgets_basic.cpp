// Frames, checklists, the progress bar and dialogs.
#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "tui/widgets.h"

namespace qlab::tui {

void draw_box(Grid& g, Rect r, const Glyphs& gl, const std::string& title, Style frame) {
  if (r.w < 2 || r.h < 2) return;
  for (int x = r.x + 1; x < r.x + r.w - 1; ++x) {
    g.set(x, r.y, gl.h, frame);
    g.set(x, r.y + r.h - 1, gl.h, frame);
  }
  for (int y = r.y + 1; y < r.y + r.h - 1; ++y) {
    g.set(r.x, y, gl.v, frame);
    g.set(r.x + r.w - 1, y, gl.v, frame);
  }
  g.set(r.x, r.y, gl.tl, frame);
  g.set(r.x + r.w - 1, r.y, gl.tr, frame);
  g.set(r.x, r.y + r.h - 1, gl.bl, frame);
  g.set(r.x + r.w - 1, r.y + r.h - 1, gl.br, frame);
  if (!title.empty() && r.w > 6) {
    // built by appending: GCC 12 warns (-Wrestrict, a false positive) on " " + std::string&&
    std::string t(1, ' ');
    t += truncate(title, r.w - 6, gl.ellipsis);
    t += ' ';
    g.put(r.x + 2, r.y, t, Style::Title);
  }
}

void draw_checklist(Grid& g, Rect r, const std::vector<CheckItem>& items, int selected, bool focused,
                    const Glyphs& gl, int scroll) {
  for (int i = 0; i < r.h; ++i) {
    int idx = scroll + i;
    if (idx >= static_cast<int>(items.size())) break;
    const auto& it = items[static_cast<std::size_t>(idx)];
    bool sel = idx == selected;
    Style s = sel && focused ? Style::Selected : Style::Normal;
    g.fill(r.row(i), U' ', s);
    std::string mark = sel ? utf8_encode(std::u32string(1, gl.bullet)) : " ";
    std::string box = it.checked ? "[x] " : "[ ] ";
    int used = g.put(r.x, r.y + i, mark + box, s, r.w);
    int note_w = it.note.empty() ? 0 : text_width(it.note) + 1;
    int text_w = r.w - used - note_w;
    if (text_w > 0) g.put(r.x + used, r.y + i, truncate(it.text, text_w, gl.ellipsis), s, text_w);
    if (note_w > 0 && r.w - note_w > used) g.put(r.x + r.w - note_w + 1, r.y + i, it.note, sel && focused ? s : Style::Dim);
  }
}

std::string format_duration(double s) {
  if (s < 0 || !std::isfinite(s)) return "?";
  long t = std::lround(s);
  if (t < 60) return fmt::format("{}s", t);
  if (t < 3600) return fmt::format("{}m{:02d}s", t / 60, t % 60);
  return fmt::format("{}h{:02d}m", t / 3600, (t % 3600) / 60);
}

void draw_progress(Grid& g, Rect row, const ProgressView& p, const Glyphs& gl) {
  g.fill(row, U' ', Style::Normal);
  std::string right;
  if (p.cancelling) {
    right = "cancelling" + utf8_encode(std::u32string(1, gl.ellipsis));
  } else if (p.fraction >= 0) {
    right = fmt::format("{:3.0f}%", 100 * std::clamp(p.fraction, 0.0, 1.0));
    if (p.rate > 0) right += fmt::format("  {:.1f}%/s", 100 * p.rate);
    right += p.eta_s >= 0 ? "  " + format_duration(p.eta_s) + " left" : "  " + format_duration(p.elapsed_s);
  } else {
    right = format_duration(p.elapsed_s);
  }
  int right_w = text_width(right);
  // The label says which job and where it is ("fp8 (run 3/4) step 130/300"): as much of it as
  // leaves the bar at least 16 cells.
  int label_w = std::clamp(std::min(text_width(p.label), row.w - right_w - 4 - 16), 0, std::max(0, row.w / 2));
  int bar_w = row.w - right_w - label_w - 4;
  int x = row.x;
  if (label_w > 0) {
    g.put(x, row.y, truncate(p.label, label_w, gl.ellipsis), Style::Accent, label_w);
    x += label_w + 1;
  }
  if (bar_w >= 4) {
    g.set(x, row.y, U'[', Style::Normal);
    int inner = bar_w - 2;
    if (p.fraction >= 0) {
      double cells = std::clamp(p.fraction, 0.0, 1.0) * inner;
      int full = static_cast<int>(cells);
      int eighths = static_cast<int>((cells - full) * 8);
      for (int i = 0; i < inner; ++i) {
        char32_t part = eighths > 0 && gl.hbar[eighths] != U' ' ? gl.hbar[eighths] : gl.bar_empty;
        char32_t c = i < full ? gl.hbar[8] : (i == full ? part : gl.bar_empty);
        g.set(x + 1 + i, row.y, c, i <= full ? Style::Good : Style::Dim);
      }
    } else {
      // indeterminate: a block that moves with elapsed time
      int pos = static_cast<int>(p.elapsed_s * 8) % std::max(1, inner);
      for (int i = 0; i < inner; ++i) g.set(x + 1 + i, row.y, i == pos ? gl.hbar[8] : gl.bar_empty, Style::Dim);
    }
    g.set(x + bar_w - 1, row.y, U']', Style::Normal);
    x += bar_w + 1;
  }
  g.put(x, row.y, right, Style::Normal, row.x + row.w - x);
}

Rect draw_dialog(Grid& g, const std::string& title, const std::string& body, const std::string& footer,
                 const Glyphs& gl, Style body_style) {
  int max_w = std::min(g.width() - 4, 70);
  if (max_w < 10) return {};
  int inner = max_w - 4;
  auto lines = wrap_text(body, inner);
  int widest = std::max(text_width(title) + 4, text_width(footer));
  for (const auto& l : lines) widest = std::max(widest, text_width(l));
  inner = std::min(inner, std::max(widest, 20));
  lines = wrap_text(body, inner);
  int h = std::min(static_cast<int>(lines.size()) + 4 + (footer.empty() ? 0 : 1), g.height() - 2);
  int w = inner + 4;
  Rect r{(g.width() - w) / 2, (g.height() - h) / 2, w, h};
  g.fill(r, U' ', Style::Normal);
  draw_box(g, r, gl, title, Style::Accent);
  int body_rows = h - 4 - (footer.empty() ? 0 : 1);
  for (int i = 0; i < static_cast<int>(lines.size()) && i < body_rows; ++i)
    g.put(r.x + 2, r.y + 2 + i, lines[static_cast<std::size_t>(i)], body_style, inner);
  if (!footer.empty()) g.put(r.x + 2, r.y + h - 2, truncate(footer, inner, gl.ellipsis), Style::Dim, inner);
  return r;
}

}  // namespace qlab::tui
