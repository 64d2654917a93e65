#pragma once
// The tutor's core, with no terminal: it takes keys, resizes and ticks, and renders into a Grid.
// The terminal layer (terminal.h) feeds it from ncurses; tests feed it scripted events.
//   AppEnv       what the tutor shows and writes: content, progress file, model, machine, where jobs run,
//                terminal facts
//   App          screens (home, lab) and overlays (help, glossary, quiz, diagnostics, dialogs)
#include <chrono>
#include <filesystem>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "labs/content.h"
#include "labs/lab.h"
#include "labs/progress_file.h"
#include "labs/step_files.h"
#include "tui/glyphs.h"
#include "tui/grid.h"
#include "tui/job_runner.h"
#include "tui/keys.h"

namespace qlab::tui {

struct TerminalInfo {
  std::string term;         // $TERM
  std::string locale;       // setlocale(LC_CTYPE) result
  std::string codeset;      // nl_langinfo(CODESET)
  int colors = 0;           // COLORS from terminfo (0 before the screen starts)
  bool color = false;       // colour in use (false under NO_COLOR / --no-color / no colour support)
  std::string color_reason; // why not, when not
  std::string lines_env, columns_env;  // LINES / COLUMNS if exported (they freeze the size)
};

struct AppEnv {
  const labs::Content* content = nullptr;
  labs::ProgressFile* progress = nullptr;
  labs::ModelRef model;
  std::vector<std::string> machine;  // lines about the hardware (first one shown on the home screen)
  // Hardware detection can take a while (nvidia-smi); it runs on a thread after the first frame.
  std::function<std::vector<std::string>()> detect_machine;
  // Where jobs run (JobContext::device). choose_device, when set, replaces it from a thread after the
  // first frame (finding and starting a GPU takes a moment); a job started before it returns waits.
  model::BackendChoice device;
  std::function<model::BackendChoice()> choose_device;
  GlyphSet glyph_set = GlyphSet::Unicode;
  TerminalInfo terminal;
  std::vector<std::string> notices;  // shown as dialogs at start (corrupt progress file moved aside, ...)
  // Where steps keep their files (saved results, checkpoints): <runs_dir>/<model>/<step id>/.
  // Empty: nothing is kept beyond the progress file.
  std::filesystem::path runs_dir;
  std::filesystem::path builtin_dir;  // the built-in model's folder (default texts for other models)
  // Esc cancels a job younger than this at once; an older one asks first (a stray Esc from a split
  // escape sequence over a slow link must not throw away minutes of work).
  double ask_before_cancel_s = 3.0;
};

class App {
 public:
  static constexpr int kMinWidth = 80, kMinHeight = 24;

  explicit App(AppEnv env);
  ~App();

  void resize(int w, int h);
  void handle_key(int k);
  // Polls the running job; true when something changed on screen.
  bool tick();
  void render(Grid& g);

  bool quit_requested() const { return quit_; }
  bool job_running() const { return runner_.running(); }
  // Safe to call twice. Cancels the job, waits at most kJobStopWait for it, saves progress. False when the job is still
  // running: it did not reach a cancel point in time (a blocking read, one long matrix product), and
  // since a thread cannot be stopped from outside, the caller must end the process rather than wait.
  bool shutdown();
  static constexpr std::chrono::milliseconds kJobStopWait{2000};
  // Tests: wait for the running job, then tick.
  bool wait_job(int timeout_ms);

  std::string screen_name() const;  // "home", "lab01", "help", ... (tests and diagnostics)
  const Glyphs& glyphset() const { return *gl_; }
  bool redraw_requested() { bool r = redraw_; redraw_ = false; return r; }

 private:
  enum class Screen { Home, Lab };
  enum class Overlay { None, Help, Glossary, Quiz, Diagnostics, Dialog, Input, Confirm, Settings, Module };
  // What a yes in the confirmation dialog does.
  enum class Confirm { Quit, CancelJob, Untick };

