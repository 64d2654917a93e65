// Overlays drawn over the current screen: help (from the key table), glossary, the prerequisite
// quiz, diagnostics.
#include <algorithm>
#include <cstdlib>

#include <fmt/format.h>

#include "tui/app.h"
#include "tui/widgets.h"

namespace qlab::tui {

namespace {

std::string context_name(unsigned c) {
  std::vector<std::string> n;
  if (c == Everywhere) return "everywhere";
  if ((c & AnyScreen) == AnyScreen) n.push_back("home and labs");
  else if (c & Home) n.push_back("home");
  else if (c & LabScreen) n.push_back("labs");
  if (c & QuizScreen) n.push_back("quiz");
  if (c & OverlayCtx) n.push_back("overlays");
  std::string out;
  for (const auto& s : n) out += (out.empty() ? "" : ", ") + s;
  return out;
}

}  // namespace

void App::render_pager_overlay(Grid& g, const std::string& title, const std::vector<std::string>& lines) {
  Rect r{2, 1, w_ - 4, h_ - 2};
  g.fill(r, U' ', Style::Normal);
  draw_box(g, r, *gl_, title, Style::Accent);
  Rect in = r.inset(1);
  in.x += 1;
  in.w -= 2;
  overlay_max_scroll_ = std::max(0, static_cast<int>(lines.size()) - in.h);
  overlay_scroll_ = std::clamp(overlay_scroll_, 0, overlay_max_scroll_);
  for (int i = 0; i < in.h; ++i) {
    std::size_t idx = static_cast<std::size_t>(overlay_scroll_ + i);
    if (idx >= lines.size()) break;
    g.put(in.x, in.y + i, lines[idx], Style::Normal, in.w);
  }
  if (overlay_max_scroll_ > 0) {
    std::string more = fmt::format(" {}/{} ", overlay_scroll_ + 1, overlay_max_scroll_ + 1);
    g.put(r.x + r.w - text_width(more) - 2, r.y + r.h - 1, more, Style::Dim);
  }
}

void App::render_help(Grid& g) {
  std::vector<std::string> lines;
  int inner = w_ - 8;
  for (const auto& b : key_table()) {
    std::string left = fmt::format("{:<8}", b.label);
    std::string right = b.help + "  (" + context_name(b.contexts) + ")";
    for (const auto& l : wrap_text(right, inner - 10)) {
      lines.push_back(left + "  " + l);
      left = std::string(8, ' ');
    }
  }
  lines.push_back("");
  lines.push_back("h j k l move like the arrows; no command sits on them.");
  lines.push_back("");
  lines.push_back(fmt::format("Characters: {}   Colour: {}   Window: {}x{}", gl_->name,
                              env_.terminal.color ? "on" : "off (" + env_.terminal.color_reason + ")", w_, h_));
  for (const auto& l : wrap_text("Progress file: " + env_.progress->path().string(), inner)) lines.push_back(l);
  render_pager_overlay(g, "Help: keys", lines);
}

void App::render_glossary(Grid& g) {
  Rect r{2, 1, w_ - 4, h_ - 2};
  g.fill(r, U' ', Style::Normal);
  draw_box(g, r, *gl_, "Words: glossary and plain-language notes", Style::Accent);
  Rect in = r.inset(1);
  int list_w = std::min(24, in.w / 3);
  int n = static_cast<int>(c_.glossary.size());
  gloss_sel_ = std::clamp(gloss_sel_, 0, std::max(0, n - 1));
  int scroll = std::max(0, gloss_sel_ - in.h + 1);
  for (int i = 0; i < in.h && scroll + i < n; ++i) {
    int idx = scroll + i;
    Style s = idx == gloss_sel_ ? Style::Selected : Style::Normal;
    g.fill(Rect{in.x, in.y + i, list_w, 1}, U' ', s);
    g.put(in.x + 1, in.y + i, truncate(c_.glossary[static_cast<std::size_t>(idx)].term, list_w - 1, gl_->ellipsis), s);
  }
  for (int y = in.y; y < in.y + in.h; ++y) g.set(in.x + list_w, y, gl_->v, Style::Frame);
  if (n == 0) return;
  const auto& e = c_.glossary[static_cast<std::size_t>(gloss_sel_)];
  int tx = in.x + list_w + 2, tw = in.w - list_w - 3;
  int y = in.y;
  g.put(tx, y++, e.term, Style::Heading, tw);
  ++y;
  for (const auto& l : wrap_text(e.plain, tw)) {
    if (y >= in.y + in.h) break;
    g.put(tx, y++, l, Style::Normal, tw);
  }
  if (!e.detail.empty() && y + 1 < in.y + in.h) {
    ++y;
    for (const auto& l : wrap_text(e.detail, tw)) {
      if (y >= in.y + in.h) break;
      g.put(tx, y++, l, Style::Dim, tw);
    }
  }
}

void App::render_diagnostics(Grid& g) {
  const auto& t = env_.terminal;
  std::vector<std::string> lines = {
      fmt::format("qlab {}", QLAB_VERSION),
      "",
      "TERM: " + (t.term.empty() ? std::string("(unset)") : t.term),
      fmt::format("Colours: {} ({} available{})", t.color ? "on" : "off", t.colors,
                  t.color ? "" : "; " + t.color_reason),
      "Locale: " + (t.locale.empty() ? std::string("?") : t.locale) + "   codeset: " + t.codeset,
      std::string("Characters: ") + gl_->name,
      fmt::format("Window: {}x{} (needs at least {}x{})", w_, h_, kMinWidth, kMinHeight),
  };
  if (!t.lines_env.empty() || !t.columns_env.empty())
    lines.push_back("LINES/COLUMNS are set in the environment (" + t.lines_env + "/" + t.columns_env +
                    "): they freeze the size curses sees; unset them to follow resizes.");
  lines.push_back("");
  lines.push_back("Progress file: " + env_.progress->path().string() + (env_.progress->read_only() ? " (read-only)" : ""));
  lines.push_back("Model: " + env_.model.display + (env_.model.builtin ? "" : " (" + env_.model.dir.string() + ")"));
  if (!env_.runs_dir.empty())
    lines.push_back("Step files (saved results, checkpoints): " + (env_.runs_dir / labs::model_key(env_.model)).string());
  lines.push_back("");
  for (const auto& m : env_.machine) lines.push_back(m);
  std::vector<std::string> wrapped;
  for (const auto& l : lines) {
    auto w = wrap_text(l, w_ - 8);
    if (w.empty()) wrapped.emplace_back();
    wrapped.insert(wrapped.end(), w.begin(), w.end());
  }
  render_pager_overlay(g, "Diagnostics", wrapped);
}

// The module: its introduction, then each of its claims that is wrong or dated beside what is true
// and the evidence (a step that measures it here, or the source it is cited from).
void App::render_module(Grid& g) {
  const int width = w_ - 8;
  std::vector<std::string> lines;
  auto add = [&](const std::string& text, int indent) {
    for (const auto& l : wrap_text(text, width - indent)) lines.push_back(std::string(static_cast<std::size_t>(indent), ' ') + l);
  };
  add(c_.module_title, 0);
  lines.emplace_back();
  add(c_.module_intro, 0);
  lines.emplace_back();
  add(fmt::format("Where the module is wrong or dated ({} corrections)", c_.corrections.size()), 0);
  for (std::size_t i = 0; i < c_.corrections.size(); ++i) {
    const auto& k = c_.corrections[i];
    lines.emplace_back();
    add(fmt::format("{}. The module says: {}", i + 1, k.claim), 0);
    add("What is true: " + k.fact, 3);
    if (!k.evidence.empty()) add("Evidence: " + k.evidence, 3);
  }
  render_pager_overlay(g, "The module and its corrections", lines);
}

}  // namespace qlab::tui
