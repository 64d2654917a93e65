// The App core: event dispatch, jobs, progress saving, the frame around every screen.
#include "tui/app.h"

#include <signal.h>

#include <algorithm>

#include <fmt/format.h>

#include "labs/milestones.h"
#include "tui/widgets.h"

namespace qlab::tui {

App::App(AppEnv env)
    : env_(std::move(env)), c_(*env_.content), gl_(&glyphs(env_.glyph_set)) {
  // The study path and the last lab come back from the progress file.
  const auto& d = env_.progress->data();
  if (auto s = d.find("settings"); s != d.end() && s->is_object() && s->contains("path") && (*s)["path"].is_string())
    for (std::size_t i = 0; i < c_.paths.size(); ++i)
      if (c_.paths[i].id == (*s)["path"].get<std::string>()) path_idx_ = i;
  if (path_idx_ >= c_.paths.size()) path_idx_ = 0;
  if (auto l = d.find("last"); l != d.end() && l->is_object() && l->contains("lab") && (*l)["lab"].is_string()) {
    const auto& labs = labs::all_labs();
    for (std::size_t i = 0; i < labs.size(); ++i)
      if (labs[i].id == (*l)["lab"].get<std::string>()) lab_sel_ = static_cast<int>(i);
  }
  if (env_.detect_machine) {
    if (env_.machine.empty()) env_.machine = {"detecting…"};
    sigset_t block, old;
    sigfillset(&block);
    pthread_sigmask(SIG_BLOCK, &block, &old);  // the thread inherits it: signals stay with the UI thread
    machine_future_ = std::async(std::launch::async, env_.detect_machine);
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
  }
  for (const auto& n : env_.notices) dialogs_.emplace_back("Notice", n);
  for (const auto& n : env_.progress->take_notices()) dialogs_.emplace_back("Progress file", n);
  if (!dialogs_.empty()) overlay_ = Overlay::Dialog;
}

App::~App() { shutdown(); }

void App::resize(int w, int h) {
  w_ = std::max(1, w);
  h_ = std::max(1, h);
}

unsigned App::context() const {
  if (overlay_ == Overlay::Quiz) return QuizScreen;
  if (overlay_ != Overlay::None) return OverlayCtx;
  return screen_ == Screen::Home ? Home : LabScreen;
}

std::string App::screen_name() const {
  switch (overlay_) {
    case Overlay::Help: return "help";
    case Overlay::Glossary: return "glossary";
    case Overlay::Quiz: return "quiz";
    case Overlay::Diagnostics: return "diagnostics";
    case Overlay::Dialog: return "dialog";
    case Overlay::Input: return "input";
    case Overlay::ConfirmQuit: return "confirm-quit";
    case Overlay::None: break;
  }
  return screen_ == Screen::Home ? "home" : current_lab().id;
}

void App::handle_key(int k) {
  if (k == key::Resize) return;
  // Text entry takes every printable key, h/j/k/l included: they are letters there, not movement.
  if (overlay_ == Overlay::Input) {
    if (k == key::Enter) {
      overlay_ = Overlay::None;
      start_step(input_step_, input_text_);
    } else if (k == key::Esc) {
      overlay_ = Overlay::None;
    } else if (k == key::Backspace || k == 127 || k == 8) {
      if (!input_text_.empty()) input_text_.pop_back();
    } else if (k >= 0x20 && k < 0x7f && input_text_.size() < 40) {
      input_text_ += static_cast<char>(k);
    }
    return;
  }
  if (overlay_ == Overlay::ConfirmQuit) {
    if (k == 'y' || k == 'Y' || k == 'q') {
      runner_.cancel();
      quit_ = true;
    }
    overlay_ = Overlay::None;
    return;
  }
  unsigned ctx = context();
  Action a = action_for(k, ctx);
  dispatch(a, k);
}

void App::dispatch(Action a, int k) {
  if (a == Action::Redraw) {
    redraw_ = true;
    return;
  }
  if (a == Action::Help && overlay_ != Overlay::Help && overlay_ != Overlay::Dialog) {
    overlay_ = Overlay::Help;
    overlay_scroll_ = 0;
    return;
  }
  if (overlay_ != Overlay::None) {
    overlay_key(a, k);
    return;
  }
  if (a == Action::Cancel && runner_.running()) {
    runner_.cancel();
    return;
  }
  switch (a) {
    case Action::Glossary: overlay_ = Overlay::Glossary; overlay_scroll_ = 0; return;
    case Action::Diagnostics: overlay_ = Overlay::Diagnostics; overlay_scroll_ = 0; return;
    case Action::Quiz:
      overlay_ = Overlay::Quiz;
      quiz_idx_ = 0; quiz_choice_ = -1; quiz_score_ = 0; quiz_answered_ = 0;
      return;
    default: break;
  }
  if (screen_ == Screen::Home) home_key(a);
  else lab_key(a);
}

void App::overlay_key(Action a, int k) {
  if (overlay_ == Overlay::Dialog) {
    if (a == Action::Cancel || a == Action::Back || a == Action::Open || a == Action::Help) {
      if (!dialogs_.empty()) dialogs_.erase(dialogs_.begin());
      if (dialogs_.empty()) overlay_ = Overlay::None;
    }
    return;
  }
  if (overlay_ == Overlay::Quiz) {
    int n = static_cast<int>(c_.quiz.size());
    if (a == Action::Back || a == Action::Cancel) { overlay_ = Overlay::None; return; }
    if (quiz_idx_ >= n) return;
    const auto& item = c_.quiz[static_cast<std::size_t>(quiz_idx_)];
    int nch = static_cast<int>(item.choices.size());
    if (quiz_choice_ < 0) {
      if (a == Action::Answer) {
        int pick = k - '1';
        if (pick >= 0 && pick < nch) {
          quiz_choice_ = pick;
          ++quiz_answered_;
          if (pick == item.answer) ++quiz_score_;
        }
      }
    } else if (a == Action::Open || a == Action::Right || a == Action::Down || a == Action::PageDown) {
      ++quiz_idx_;
      quiz_choice_ = -1;
    }
    return;
  }
  if (a == Action::Back || a == Action::Cancel || (a == Action::Help && overlay_ == Overlay::Help)) {
    overlay_ = Overlay::None;
    return;
  }
  int page = std::max(1, h_ - 6);
  int* pos = overlay_ == Overlay::Glossary ? &gloss_sel_ : &overlay_scroll_;
  int maxpos = overlay_ == Overlay::Glossary ? static_cast<int>(c_.glossary.size()) - 1 : overlay_max_scroll_;
  switch (a) {
    case Action::Up: --*pos; break;
    case Action::Down: ++*pos; break;
    case Action::PageUp: *pos -= page; break;
    case Action::PageDown: *pos += page; break;
    case Action::Top: *pos = 0; break;
    case Action::Bottom: *pos = maxpos; break;
    default: break;
  }
  *pos = std::clamp(*pos, 0, std::max(0, maxpos));
  if (overlay_ == Overlay::Glossary) overlay_scroll_ = 0;
}

void App::show_dialog(const std::string& title, const std::string& body) {
  dialogs_.emplace_back(title, body);
  overlay_ = Overlay::Dialog;
}

void App::save_progress() {
  try {
    env_.progress->save();
  } catch (const std::exception& e) {
    show_dialog("Progress not saved", e.what());
  }
  for (const auto& n : env_.progress->take_notices()) show_dialog("Progress file", n);
}

void App::toggle_milestone(const std::string& id) {
  bool done = labs::milestone_done(*env_.progress, id);
  env_.progress->set_milestone(id, !done, "ticked");
  save_progress();
}

void App::cycle_path() {
  if (c_.paths.empty()) return;
  path_idx_ = (path_idx_ + 1) % c_.paths.size();
  // the chosen path is kept with the progress (a setting that travels with the milestones)
  env_.progress->set_setting("path", c_.paths[path_idx_].id);
  save_progress();
}

const labs::StudyPath* App::path() const {
  return path_idx_ < c_.paths.size() ? &c_.paths[path_idx_] : nullptr;
}

const labs::Lab& App::current_lab() const { return labs::all_labs()[static_cast<std::size_t>(lab_idx_)]; }

std::vector<const labs::Step*> App::visible_steps(const labs::Lab& lab) const {
  std::vector<const labs::Step*> out;
  const labs::PathEntry* e = path() ? path()->entry(lab.id) : nullptr;
  for (const auto& s : lab.steps)
    if (!e || e->steps.empty() || std::find(e->steps.begin(), e->steps.end(), s.id) != e->steps.end())
      out.push_back(&s);
  return out;
}

void App::open_lab(int index) {
  lab_idx_ = std::clamp(index, 0, static_cast<int>(labs::all_labs().size()) - 1);
  screen_ = Screen::Lab;
  step_sel_ = 0;
  lab_focus_ = 0;
  detail_scroll_ = 0;
  show_hint_ = false;
  const auto& lab = current_lab();
  const auto& d = env_.progress->data();
  if (auto l = d.find("last"); l != d.end() && l->value("lab", "") == lab.id) {
    auto steps = visible_steps(lab);
    for (std::size_t i = 0; i < steps.size(); ++i)
      if (steps[i]->id == l->value("step", "")) step_sel_ = static_cast<int>(i);
  }
}

void App::run_selected_step() {
  auto steps = visible_steps(current_lab());
  if (steps.empty()) return;
  const labs::Step* s = steps[static_cast<std::size_t>(step_sel_)];
  if (runner_.running()) {
    status_msg_ = "a job is already running (Esc cancels it)";
    return;
  }
  if (!s->job) {
    status_msg_ = "this step is reading only: nothing to run";
    return;
  }
  if (s->asks_input) {
    input_step_ = s->id;
    input_text_.clear();
    overlay_ = Overlay::Input;
    return;
  }
  start_step(s->id, "");
}

void App::start_step(const std::string& step_id, const std::string& input) {
  const labs::Lab& lab = current_lab();
  const labs::Step* s = lab.find(step_id);
  if (!s) return;
  labs::JobContext ctx{env_.model, input, [r = &runner_](labs::StepResult p) { r->set_partial(std::move(p)); }};
  labs::JobFn job = s->job;
  bool ok = runner_.start(step_id, [job, ctx](Progress& p, std::stop_token st) { return job(ctx, p, st); });
  if (ok) {
    status_msg_.clear();
    results_.erase(step_id);
    lab_focus_ = 1;
    detail_scroll_ = 0;
  }
}

void App::job_finished(FinishedJob f) {
  const labs::Lab* lab = nullptr;
  for (const auto& l : labs::all_labs())
    if (l.find(f.job_id)) lab = &l;
  if (!lab) return;
  switch (f.result.outcome) {
    case labs::Outcome::Done: {
      bool completed = labs::record_step(*env_.progress, *lab, f.job_id, f.result, env_.model);
      save_progress();
      status_msg_ = fmt::format("done in {}", format_duration(f.elapsed_s));
      if (completed) {
        const labs::MilestoneText* mt = c_.milestone(lab->milestone_id);
        show_dialog(c_.ui_text("milestone_title"),
                    fmt::format("{}\n\n{}", mt ? mt->text : lab->milestone_id, c_.ui_text("milestone_body")));
      }
      break;
    }
    case labs::Outcome::Cancelled: status_msg_ = "cancelled: nothing was recorded"; break;
    case labs::Outcome::NotAvailable: status_msg_ = "not available in this build"; break;
    case labs::Outcome::Failed:
      show_dialog(c_.ui_text("error_title"), f.result.message);
      status_msg_ = "the step failed (see the message)";
      break;
  }
  results_[f.job_id] = std::move(f.result);
  // bring the fresh results into view when the learner is looking at that step
  auto steps = visible_steps(current_lab());
  if (screen_ == Screen::Lab && !steps.empty() && steps[static_cast<std::size_t>(step_sel_)]->id == f.job_id)
    scroll_to_results_ = true;
}

bool App::tick() {
  if (machine_future_.valid() &&
      machine_future_.wait_for(std::chrono::seconds(0)) == std::future_status::ready) {
    try {
      env_.machine = machine_future_.get();
    } catch (const std::exception& e) {
      env_.machine = {std::string("hardware detection failed: ") + e.what()};
    }
    return true;
  }
  if (auto f = runner_.take_finished()) {
    job_finished(std::move(*f));
    return true;
  }
  return runner_.running();
}

bool App::wait_job(int timeout_ms) {
  bool idle = runner_.wait_idle(std::chrono::milliseconds(timeout_ms));
  tick();
  return idle;
}

bool App::shutdown() {
  if (shut_down_) return !runner_.running();
  shut_down_ = true;
  runner_.cancel();
  const bool stopped = runner_.wait_idle(kJobStopWait);
  if (auto f = runner_.take_finished(); f && f->result.outcome == labs::Outcome::Done) job_finished(std::move(*f));
  try {
    env_.progress->save();
  } catch (const std::exception&) {
    // the terminal may be gone; nothing more can be done without a screen
  }
  return stopped;
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

void App::render_too_small(Grid& g) {
  g.clear();
  std::vector<std::string> lines = {
      fmt::format("Window too small: {}x{}", w_, h_),
      fmt::format("qlab needs at least {}x{}.", kMinWidth, kMinHeight),
      "Make the window larger, or press q to quit."};
  int top = std::max(0, (h_ - 3) / 2);
  for (std::size_t i = 0; i < lines.size(); ++i) {
    // narrow windows get the words wrapped, never cut mid-sentence when there is room to wrap
    auto wrapped = wrap_text(lines[i], std::max(1, w_));
    for (const auto& l : wrapped) {
      if (top >= h_) break;
      g.put(std::max(0, (w_ - text_width(l)) / 2), top++, l, i == 0 ? Style::Bad : Style::Normal);
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

void App::render(Grid& g) {
  g.resize(w_, h_);
  g.clear();
  if (w_ < kMinWidth || h_ < kMinHeight) {
    render_too_small(g);
    return;
  }
  if (screen_ == Screen::Home) render_home(g);
  else render_lab(g);
  switch (overlay_) {
    case Overlay::Help: render_help(g); break;
    case Overlay::Glossary: render_glossary(g); break;
    case Overlay::Quiz: render_quiz(g); break;
    case Overlay::Diagnostics: render_diagnostics(g); break;
    case Overlay::Dialog:
      if (!dialogs_.empty())
        draw_dialog(g, dialogs_.front().first, dialogs_.front().second, "Enter or Esc: close", *gl_);
      break;
    case Overlay::Input: {
      const labs::LabText* lt = c_.lab(current_lab().id);
      const labs::StepText* st = lt ? lt->step(input_step_) : nullptr;
      std::string prompt = st ? st->input_prompt : "Input:";
      draw_dialog(g, st ? st->title : "Input", prompt + "\n\n> " + input_text_ + "_", "Enter: run   Esc: cancel", *gl_);
      break;
    }
    case Overlay::ConfirmQuit:
      draw_dialog(g, "Quit?", c_.ui_text("confirm_quit"), "y: quit   any other key: stay", *gl_);
      break;
    case Overlay::None: break;
  }
  render_status(g);
  if (gl_->set == GlyphSet::Ascii) ascii_fallback(g);
}

}  // namespace qlab::tui
