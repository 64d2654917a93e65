// The App core: event dispatch, jobs and their results, progress saving, and render() that puts a
// screen, its overlays and the frame (screen_frame.cpp) together.
#include "tui/app.h"

#include <signal.h>

#include <algorithm>

#include <fmt/format.h>

#include "labs/milestones.h"
#include "tui/widgets.h"

namespace qlab::tui {

namespace {
// A detection thread with every signal blocked (it inherits the mask): signals stay with the UI thread.
template <class F>
auto async_without_signals(const F& f) {
  sigset_t block, old;
  sigfillset(&block);
  pthread_sigmask(SIG_BLOCK, &block, &old);
  auto fut = std::async(std::launch::async, f);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  return fut;
}
}  // namespace

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
    machine_future_ = async_without_signals(env_.detect_machine);
  }
  if (env_.choose_device) device_future_ = async_without_signals(env_.choose_device);
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
  if (too_small()) return "too-small";
  switch (overlay_) {
    case Overlay::Help: return "help";
    case Overlay::Glossary: return "glossary";
    case Overlay::Quiz: return "quiz";
    case Overlay::Diagnostics: return "diagnostics";
    case Overlay::Dialog: return "dialog";
    case Overlay::Input: return "input";
    case Overlay::Settings: return "settings";
    case Overlay::Module: return "module";
    case Overlay::Confirm:
      switch (confirm_) {
        case Confirm::Quit: return "confirm-quit";
        case Confirm::CancelJob: return "confirm-cancel";
        case Confirm::Untick: return "confirm-untick";
      }
      break;
    case Overlay::None: break;
  }
  return screen_ == Screen::Home ? "home" : current_lab().id;
}

std::string App::job_title(const std::string& step_id) const {
  for (const auto& lab : labs::all_labs())
    if (lab.find(step_id)) {
      const labs::LabText* lt = c_.lab(lab.id);
      const labs::StepText* st = lt ? lt->step(step_id) : nullptr;
      return fmt::format("Lab {} · {}", lab.number, st ? st->title : step_id);
    }
  return step_id;
}

