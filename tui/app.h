#pragma once
// The tutor's core, with no terminal: it takes keys, resizes and ticks, and renders into a Grid.
// The terminal layer (terminal.h) feeds it from ncurses; tests feed it scripted events.
//   AppEnv       what the tutor shows and writes: content, progress file, model, machine, terminal facts
//   App          screens (home, lab) and overlays (help, glossary, quiz, diagnostics, dialogs)
#include <chrono>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "labs/content.h"
#include "labs/lab.h"
#include "labs/progress_file.h"
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
  GlyphSet glyph_set = GlyphSet::Unicode;
  TerminalInfo terminal;
  std::vector<std::string> notices;  // shown as dialogs at start (corrupt progress file moved aside, ...)
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
  enum class Overlay { None, Help, Glossary, Quiz, Diagnostics, Dialog, Input, ConfirmQuit };

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
  void save_progress();
  void show_dialog(const std::string& title, const std::string& body);
  void cycle_path();
  // helpers
  const labs::Lab& current_lab() const;
  std::vector<const labs::Step*> visible_steps(const labs::Lab& lab) const;
  const labs::StudyPath* path() const;
  std::vector<std::string> detail_lines_header(int width) const;
  void ascii_fallback(Grid& g) const;

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
  std::map<std::string, labs::StepResult> results_;
  std::string status_msg_;
  int overlay_scroll_ = 0, overlay_max_scroll_ = 0, gloss_sel_ = 0;
  int quiz_idx_ = 0, quiz_choice_ = -1, quiz_score_ = 0, quiz_answered_ = 0;
  std::vector<std::pair<std::string, std::string>> dialogs_;
  std::string input_text_, input_step_;
  std::future<std::vector<std::string>> machine_future_;
  JobRunner runner_;
};

}  // namespace qlab::tui