  unsigned context() const;
  void dispatch(Action a, int k);
  // screens
  void home_key(Action a);
  void lab_key(Action a);
  void overlay_key(Action a, int k);
  void render_home(Grid& g);
  void render_lab(Grid& g);
  void render_help(Grid& g);
  void render_glossary(Grid& g);
  void render_quiz(Grid& g);
  void render_diagnostics(Grid& g);
  void render_settings(Grid& g);
  void render_module(Grid& g);
  void render_confirm(Grid& g);
  void render_job_row(Grid& g, int y);
  void render_title(Grid& g, const std::string& left, const std::string& right);
  void render_status(Grid& g);
  void render_too_small(Grid& g);
  void render_pager_overlay(Grid& g, const std::string& title, const std::vector<std::string>& lines);
  // actions
  void open_lab(int index);
  void run_selected_step();
  void start_step(const std::string& step_id, const std::string& input);
  void job_finished(FinishedJob f);
  void toggle_milestone(const std::string& id);
  void mark_read(const labs::Step& s);
  void ask(Confirm what, std::string subject);
  void confirmed(Confirm what);
  void request_cancel();
  void settings_key(Action a, int k);
  void quiz_key(Action a, int k);
  void open_quiz();
  void finish_quiz();
  void save_progress();
  void show_dialog(const std::string& title, const std::string& body);
  void cycle_path();
  // helpers
  const labs::Lab& current_lab() const;
  std::vector<const labs::Step*> visible_steps(const labs::Lab& lab) const;
  const labs::StudyPath* path() const;
  void ascii_fallback(Grid& g) const;
  bool too_small() const { return w_ < kMinWidth || h_ < kMinHeight; }
  void too_small_key(int k);
  std::string job_title(const std::string& step_id) const;  // "Lab 2 · Perplexity before and after"
  // settings of steps (labs/params.h), kept in the progress file under "params.<step id>"
  labs::ParamValues chosen_params(const std::string& step_id) const;
  void set_param(const std::string& step_id, const std::string& id, const std::string& value);
  std::string param_display(const labs::Step& s, const labs::Param& p, const std::string& value) const;
  std::string settings_summary(const labs::Step& s) const;
  std::filesystem::path out_dir(const std::string& step_id) const;
  const labs::SavedResult* saved_result(const std::string& step_id);
  const std::optional<labs::Checkpoint>& checkpoint(const std::string& step_id);
  const labs::Step* selected_step() const;
  // quiz: the order of an item's choices for this learner (a permutation of indices)
  std::vector<int> quiz_order(std::size_t item) const;

  AppEnv env_;
  const labs::Content& c_;
  const Glyphs* gl_;
  int w_ = 80, h_ = 24;
  bool quit_ = false, redraw_ = false, shut_down_ = false;

  Screen screen_ = Screen::Home;
  Overlay overlay_ = Overlay::None;
  int home_focus_ = 0, lab_sel_ = 0, ms_sel_ = 0;
  std::size_t path_idx_ = 1;
  int lab_idx_ = 0, step_sel_ = 0, lab_focus_ = 0, detail_scroll_ = 0, detail_max_scroll_ = 0;
  bool show_hint_ = false, scroll_to_results_ = false;
  // While the selected step's job runs, the pane follows its live results (a loss curve arriving
  // below the words) until the learner scrolls it by hand.
  bool follow_results_ = false;
  std::map<std::string, labs::StepResult> results_;
  // Sort column of a step's sortable tables (-1: as the job gave them), by step id.
  std::map<std::string, int> sort_col_;
  std::string status_msg_;
  int overlay_scroll_ = 0, overlay_max_scroll_ = 0, gloss_sel_ = 0;
  int quiz_idx_ = 0, quiz_choice_ = -1, quiz_score_ = 0, quiz_answered_ = 0;
  std::vector<std::pair<std::string, std::string>> dialogs_;
  std::string input_text_, input_step_;
  // confirmation dialog
  Confirm confirm_ = Confirm::Quit;
  std::string confirm_subject_;
  bool too_small_quit_asked_ = false;
  // settings overlay: the step, the selected row, and the text being typed into it (editing_)
  std::string settings_step_;
  int settings_sel_ = 0;
  bool editing_ = false;
  std::string edit_text_, settings_error_;
  // saved results and checkpoints read from the step folders (lazily; refreshed when a job ends)
  std::map<std::string, std::optional<labs::SavedResult>> saved_;
  std::map<std::string, std::optional<labs::Checkpoint>> checkpoints_;
  std::uint64_t quiz_seed_ = 0;
  std::future<std::vector<std::string>> machine_future_;
  std::future<model::BackendChoice> device_future_;
  void take_device();  // waits for device_future_ if it is pending and puts its choice in env_.device
  std::string jobs_where() const;  // the home screen's "jobs run ..." words
  JobRunner runner_;
};

}  // namespace qlab::tui