void App::handle_key(int k) {
  if (k == key::Resize) return;
  if (too_small()) {
    too_small_key(k);
    return;
  }
  too_small_quit_asked_ = false;
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
  // A confirmation takes y as yes and any other key as no: a stray key (the rest of an escape
  // sequence that arrived late) can only keep things as they are.
  if (overlay_ == Overlay::Confirm) {
    overlay_ = dialogs_.empty() ? Overlay::None : Overlay::Dialog;
    if (k == 'y' || k == 'Y') confirmed(confirm_);
    return;
  }
  if (overlay_ == Overlay::Settings && editing_) {
    settings_key(Action::None, k);
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
    request_cancel();
    return;
  }
  switch (a) {
    case Action::Glossary: overlay_ = Overlay::Glossary; overlay_scroll_ = 0; return;
    case Action::Diagnostics: overlay_ = Overlay::Diagnostics; overlay_scroll_ = 0; return;
    case Action::Module: overlay_ = Overlay::Module; overlay_scroll_ = 0; return;
    case Action::Quiz: open_quiz(); return;
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
    quiz_key(a, k);
    return;
  }
  if (overlay_ == Overlay::Settings) {
    settings_key(a, k);
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

void App::ask(Confirm what, std::string subject) {
  confirm_ = what;
  confirm_subject_ = std::move(subject);
  overlay_ = Overlay::Confirm;
}

void App::confirmed(Confirm what) {
  switch (what) {
    case Confirm::Quit:
      runner_.cancel();
      quit_ = true;
      break;
    case Confirm::CancelJob: runner_.cancel(); break;
    case Confirm::Untick:
      env_.progress->set_milestone(confirm_subject_, false, "ticked");
      save_progress();
      break;
  }
}

void App::request_cancel() {
  const JobSnapshot snap = runner_.snapshot();
  if (!snap.running || snap.cancel_requested) return;
  if (snap.elapsed_s < env_.ask_before_cancel_s) runner_.cancel();
  else ask(Confirm::CancelJob, snap.job_id);
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
  // Ticking is one key; unticking a milestone (perhaps completed by an hour of jobs) asks first.
  if (labs::milestone_done(*env_.progress, id)) {
    ask(Confirm::Untick, id);
    return;
  }
  env_.progress->set_milestone(id, true, "ticked");
  save_progress();
}

void App::mark_read(const labs::Step& s) {
  labs::StepResult r;
  r.record = {{"read", true}};
  labs::record_step(*env_.progress, current_lab(), s.id, r, env_.model);
  save_progress();
  status_msg_ = "marked as read";
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

const labs::Step* App::selected_step() const {
  auto steps = visible_steps(current_lab());
  if (steps.empty()) return nullptr;
  return steps[static_cast<std::size_t>(std::clamp(step_sel_, 0, static_cast<int>(steps.size()) - 1))];
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
  const labs::Step* s = selected_step();
  if (!s) return;
  if (runner_.running()) {
    status_msg_ = "a job is already running (Esc cancels it)";
    return;
  }
  if (!s->job) {
    mark_read(*s);
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

std::filesystem::path App::out_dir(const std::string& step_id) const {
  return env_.runs_dir.empty() ? std::filesystem::path() : labs::step_output_dir(env_.runs_dir, env_.model, step_id);
}

void App::start_step(const std::string& step_id, const std::string& input) {
  const labs::Lab& lab = current_lab();
  const labs::Step* s = lab.find(step_id);
  if (!s) return;
  take_device();
  labs::JobContext ctx;
  ctx.model = env_.model;
  ctx.device = env_.device;
  ctx.input = input;
  ctx.partial = [r = &runner_](labs::StepResult p) { r->set_partial(std::move(p)); };
  ctx.params = chosen_params(step_id);
  ctx.out_dir = out_dir(step_id);
  ctx.builtin_dir = env_.builtin_dir;
  if (runner_.start(step_id, *s, std::move(ctx))) {
    status_msg_.clear();
    results_.erase(step_id);
    lab_focus_ = 1;
    detail_scroll_ = 0;
    scroll_to_results_ = true;  // the live results (a loss curve) in view, not the words above them
    follow_results_ = true;
  }
}

void App::job_finished(FinishedJob f) {
  const labs::Lab* lab = nullptr;
  for (const auto& l : labs::all_labs())
    if (l.find(f.job_id)) lab = &l;
  if (!lab) return;
  checkpoints_.erase(f.job_id);
  const labs::Step* step = lab->find(f.job_id);
  switch (f.result.outcome) {
    case labs::Outcome::Done: {
      bool completed = labs::record_step(*env_.progress, *lab, f.job_id, f.result, env_.model);
      save_progress();
      status_msg_ = fmt::format("{}: done in {}", job_title(f.job_id), format_duration(f.elapsed_s));
      const nlohmann::json* rec = env_.progress->result(f.job_id);
      if (const auto dir = out_dir(f.job_id); !dir.empty() && !f.result.blocks.empty()) {
        try {
          labs::save_result(dir, f.job_id, f.result, env_.model, rec ? labs::result_text(*rec, "when") : labs::utc_now_iso());
        } catch (const std::exception& e) {
          status_msg_ += fmt::format(" (the drawn result was not kept: {})", e.what());
        }
      }
      saved_.erase(f.job_id);
      if (completed) {
        const labs::MilestoneText* mt = c_.milestone(lab->milestone_id);
        const auto needed = lab->milestone_steps();
        const std::size_t others = lab->steps.size() - needed.size();
        show_dialog(c_.ui_text("milestone_title"),
                    fmt::format("{}\n\n{}{} {}", mt ? mt->text : lab->milestone_id,
                                lab->milestone_any_step
                                    ? fmt::format("One of the {} steps of this lab that can earn it has run.", needed.size())
                                    : fmt::format("All {} steps of this lab that measure on the engine have run.", needed.size()),
                                others ? fmt::format(" The other {} (reading or practice) do not count toward it.", others)
                                       : std::string(),
                                c_.ui_text("milestone_body")));
      }
      break;
    }
    case labs::Outcome::Cancelled:
      // Only what the job actually kept (its checkpoint) can be continued: a step that is resumable in
      // general may have been cancelled before it had anything to keep.
      status_msg_ = step && step->resumable && checkpoint(f.job_id)
                        ? "cancelled: the progress so far is kept; r continues it"
                        : "cancelled: nothing was recorded";
      break;
    case labs::Outcome::NotAvailable: status_msg_ = "not available in this build"; break;
    case labs::Outcome::Failed:
      show_dialog(c_.ui_text("error_title"), f.result.message);
      status_msg_ = "the step failed (see the message)";
      break;
  }
  results_[f.job_id] = std::move(f.result);
  // bring the fresh results into view when the learner is looking at that step
  const labs::Step* sel = screen_ == Screen::Lab ? selected_step() : nullptr;
  if (sel && sel->id == f.job_id) scroll_to_results_ = true;
}

const labs::SavedResult* App::saved_result(const std::string& step_id) {
  auto it = saved_.find(step_id);
  if (it == saved_.end()) {
    std::optional<labs::SavedResult> s;
    if (const auto dir = out_dir(step_id); !dir.empty()) s = labs::load_result(dir);
    it = saved_.emplace(step_id, std::move(s)).first;
  }
  return it->second ? &*it->second : nullptr;
}

const std::optional<labs::Checkpoint>& App::checkpoint(const std::string& step_id) {
  auto it = checkpoints_.find(step_id);
  if (it == checkpoints_.end()) it = checkpoints_.emplace(step_id, labs::read_checkpoint(out_dir(step_id))).first;
  return it->second;
}

void App::take_device() {
  if (!device_future_.valid()) return;
  try {
    env_.device = device_future_.get();
  } catch (const std::exception& e) {
    // A GPU that failed while starting: the jobs run on the CPU, and the home screen says why.
    env_.device = {};
    env_.device.fallback = e.what();
  }
}

bool App::tick() {
  if (device_future_.valid() && device_future_.wait_for(std::chrono::seconds(0)) == std::future_status::ready) {
    take_device();
    return true;
  }
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

void App::render(Grid& g) {
  g.resize(w_, h_);
  g.clear();
  if (too_small()) {
    render_too_small(g);
    if (gl_->set == GlyphSet::Ascii) ascii_fallback(g);
    return;
  }
  if (screen_ == Screen::Home) render_home(g);
  else render_lab(g);
  render_job_row(g, h_ - 2);
  switch (overlay_) {
    case Overlay::Help: render_help(g); break;
    case Overlay::Glossary: render_glossary(g); break;
    case Overlay::Quiz: render_quiz(g); break;
    case Overlay::Diagnostics: render_diagnostics(g); break;
    case Overlay::Settings: render_settings(g); break;
    case Overlay::Module: render_module(g); break;
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
    case Overlay::Confirm: render_confirm(g); break;
    case Overlay::None: break;
  }
  render_status(g);
  if (gl_->set == GlyphSet::Ascii) ascii_fallback(g);
}

}  // namespace qlab::tui
