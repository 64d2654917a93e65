// Home: the module map (labs with time and status), the eight milestones, overall progress, the
// model and the machine.
#include <algorithm>

#include <fmt/format.h>

#include "engine/core/threads.h"
#include "labs/milestones.h"
#include "tui/app.h"
#include "tui/widgets.h"

namespace qlab::tui {

void App::home_key(Action a) {
  const int nlabs = static_cast<int>(labs::all_labs().size());
  int& sel = home_focus_ == 0 ? lab_sel_ : ms_sel_;
  switch (a) {
    case Action::Up: sel = std::max(0, sel - 1); break;
    case Action::Down: sel = std::min(nlabs - 1, sel + 1); break;
    case Action::Top: sel = 0; break;
    case Action::Bottom: sel = nlabs - 1; break;
    case Action::NextPane: case Action::PrevPane:
      home_focus_ = 1 - home_focus_;
      // the two lists line up: lab N and milestone N are the same row
      if (home_focus_ == 1) ms_sel_ = lab_sel_; else lab_sel_ = ms_sel_;
      break;
    case Action::Right: if (home_focus_ == 0) { home_focus_ = 1; ms_sel_ = lab_sel_; } break;
    case Action::Left: if (home_focus_ == 1) { home_focus_ = 0; lab_sel_ = ms_sel_; } break;
    case Action::Open: open_lab(home_focus_ == 0 ? lab_sel_ : ms_sel_); break;
    case Action::Tick: toggle_milestone(labs::all_labs()[static_cast<std::size_t>(home_focus_ == 1 ? ms_sel_ : lab_sel_)].milestone_id); break;
    case Action::Path: cycle_path(); break;
    case Action::Back:
      if (runner_.running()) ask(Confirm::Quit, "");
      else quit_ = true;
      break;
    default: break;
  }
}

// Where the work happens, as the jobs will see it (JobContext::device): a detected GPU's FP4 support
// is no promise that the labs use it, so this says what runs where, not what the hardware has.
std::string App::jobs_where() const {
  const std::string threads = fmt::format("{} thread{}", thread_count(), thread_count() == 1 ? "" : "s");
  if (device_future_.valid()) return "jobs run on the CPU, " + threads + " (looking for a GPU…)";
  if (env_.device.gpu) return "jobs run on the GPU (" + env_.device.gpu_name + ") and " + threads + " of the CPU";
  const std::string why = env_.device.fallback.empty() ? "" : " (GPU not used: " + env_.device.fallback + ")";
  return "jobs run on the CPU, " + threads + why;
}

void App::render_home(Grid& g) {
  const auto& labs_list = labs::all_labs();
  const labs::StudyPath* p = path();
  render_title(g, "qlab · " + c_.module_title, p ? "path: " + p->name : "");
  g.put_clipped(Rect{1, 1, w_ - 2, 1}, 1, "Model: " + env_.model.display + " · " + jobs_where(), Style::Normal,
                gl_->ellipsis);
  // The machine line may take two rows (row 3 is otherwise a spacer).
  auto mlines = wrap_text("Machine: " + (env_.machine.empty() ? std::string("?") : env_.machine.front()), w_ - 2);
  for (std::size_t i = 0; i < mlines.size() && i < 2; ++i)
    g.put_clipped(Rect{1, 2 + static_cast<int>(i), w_ - 2, 1}, 2 + static_cast<int>(i),
                  i == 1 && mlines.size() > 2 ? mlines[i] + "…" : mlines[i], Style::Normal, gl_->ellipsis);

  const int n = static_cast<int>(labs_list.size());
  const int box_h = n + 3;  // frame + header + rows
  const int left_w = std::min(54, w_ * 6 / 10);
  Rect lbox{0, 4, left_w, box_h}, mbox{left_w, 4, w_ - left_w, box_h};
  draw_box(g, lbox, *gl_, "Labs", home_focus_ == 0 ? Style::Accent : Style::Frame);
  draw_box(g, mbox, *gl_, "Milestones", home_focus_ == 1 ? Style::Accent : Style::Frame);

  // Labs table: number, title, time, steps done, and where the study path puts it.
  Rect inner = lbox.inset(1);
  int title_w = inner.w - 2 - 3 - 7 - 6 - 6;
  g.put(inner.x + 2, inner.y, fmt::format("{:<3}{:<{}} {:>6} {:>5} {}", "#", "lab", title_w, "time", "steps", "path"),
        Style::Title, inner.w - 2);
  int total_steps = 0, total_done = 0;
  for (int i = 0; i < n && i + 1 < inner.h; ++i) {
    const auto& lab = labs_list[static_cast<std::size_t>(i)];
    const labs::LabText* lt = c_.lab(lab.id);
    int done = labs::steps_done(*env_.progress, lab);
    total_steps += static_cast<int>(lab.steps.size());
    total_done += done;
    const labs::PathEntry* pe = p ? p->entry(lab.id) : nullptr;
    std::string where = !p ? "" : !pe ? "skip" : pe->optional ? "maybe" : pe->steps.empty() ? "all" : "part";
    bool sel = i == lab_sel_;
    Style s = sel && home_focus_ == 0 ? Style::Selected : (pe || !p ? Style::Normal : Style::Dim);
    Rect row = inner.row(i + 1);
    g.fill(row, U' ', s);
    if (sel) g.set(row.x, row.y, gl_->bullet, s);
    std::string title = truncate(lt ? lt->title : lab.id, title_w, gl_->ellipsis);
    std::string line = fmt::format("{:<3}{}", lab.number, title);
    int used = g.put(row.x + 2, row.y, line, s, row.w - 2);
    (void)used;
    std::string right = fmt::format("{:>6} {:>5} {}", lt ? lt->time : "", fmt::format("{}/{}", done, lab.steps.size()), where);
    g.put(row.x + 2 + 3 + title_w + 1, row.y, right, s, row.w - (2 + 3 + title_w + 1));
  }

  // Milestones, one per lab, on the same rows.
  std::vector<CheckItem> items;
  for (const auto& lab : labs_list) {
    const labs::MilestoneText* mt = c_.milestone(lab.milestone_id);
    auto st = env_.progress->milestone(lab.milestone_id);
    items.push_back({mt ? mt->text : lab.milestone_id, st && st->done, st && st->done && st->how == "ticked" ? "ticked" : ""});
  }
  Rect mi = mbox.inset(1);
  g.put(mi.x + 1, mi.y, "done", Style::Title, mi.w - 1);
  draw_checklist(g, Rect{mi.x, mi.y + 1, mi.w, mi.h - 1}, items, ms_sel_, home_focus_ == 1, *gl_);

  // Overall progress.
  int y = lbox.y + lbox.h;
  int ms_done = labs::milestones_done(*env_.progress);
  ProgressView pv;
  pv.fraction = static_cast<double>(ms_done) / static_cast<double>(n);
  std::string overall = fmt::format("Milestones {}/{} · steps {}/{}", ms_done, n, total_done, total_steps);
  g.put(1, y, overall, Style::Heading, w_ - 2);
  int bar_x = 2 + text_width(overall) + 1;
  int bar_w = std::min(30, w_ - bar_x - 2);
  if (bar_w > 4) {
    double cells = pv.fraction * bar_w;
    for (int i = 0; i < bar_w; ++i)
      g.set(bar_x + i, y, i < static_cast<int>(cells) ? gl_->hbar[8] : gl_->bar_empty, i < static_cast<int>(cells) ? Style::Good : Style::Dim);
  }
  ++y;

  // The selected lab in a few words, and the path's note for it.
  const auto& lab = labs_list[static_cast<std::size_t>(home_focus_ == 0 ? lab_sel_ : ms_sel_)];
  const labs::LabText* lt = c_.lab(lab.id);
  std::string about;
  if (lt) about = fmt::format("Lab {}: {}. {}", lab.number, lt->focus, lt->deliverable.empty() ? "" : "Deliverable: " + lt->deliverable + ".");
  const labs::PathEntry* pe = p ? p->entry(lab.id) : nullptr;
  if (p) about += pe ? (pe->note.empty() ? "" : " " + p->name + " path: " + pe->note) : " The " + p->name + " path skips this lab.";
  auto lines = wrap_text(about, w_ - 2);
  // (the row above the status line is the running job's or the last message's)
  for (std::size_t i = 0; i < lines.size() && y + 1 < h_ - 2; ++i) g.put(1, ++y, lines[i], Style::Normal, w_ - 2);
  // The module's introduction and its corrections live behind a key the status line may not fit.
  if (y + 2 < h_ - 2)
    g.put(1, y + 2, fmt::format("{}: the module's introduction, and where it is wrong or dated.",
                                key_label(Action::Module, Home)),
          Style::Dim, w_ - 2);
}

}  // namespace qlab::tui
