// The lab screen: steps on the left, the selected step's words and live results on the right,
// a progress bar while a job runs, the status line with the keys.
#include <algorithm>

#include <fmt/format.h>

#include "labs/milestones.h"
#include "tui/app.h"
#include "tui/widgets.h"

namespace qlab::tui {

void App::lab_key(Action a) {
  auto steps = visible_steps(current_lab());
  const int n = static_cast<int>(steps.size());
  const int page = std::max(1, h_ - 8);
  if (a == Action::Up || a == Action::Down || a == Action::PageUp || a == Action::PageDown || a == Action::Top ||
      a == Action::Bottom)
    follow_results_ = false;
  auto select = [&](int i) {
    int ns = std::clamp(i, 0, std::max(0, n - 1));
    if (ns != step_sel_) {
      step_sel_ = ns;
      detail_scroll_ = 0;
      show_hint_ = false;
    }
  };
  switch (a) {
    case Action::Up: if (lab_focus_ == 0) select(step_sel_ - 1); else detail_scroll_ = std::max(0, detail_scroll_ - 1); break;
    case Action::Down: if (lab_focus_ == 0) select(step_sel_ + 1); else detail_scroll_ = std::min(detail_max_scroll_, detail_scroll_ + 1); break;
    case Action::PageUp: if (lab_focus_ == 0) select(step_sel_ - page); else detail_scroll_ = std::max(0, detail_scroll_ - page); break;
    case Action::PageDown: if (lab_focus_ == 0) select(step_sel_ + page); else detail_scroll_ = std::min(detail_max_scroll_, detail_scroll_ + page); break;
    case Action::Top: if (lab_focus_ == 0) select(0); else detail_scroll_ = 0; break;
    case Action::Bottom: if (lab_focus_ == 0) select(n - 1); else detail_scroll_ = detail_max_scroll_; break;
    case Action::NextPane: case Action::PrevPane: lab_focus_ = 1 - lab_focus_; break;
    case Action::Right: lab_focus_ = 1; break;
    case Action::Left: lab_focus_ = 0; break;
    case Action::Open: case Action::Run: run_selected_step(); break;
    case Action::Hint: show_hint_ = !show_hint_; break;
    case Action::Tick: toggle_milestone(current_lab().milestone_id); break;
    case Action::Settings:
      if (const labs::Step* s = selected_step(); s && !s->params.empty()) {
        settings_step_ = s->id;
        settings_sel_ = 0;
        editing_ = false;
        settings_error_.clear();
        overlay_ = Overlay::Settings;
      } else {
        status_msg_ = "this step has no settings";
      }
      break;
    case Action::Back:
      // A running job carries on (its bar stays on the bottom row of every screen); q on the home
      // screen asks before quitting away from it.
      screen_ = Screen::Home;
      lab_sel_ = lab_idx_;
      status_msg_.clear();
      break;
    default: break;
  }
}

void App::render_lab(Grid& g) {
  const labs::Lab& lab = current_lab();
  const labs::LabText* lt = c_.lab(lab.id);
  auto steps = visible_steps(lab);
  int done = labs::steps_done(*env_.progress, lab);
  bool ms = labs::milestone_done(*env_.progress, lab.milestone_id);
  render_title(g, fmt::format("Lab {} · {}", lab.number, lt ? lt->title : lab.id),
               fmt::format("{} · {}/{} steps · milestone {}", lt ? lt->time : "", done, lab.steps.size(), ms ? "[x]" : "[ ]"));

  const int top = 1, bottom = h_ - 2;  // rows [top, bottom) for the panes; bottom row: progress/message
  // Narrow windows give the results pane the whole width while it has the focus (charts and tables
  // need the columns); wide ones keep both panes.
  const bool both = lab_focus_ == 0 || w_ >= 120;
  const int left_w = both ? std::clamp(w_ * 2 / 5, 30, 48) : 0;
  Rect sbox{0, top, left_w, bottom - top}, dbox{left_w, top, w_ - left_w, bottom - top};
  if (both) draw_box(g, sbox, *gl_, "Steps", lab_focus_ == 0 ? Style::Accent : Style::Frame);

  // Steps: [x] when a result is recorded, a marker on the running one.
  JobSnapshot snap = runner_.snapshot();
  std::vector<CheckItem> items;
  for (const auto* s : steps) {
    const labs::StepText* st = lt ? lt->step(s->id) : nullptr;
    std::string note;
    if (snap.running && snap.job_id == s->id) note = "running";
    else if (auto it = results_.find(s->id); it != results_.end() && it->second.outcome == labs::Outcome::NotAvailable) note = "n/a";
    else if (!s->job) note = "read";
    else if (s->resumable && checkpoint(s->id)) note = "stopped";  // an earlier run to continue
    items.push_back({st ? st->title : s->id, labs::step_done(*env_.progress, s->id), note});
  }
  Rect si = both ? sbox.inset(1) : Rect{};
  int sscroll = std::max(0, step_sel_ - si.h + 1);
  if (both) draw_checklist(g, si, items, step_sel_, lab_focus_ == 0, *gl_, sscroll);
  if (both && lt && si.h > static_cast<int>(items.size()) + 3) {
    // the lab's objective under the list, where there is room
    auto lines = wrap_text(lt->objective, si.w);
    int y = si.y + static_cast<int>(items.size()) + 1;
    for (std::size_t i = 0; i < lines.size() && y < si.y + si.h; ++i, ++y) g.put(si.x, y, lines[i], Style::Dim, si.w);
  }

  // Detail: the step's words, then its results, rendered into a tall grid and scrolled.
  const labs::Step* step = steps.empty() ? nullptr : steps[static_cast<std::size_t>(step_sel_)];
  const labs::StepText* st = (step && lt) ? lt->step(step->id) : nullptr;
  draw_box(g, dbox, *gl_, st ? st->title : "", lab_focus_ == 1 ? Style::Accent : Style::Frame);
  Rect di = dbox.inset(1);
  di.x += 1;
  di.w -= 2;
  std::vector<std::pair<std::string, Style>> lines;
  auto add_text = [&](const std::string& t, Style s) {
    for (auto& l : wrap_text(t, di.w)) lines.emplace_back(std::move(l), s);
  };
  if (st) add_text(st->body, Style::Normal);
  if (st && !st->hint.empty()) {
    lines.emplace_back("", Style::Normal);
    if (show_hint_) add_text("Hint: " + st->hint, Style::Accent);
    else add_text(fmt::format("(press {} for a hint)", key_label(Action::Hint, LabScreen)), Style::Dim);
  }
  std::vector<const labs::Block*> blocks;
  if (step) {
    if (!step->params.empty()) {
      lines.emplace_back("", Style::Normal);
      add_text(fmt::format("Settings ({} changes them): {}", key_label(Action::Settings, LabScreen), settings_summary(*step)),
               Style::Accent);
    }
    if (!(snap.running && snap.job_id == step->id) && step->resumable)
      if (const auto& cp = checkpoint(step->id)) {
        lines.emplace_back("", Style::Normal);
        add_text(fmt::format("An earlier run stopped at {} ({}). {} continues it with the same settings; changed "
                             "settings start over.",
                             cp->summary, cp->when, key_label(Action::Run, LabScreen)),
                 Style::Accent);
      }
  }
  lines.emplace_back("", Style::Normal);
  if (step) {
    auto it = results_.find(step->id);
    if (snap.running && snap.job_id == step->id) {
      add_text(c_.ui_text("running"), Style::Accent);
      if (snap.partial)
        for (const auto& b : snap.partial->blocks) blocks.push_back(&b);
    } else if (it != results_.end()) {
      const auto& r = it->second;
      switch (r.outcome) {
        case labs::Outcome::Done: for (const auto& b : r.blocks) blocks.push_back(&b); break;
        case labs::Outcome::NotAvailable: add_text(c_.ui_text("not_available") + " " + r.message, Style::Bad); break;
        case labs::Outcome::Cancelled:
          add_text(c_.ui_text(step->resumable ? "cancelled_resumable" : "cancelled"), Style::Accent);
          break;
        case labs::Outcome::Failed: add_text(c_.ui_text("failed") + " " + r.message, Style::Bad); break;
      }
    } else if (!step->job) {
      add_text(labs::step_done(*env_.progress, step->id)
                   ? "Marked as read."
                   : fmt::format("A step to read. Enter marks it read (it counts toward the steps done)."),
               Style::Dim);
    } else if (const labs::SavedResult* saved = labs::step_done(*env_.progress, step->id) ? saved_result(step->id) : nullptr) {
      // a finished step reopened after a restart: the numbers it drew then
      add_text(fmt::format("Saved result of the run of {} on the {} model. {} runs it again.", saved->when,
                           saved->model, key_label(Action::Run, LabScreen)),
               Style::Dim);
      for (const auto& b : saved->result.blocks) blocks.push_back(&b);
    } else if (const nlohmann::json* rec = env_.progress->result(step->id)) {
      add_text(fmt::format("Last run {} on the {} model (its drawing was not kept here). Press {} to run it again.",
                           labs::result_text(*rec, "when"), labs::result_text(*rec, "model"),
                           key_label(Action::Run, LabScreen)),
               Style::Dim);
    } else {
      add_text(fmt::format("Press {} (or Enter) to run this step.", key_label(Action::Run, LabScreen)), Style::Dim);
    }
  }
  const int results_start = static_cast<int>(lines.size()) - 1;
  int total = static_cast<int>(lines.size());
  for (const auto* b : blocks) total += block_height(*b, di.w) + 1;
  Grid tall(di.w, std::max(1, total));
  int y = 0;
  for (const auto& [t, s] : lines) tall.put(0, y++, t, s, di.w);
  for (const auto* b : blocks) {
    int bh = block_height(*b, di.w);
    draw_block(tall, Rect{0, y, di.w, bh}, *b, *gl_);
    y += bh + 1;
  }
  detail_max_scroll_ = std::max(0, total - di.h);
  if (follow_results_ && snap.running && step && snap.job_id == step->id) scroll_to_results_ = true;
  if (scroll_to_results_) {
    detail_scroll_ = results_start;
    scroll_to_results_ = false;
  }
  detail_scroll_ = std::clamp(detail_scroll_, 0, detail_max_scroll_);
  g.blit(tall, detail_scroll_, di.x, di.y, di.h);
  if (detail_max_scroll_ > 0) {
    std::string more = fmt::format(" {}/{} ", detail_scroll_ + 1, detail_max_scroll_ + 1);
    g.put(dbox.x + dbox.w - text_width(more) - 2, dbox.y + dbox.h - 1, more, Style::Dim);
  }
}

}  // namespace qlab::tui
