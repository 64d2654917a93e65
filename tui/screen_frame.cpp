// The frame around every screen: the title and status lines, the running job's row, the notice of a
// window too small (and the only keys that work there), the confirmations, the ASCII fallback.
#include <fmt/format.h>

#include "tui/app.h"
#include "tui/widgets.h"

namespace qlab::tui {

void App::too_small_key(int k) {
  if (k == key::CtrlL) {
    redraw_ = true;
    return;
  }
  // Everything else waits for a window the screens fit in; only quitting works here, and quitting
  // away from a running job asks first.
  if (too_small_quit_asked_) {
    too_small_quit_asked_ = false;
    if (k == 'y' || k == 'Y') {
      runner_.cancel();
      quit_ = true;
    }
    return;
  }
  if (k == 'q') {
    if (runner_.running()) too_small_quit_asked_ = true;
    else quit_ = true;
  }
}

void App::render_title(Grid& g, const std::string& left, const std::string& right) {
  g.fill(g.area().row(0), U' ', Style::Status);
  int rw = text_width(right);
  g.put(1, 0, truncate(left, w_ - rw - 3, gl_->ellipsis), Style::Status);
  g.put(w_ - rw - 1, 0, right, Style::Status);
}

void App::render_status(Grid& g) {
  int y = h_ - 1;
  g.fill(g.area().row(y), U' ', Style::Status);
  g.put(1, y, status_line(context(), w_ - 2), Style::Status, w_ - 2);
}

// The row above the status line: the running job (on every screen, so leaving a lab does not hide
// it), else the last message.
void App::render_job_row(Grid& g, int y) {
  Rect prow{1, y, w_ - 2, 1};
  const JobSnapshot snap = runner_.snapshot();
  if (snap.running) {
    const bool here = screen_ == Screen::Lab && current_lab().find(snap.job_id);
    std::string label = snap.label.empty() ? job_title(snap.job_id) : snap.label;
    if (!here) label = job_title(snap.job_id) + ": " + label;
    if (env_.device.gpu) label += " · GPU";  // its model passes run there (JobContext::device)
    ProgressView pv{snap.fraction, label, snap.rate, snap.eta_s, snap.elapsed_s, snap.cancel_requested};
    draw_progress(g, prow, pv, *gl_);
  } else if (!status_msg_.empty()) {
    g.put_clipped(prow, prow.y, status_msg_, Style::Accent, gl_->ellipsis);
  }
}

void App::render_too_small(Grid& g) {
  g.clear();
  std::vector<std::pair<std::string, Style>> lines = {
      {fmt::format("Window too small: {}x{}", w_, h_), Style::Bad},
      {fmt::format("qlab needs at least {}x{}.", kMinWidth, kMinHeight), Style::Normal}};
  const JobSnapshot snap = runner_.snapshot();
  if (snap.running) {
    lines.emplace_back(fmt::format("Running: {}{}", job_title(snap.job_id),
                                   snap.fraction >= 0 ? fmt::format(", {:.0f}%", 100 * snap.fraction) : std::string()),
                       Style::Accent);
    if (too_small_quit_asked_)
      lines.emplace_back("Cancel it and quit? y: yes, any other key: no.", Style::Bad);
    else
      lines.emplace_back("Make the window larger to follow it; q asks to cancel it and quit.", Style::Normal);
  } else {
    lines.emplace_back("Make the window larger, or press q to quit.", Style::Normal);
  }
  int rows = 0;
  for (const auto& l : lines) rows += static_cast<int>(wrap_text(l.first, std::max(1, w_)).size());
  int top = std::max(0, (h_ - rows) / 2);
  for (const auto& [text, style] : lines) {
    // narrow windows get the words wrapped, never cut mid-sentence when there is room to wrap
    for (const auto& l : wrap_text(text, std::max(1, w_))) {
      if (top >= h_) break;
      g.put(std::max(0, (w_ - text_width(l)) / 2), top++, l, style);
    }
  }
}

void App::ascii_fallback(Grid& g) const {
  for (int y = 0; y < g.height(); ++y)
    for (int x = 0; x < g.width(); ++x) {
      char32_t c = g.at(x, y).ch;
      if (c < 0x80) continue;
      char32_t r = U'?';
      switch (c) {
        case U'↑': r = U'^'; break;
        case U'↓': r = U'v'; break;
        case U'←': r = U'<'; break;
        case U'→': r = U'>'; break;
        case U'…': r = U'~'; break;
        case U'×': r = U'x'; break;
        case U'≈': r = U'~'; break;
        case U'≥': r = U'>'; break;
        case U'≤': r = U'<'; break;
        case U'—': case U'–': case U'−': r = U'-'; break;
        case U'‘': case U'’': r = U'\''; break;
        case U'“': case U'”': r = U'"'; break;
        case U'·': case U'•': r = U'*'; break;
        case U'µ': r = U'u'; break;
        default: break;
      }
      g.set(x, y, r, g.at(x, y).style);
    }
}

void App::render_confirm(Grid& g) {
  std::string title, body;
  switch (confirm_) {
    case Confirm::Quit:
      title = "Quit?";
      body = c_.ui_text("confirm_quit");
      break;
    case Confirm::CancelJob: {
      const JobSnapshot snap = runner_.snapshot();
      const labs::Step* s = nullptr;
      for (const auto& l : labs::all_labs())
        if (const labs::Step* f = l.find(confirm_subject_)) s = f;
      title = "Cancel the job?";
      body = fmt::format("{} has been running for {}.", job_title(confirm_subject_), format_duration(snap.elapsed_s));
      body += s && s->resumable ? " Its progress so far is kept (each part it has finished): r continues it later."
                                : " What it has done so far is lost.";
      break;
    }
    case Confirm::Untick: {
      const labs::MilestoneText* mt = c_.milestone(confirm_subject_);
      const auto st = env_.progress->milestone(confirm_subject_);
      title = "Untick the milestone?";
      body = fmt::format("\"{}\" is done ({} {}). Untick it?", mt ? mt->text : confirm_subject_,
                         st && st->how == "completed" ? "completed by its jobs" : "ticked by hand", st ? st->when : "");
      break;
    }
  }
  draw_dialog(g, title, body, "y: yes   any other key: no", *gl_);
}

}  // namespace qlab::tui
