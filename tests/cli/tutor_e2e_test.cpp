// The real qlab binary in tmux: start, walk home -> lab 1 -> run a step -> back, resize, quit, and
// the progress file afterwards. Screens are read with capture-pane, polled until the expected text
// appears (never a fixed sleep). Also: keys typed right after resizes are all handled; not a terminal
// -> exit 2; SIGHUP, or input failing with EIO (a vanished terminal) -> clean exit, progress kept.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdlib>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/model/device.h"
#include "tests/temp_dir.h"

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

struct ShellRun {
  int status = -1;
  std::string out;
};

ShellRun sh(const std::string& cmd) {
  ShellRun r;
  FILE* p = ::popen(("(" + cmd + ") 2>&1").c_str(), "r");
  if (!p) return r;
  std::array<char, 4096> buf{};
  std::size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  int st = ::pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

std::string quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

class Tmux {
 public:
  Tmux(const fs::path& dir, int w, int h, const std::string& env, const std::string& args)
      : sock_((dir / "tmux.sock").string()) {
    // -f /dev/null: no user configuration; remain-on-exit keeps the pane so its exit status can be read
    std::string inner = "cd " + quote(dir.string()) + " && date +%s%N > t0 && exec env " + env + " " +
                        quote(QLAB_BINARY) + " " + args;
    ShellRun r = sh("tmux -S " + quote(sock_) + " -f /dev/null new-session -d -s t -x " + std::to_string(w) + " -y " +
               std::to_string(h) + " " + quote("sh -c " + quote(inner)));
    ok_ = r.status == 0;
    if (!ok_) error_ = r.out;
    sh(tmux("set-option -t t remain-on-exit on"));
    if (ok_) pid_ = static_cast<pid_t>(std::atol(query("#{pane_pid}").c_str()));
  }
  ~Tmux() { sh(tmux("kill-server")); }
  bool ok() const { return ok_; }
  const std::string& error() const { return error_; }
  std::string tmux(const std::string& args) const { return "tmux -S " + quote(sock_) + " " + args; }
  std::string capture() const { return sh(tmux("capture-pane -p -t t")).out; }
  void keys(const std::string& k) const { sh(tmux("send-keys -t t " + k)); }
  // Polls the screen until `text` appears; false after the timeout.
  bool wait_for(const std::string& text, int timeout_ms = 15000) const {
    auto until = Clock::now() + std::chrono::milliseconds(timeout_ms);
    while (Clock::now() < until) {
      if (capture().find(text) != std::string::npos) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }
  std::string query(const std::string& fmt) const {
    std::string s = sh(tmux("display-message -p -t t " + quote(fmt))).out;
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
    return s;
  }
  bool wait_dead(int timeout_ms = 10000) const {
    auto until = Clock::now() + std::chrono::milliseconds(timeout_ms);
    while (Clock::now() < until) {
      if (query("#{pane_dead}") == "1") return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }
  // Polls until `pred(rows)` holds for the screen's rows; false after the timeout.
  template <typename Pred>
  bool wait_rows(Pred pred, int timeout_ms = 15000) const {
    auto until = Clock::now() + std::chrono::milliseconds(timeout_ms);
    while (Clock::now() < until) {
      std::vector<std::string> rows;
      std::istringstream in(capture());
      for (std::string l; std::getline(in, l);) rows.push_back(l);
      if (pred(rows)) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }
  // The exit status of the program in the pane: "0".."255", "signal N", or "" if it has not ended.
  // tmux's own report first; tmux 3.3 sometimes never reaps a pane's process (the pane reads dead,
  // its status stays empty, and the process sits as a zombie of the tmux server), and then the
  // status is read from the zombie itself (/proc/PID/stat, field 52: the waitpid status).
  std::string exit_status(int timeout_ms = 10000) const {
    auto until = Clock::now() + std::chrono::milliseconds(timeout_ms);
    while (Clock::now() < until) {
      if (query("#{pane_dead}") == "1") {
        if (std::string st = query("#{pane_dead_status}"); !st.empty()) return st;
        if (std::string sig = query("#{pane_dead_signal}"); !sig.empty()) return "signal " + sig;
        std::ifstream in("/proc/" + std::to_string(pid_) + "/stat");
        std::string stat((std::istreambuf_iterator<char>(in)), {});
        if (auto close = stat.rfind(')'); close != std::string::npos) {
          std::istringstream fields(stat.substr(close + 1));
          std::vector<std::string> f;  // f[0] is field 3 (the state)
          for (std::string w; fields >> w;) f.push_back(w);
          if (f.size() > 49 && f[0] == "Z") {
            int ws = std::atoi(f[49].c_str());
            return WIFEXITED(ws) ? std::to_string(WEXITSTATUS(ws)) : "signal " + std::to_string(WTERMSIG(ws));
          }
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return "";
  }

 private:
  std::string sock_;
  pid_t pid_ = 0;
  bool ok_ = false;
  std::string error_;
};

class TutorE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    if (sh("command -v tmux").status != 0) GTEST_SKIP() << "tmux is not installed";
    const std::filesystem::path tmpl = qlab::testing::make_temp_dir("qlab-e2e");
    ASSERT_FALSE(tmpl.empty()) << "cannot make a temporary folder";
    dir_ = tmpl;
    fs::create_directories(dir_ / "data");
    fs::create_directories(dir_ / "home");
  }
  void TearDown() override {
    if (!dir_.empty()) fs::remove_all(dir_);
  }
  std::string env(const std::string& term, const std::string& lang, bool no_color = false) const {
    std::string e = "HOME=" + quote((dir_ / "home").string()) + " XDG_DATA_HOME=" + quote((dir_ / "data").string()) +
                    " QLAB_FIRST_FRAME_FILE=" + quote((dir_ / "first_frame").string()) + " TERM=" + term +
                    " LANG=" + lang + " LC_ALL=" + lang;
    if (no_color) e += " NO_COLOR=1";
    return e;
  }
  fs::path progress_path() const { return dir_ / "data" / "qlab" / "progress.json"; }
  double startup_ms() const {
    std::ifstream a(dir_ / "t0"), b(dir_ / "first_frame");
    long long t0 = 0, t1 = 0;
    if (!(a >> t0) || !(b >> t1)) return -1;
    return static_cast<double>(t1 - t0) / 1e6;
  }
  void walk(int w, int h, const std::string& term) {
    Tmux t(dir_, w, h, env(term, "C.UTF-8"), "");
    ASSERT_TRUE(t.ok()) << t.error();
    ASSERT_TRUE(t.wait_for("Milestones")) << t.capture();
    double ms = startup_ms();
    std::printf("[ startup ] %dx%d TERM=%s: launch to first drawn screen %.1f ms\n", w, h, term.c_str(), ms);
    RecordProperty("startup_ms_" + std::to_string(w) + "x" + std::to_string(h), std::to_string(ms));
    std::string home = t.capture();
    EXPECT_NE(home.find("Data type exploration"), std::string::npos) << home;
    EXPECT_NE(home.find("Model: built-in"), std::string::npos) << home;
    t.keys("Enter");
    ASSERT_TRUE(t.wait_for("Lab 1 · Data type exploration")) << t.capture();
    t.keys("r");
    ASSERT_TRUE(t.wait_for("Scalar formats")) << t.capture();  // the properties table, from the engine
    EXPECT_TRUE(t.wait_for("448")) << t.capture();
    t.keys("h");  // back to the steps pane
    EXPECT_TRUE(t.wait_for("[x] The formats side by side")) << t.capture();
    t.keys("q");
    ASSERT_TRUE(t.wait_for("Milestones")) << t.capture();
    EXPECT_TRUE(t.wait_for("1/5")) << t.capture();
    // resize: smaller than the minimum, then back
    sh(t.tmux("resize-window -t t -x 60 -y 20"));
    ASSERT_TRUE(t.wait_for("Window too small: 60x20")) << t.capture();
    sh(t.tmux("resize-window -t t -x " + std::to_string(w + 10) + " -y " + std::to_string(h + 2)));
    // Redrawn at the new size: the status line on the new last row (tmux may bring old rows back
    // from its history on growing, so "Milestones" alone could be stale).
    ASSERT_TRUE(t.wait_rows([&](const std::vector<std::string>& rows) {
      return static_cast<int>(rows.size()) == h + 2 && rows.back().find("? help") != std::string::npos;
    })) << t.capture();
    // One q quits: no key may be lost after a resize.
    t.keys("q");
    ASSERT_TRUE(t.wait_dead()) << t.capture();
    EXPECT_EQ(t.exit_status(), "0");
    // the progress file afterwards
    std::ifstream in(progress_path());
    ASSERT_TRUE(in) << progress_path();
    nlohmann::json j = nlohmann::json::parse(in);
    EXPECT_EQ(j["schema"], 1);
    EXPECT_TRUE(j["results"].contains("lab01.properties")) << j.dump(2);
    EXPECT_EQ(j["results"]["lab01.properties"]["formats"]["e4m3"]["max"], 448.0);
    EXPECT_EQ(j["last"]["lab"], "lab01");
  }
  fs::path dir_;
};

TEST_F(TutorE2E, WalkAt80x24) { walk(80, 24, "screen"); }
TEST_F(TutorE2E, WalkAt132x43) { walk(132, 43, "xterm-256color"); }

// Keys typed while resizes are still arriving: each one is handled, none is lost.
TEST_F(TutorE2E, KeysRightAfterResizesAreNotLost) {
  Tmux t(dir_, 80, 24, env("xterm-256color", "C.UTF-8"), "");
  ASSERT_TRUE(t.ok()) << t.error();
  ASSERT_TRUE(t.wait_for("Milestones")) << t.capture();
  for (int i = 0; i < 3; ++i) {
    sh(t.tmux("resize-window -t t -x " + std::to_string(81 + i) + " -y 25"));
    t.keys("d");  // diagnostics overlay, with the window size in it
    ASSERT_TRUE(t.wait_for("Diagnostics")) << t.capture();
    sh(t.tmux("resize-window -t t -x 80 -y 24"));
    t.keys("Escape");
    ASSERT_TRUE(t.wait_rows([](const std::vector<std::string>& rows) {
      for (const auto& r : rows)
        if (r.find("Diagnostics") != std::string::npos) return false;
      return !rows.empty() && rows.back().find("? help") != std::string::npos;
    })) << t.capture();
  }
  sh(t.tmux("resize-window -t t -x 100 -y 30"));
  t.keys("q");
  ASSERT_TRUE(t.wait_dead()) << t.capture();
  EXPECT_EQ(t.exit_status(), "0");
}

// Item 6 of the learner's report: TERM=vt100 has no PageDown, PageUp, Home or End in its description,
// so curses hands their sequences over undecoded; they must never cancel a running job. Esc on a
// job that has run a while asks first.
TEST_F(TutorE2E, Vt100KeysWithoutTerminfoEntriesNeverCancelAJob) {
  Tmux t(dir_, 100, 30, env("vt100", "C"), "");
  ASSERT_TRUE(t.ok()) << t.error();
  ASSERT_TRUE(t.wait_for("Milestones")) << t.capture();
  t.keys("j j Enter");  // lab 3
  ASSERT_TRUE(t.wait_for("Lab 3 * FP8 training")) << t.capture();
  t.keys("r");
  ASSERT_TRUE(t.wait_for("(run 1/4)")) << t.capture();
  t.keys("NPage PPage Home End NPage");
  std::this_thread::sleep_for(std::chrono::milliseconds(800));
  std::string s = t.capture();
  EXPECT_EQ(s.find("Cancel the job?"), std::string::npos) << s;
  EXPECT_EQ(s.find("cancelled"), std::string::npos) << s;
  // the job runs on, long enough now that Esc asks
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  ASSERT_TRUE(t.wait_for("(run ")) << t.capture();
  t.keys("Escape");
  ASSERT_TRUE(t.wait_for("Cancel the job?")) << t.capture();
  t.keys("y");
  ASSERT_TRUE(t.wait_for("cancelled")) << t.capture();
  // The bar says the progress is kept exactly when a finished run was kept (the step's checkpoint):
  // how far the run got depends on the machine's speed, what the bar says may not.
  const bool kept = fs::exists(dir_ / "data" / "qlab" / "runs" / "builtin" / "lab03.train" / "checkpoint.json");
  ASSERT_TRUE(t.wait_for(kept ? "cancelled: the progress so far is kept" : "cancelled: nothing was recorded"))
      << (kept ? "a run was kept" : "no run was kept") << "\n" << t.capture();
  t.keys("q q");
  ASSERT_TRUE(t.wait_dead()) << t.capture();
  EXPECT_EQ(t.exit_status(), "0");
}

// Issue 10: a long job keeps its progress when qlab is quit mid-way, and the next session continues
// it (lab 3's training: each finished run is kept). Its settings (20 steps a run) are set on screen.
TEST_F(TutorE2E, ALongJobContinuesAfterARestart) {
  {
    Tmux t(dir_, 100, 30, env("xterm-256color", "C.UTF-8"), "");
    ASSERT_TRUE(t.ok()) << t.error();
    ASSERT_TRUE(t.wait_for("Milestones")) << t.capture();
    t.keys("j j Enter");
    ASSERT_TRUE(t.wait_for("Lab 3 · FP8 training")) << t.capture();
    t.keys("s");
    ASSERT_TRUE(t.wait_for("Settings: Four training runs")) << t.capture();
    t.keys("Enter BSpace BSpace BSpace 2 0 Enter q");
    ASSERT_TRUE(t.wait_for("Training steps: 20")) << t.capture();
    t.keys("r");
    ASSERT_TRUE(t.wait_for("(run 2/4)", 60000)) << t.capture();
    t.keys("q q");  // home, then quit away from the running job
    ASSERT_TRUE(t.wait_for("A job is still running")) << t.capture();
    t.keys("y");
    ASSERT_TRUE(t.wait_dead()) << t.capture();
    EXPECT_EQ(t.exit_status(), "0");
  }
  const fs::path step_dir = dir_ / "data" / "qlab" / "runs" / "builtin" / "lab03.train";
  ASSERT_TRUE(fs::exists(step_dir / "checkpoint.json")) << "the finished run was kept";
  fs::create_directories(dir_ / "second");  // a tmux server of its own: the first one's socket may linger
  Tmux t(dir_ / "second", 100, 30, env("xterm-256color", "C.UTF-8"), "");
  ASSERT_TRUE(t.ok()) << t.error();
  ASSERT_TRUE(t.wait_for("Milestones")) << t.capture();
  t.keys("j j Enter");
  ASSERT_TRUE(t.wait_for("stopped")) << t.capture();  // the steps list marks it
  t.keys("Tab G");
  ASSERT_TRUE(t.wait_for("An earlier run stopped at 1 of 4 runs")) << t.capture();
  t.keys("r");
  ASSERT_TRUE(t.wait_for("Four training runs, live: done in", 120000)) << t.capture();
  EXPECT_TRUE(t.wait_for("Continued from the checkpoint")) << t.capture();
  EXPECT_FALSE(fs::exists(step_dir / "checkpoint.json"));
  EXPECT_TRUE(fs::exists(step_dir / "result.json"));
  t.keys("q q");
  ASSERT_TRUE(t.wait_dead()) << t.capture();
  nlohmann::json j = nlohmann::json::parse(std::ifstream(progress_path()));
  EXPECT_EQ(j["results"]["lab03.train"]["steps"], 20);
  EXPECT_EQ(j["settings"]["params.lab03.train"]["steps"], "20");
}

// Issue 10: --model takes a Hugging Face repo id from the hub cache; a model without held-out text
// of its own is scored on the built-in model's, and the step says so.
TEST_F(TutorE2E, ARepoIdFromTheHubCacheRunsTheLabs) {
  const fs::path builtin = fs::path(QLAB_SOURCE_DIR) / "assets" / "builtin";
  const fs::path snap = dir_ / "hub" / "models--acme--tiny" / "snapshots" / "c0ffee";
  fs::create_directories(snap);
  for (const char* f : {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"})
    fs::create_symlink(builtin / f, snap / f);
  fs::create_directories(dir_ / "hub" / "models--acme--tiny" / "refs");
  std::ofstream(dir_ / "hub" / "models--acme--tiny" / "refs" / "main") << "c0ffee";
  Tmux t(dir_, 132, 43, env("xterm-256color", "C.UTF-8") + " HF_HUB_CACHE=" + quote((dir_ / "hub").string()),
         "--model acme/tiny");
  ASSERT_TRUE(t.ok()) << t.error();
  ASSERT_TRUE(t.wait_for("Model: acme/tiny")) << t.capture();
  t.keys("j Enter G k r");  // lab 2's perplexity (the step before its checkpoint)
  ASSERT_TRUE(t.wait_for("What nvfp4 changed", 60000)) << t.capture();
  ASSERT_TRUE(t.wait_for("Perplexity before and after: done")) << t.capture();
  t.keys("Tab G k");  // the steps pane, the last step, then the one before it: its result
  EXPECT_TRUE(t.wait_for("generated by qlab")) << t.capture();
  t.keys("q q");
  ASSERT_TRUE(t.wait_dead()) << t.capture();
  // a repo id that is not there: one line naming the cache, exit 1
  ShellRun missing = sh("env HOME=" + quote((dir_ / "home").string()) + " HF_HUB_CACHE=" + quote((dir_ / "hub").string()) +
                        " TERM=xterm '" + std::string(QLAB_BINARY) + "' --model acme/none < /dev/null");
  EXPECT_NE(missing.out.find("--model: acme/none is not in the Hugging Face cache"), std::string::npos) << missing.out;
  EXPECT_EQ(missing.status, 1) << missing.out;
}

TEST_F(TutorE2E, PlainLocaleAndVt100GetAsciiAndNoColor) {
  Tmux t(dir_, 80, 24, env("vt100", "C", true), "");
  ASSERT_TRUE(t.ok()) << t.error();
  ASSERT_TRUE(t.wait_for("Milestones")) << t.capture();
  std::string s = sh(t.tmux("capture-pane -p -e -t t")).out;  // -e: keep attributes as escapes
  for (unsigned char c : s) ASSERT_LT(c, 0x80) << s;
  // tmux writes attributes as SGR escapes; a colour would be 30-38 (39 is "default colour")
  EXPECT_FALSE(std::regex_search(s, std::regex("\x1b\\[([0-9]*;)*(3[0-8]|4[0-8])(;|m)")))
      << "a colour under NO_COLOR";
  t.keys("d");
  ASSERT_TRUE(t.wait_for("Characters: ascii")) << t.capture();
  EXPECT_TRUE(t.wait_for("NO_COLOR is set")) << t.capture();
  t.keys("Escape");
  t.keys("q");
  ASSERT_TRUE(t.wait_dead()) << t.capture();
  EXPECT_EQ(t.exit_status(), "0");
}

// An ssh client's UTF-8 locale that the machine does not have (a made-up one here) still gets
// UTF-8 drawing, through C.UTF-8, and the diagnostics say so.
TEST_F(TutorE2E, MissingUtf8LocaleFallsBackToCUtf8) {
  Tmux t(dir_, 100, 30, env("xterm-256color", "xx_XX.UTF-8"), "");
  ASSERT_TRUE(t.ok()) << t.error();
  ASSERT_TRUE(t.wait_for("Milestones")) << t.capture();
  EXPECT_NE(t.capture().find("\u2500"), std::string::npos) << "no box drawing: " << t.capture();
  t.keys("d");
  ASSERT_TRUE(t.wait_for("Characters: unicode")) << t.capture();
  EXPECT_TRUE(t.wait_for("xx_XX.UTF-8 is not installed here")) << t.capture();
  t.keys("Escape");
  t.keys("q");
  ASSERT_TRUE(t.wait_dead()) << t.capture();
  EXPECT_EQ(t.exit_status(), "0");
}

TEST_F(TutorE2E, HangupEndsCleanlyWithProgressSaved) {
  Tmux t(dir_, 80, 24, env("tmux-256color", "C.UTF-8"), "");
  ASSERT_TRUE(t.ok()) << t.error();
  ASSERT_TRUE(t.wait_for("Milestones")) << t.capture();
  pid_t pid = static_cast<pid_t>(std::stol(t.query("#{pane_pid}")));
  t.keys("x");  // tick milestone 1 by hand
  ASSERT_TRUE(t.wait_for("[x] Data type precisi")) << t.capture();
  ::kill(pid, SIGHUP);
  ASSERT_TRUE(t.wait_dead()) << "qlab did not exit after SIGHUP";
  EXPECT_EQ(t.exit_status(), "129");  // 128 + SIGHUP: ended by the hang-up, not by a crash
  std::ifstream in(progress_path());
  ASSERT_TRUE(in);
  nlohmann::json j = nlohmann::json::parse(in);
  EXPECT_EQ(j["milestones"]["m1"]["done"], true);
  EXPECT_EQ(j["milestones"]["m1"]["how"], "ticked");
  for (const auto& e : fs::directory_iterator(progress_path().parent_path()))
    EXPECT_EQ(e.path().filename().string().find(".tmp-"), std::string::npos);
}

// The terminal vanishes without a hang-up signal (the pty is not qlab's controlling terminal, so
// closing its other end only makes input fail with EIO): qlab must notice and end cleanly.
TEST_F(TutorE2E, InputErrorEndsCleanlyWithProgressKept) {
  int master = ::posix_openpt(O_RDWR | O_NOCTTY);
  ASSERT_GE(master, 0);
  ASSERT_EQ(::grantpt(master), 0);
  ASSERT_EQ(::unlockpt(master), 0);
  const std::string slave = ::ptsname(master);
  struct winsize ws {};
  ws.ws_row = 24;
  ws.ws_col = 80;
  ASSERT_EQ(::ioctl(master, TIOCSWINSZ, &ws), 0);
  const fs::path ff = dir_ / "first_frame";
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    int fd = ::open(slave.c_str(), O_RDWR | O_NOCTTY);
    if (fd < 0) ::_exit(100);
    ::dup2(fd, 0);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    ::close(master);
    ::setenv("HOME", (dir_ / "home").c_str(), 1);
    ::setenv("XDG_DATA_HOME", (dir_ / "data").c_str(), 1);
    ::setenv("TERM", "xterm-256color", 1);
    ::setenv("LANG", "C.UTF-8", 1);
    ::setenv("QLAB_FIRST_FRAME_FILE", ff.c_str(), 1);
    ::execl(QLAB_BINARY, QLAB_BINARY, static_cast<char*>(nullptr));
    ::_exit(101);
  }
  struct Reaper {  // on an early failure: no qlab left running, no pty left open
    pid_t pid;
    int* master;
    ~Reaper() {
      if (*master >= 0) ::close(*master);
      int st;
      if (pid > 0 && ::waitpid(pid, &st, WNOHANG) == 0) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, &st, 0);
      }
    }
  } reaper{pid, &master};
  // Keep reading the screen output so qlab never blocks on a full pty buffer.
  ::fcntl(master, F_SETFL, ::fcntl(master, F_GETFL) | O_NONBLOCK);
  auto drain = [&] {
    char buf[4096];
    while (::read(master, buf, sizeof buf) > 0) {
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  };
  auto until = Clock::now() + std::chrono::seconds(15);
  while (!fs::exists(ff) && Clock::now() < until) drain();
  ASSERT_TRUE(fs::exists(ff)) << "no first frame";
  ASSERT_EQ(::write(master, "x", 1), 1);  // tick milestone 1 by hand: saved at once
  until = Clock::now() + std::chrono::seconds(15);
  bool ticked = false;
  while (!ticked && Clock::now() < until) {
    std::ifstream in(progress_path());
    nlohmann::json j = nlohmann::json::parse(in, nullptr, false);
    ticked = !j.is_discarded() && j.contains("milestones") && j["milestones"].contains("m1");
    if (!ticked) drain();
  }
  ASSERT_TRUE(ticked);
  ::close(master);  // the terminal is gone
  master = -1;
  int status = 0;
  pid_t done = 0;
  until = Clock::now() + std::chrono::seconds(10);
  while ((done = ::waitpid(pid, &status, WNOHANG)) == 0 && Clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  reaper.pid = 0;
  if (done == 0) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
    FAIL() << "qlab did not notice that its terminal was gone";
  }
  ASSERT_TRUE(WIFEXITED(status)) << "ended by signal " << WTERMSIG(status);
  EXPECT_EQ(WEXITSTATUS(status), 0);
  nlohmann::json j = nlohmann::json::parse(std::ifstream(progress_path()));
  EXPECT_EQ(j["milestones"]["m1"]["done"], true);
}

TEST(TutorCli, NotATerminalPrintsAHintAndExits2) {
  ShellRun r = sh(std::string(QLAB_BINARY) + " < /dev/null | cat");
  EXPECT_NE(r.out.find("draws on a terminal"), std::string::npos) << r.out;
  ShellRun st = sh(std::string(QLAB_BINARY) + " > /dev/null < /dev/null; echo status=$?");
  EXPECT_NE(st.out.find("status=2"), std::string::npos) << st.out;
}

// --device is read before the terminal is: a wrong name, or cuda where no GPU is usable, says so and
// fails even where there is no terminal to draw on.
TEST(TutorCli, DeviceIsCheckedBeforeTheTerminal) {
  ShellRun bad = sh(std::string(QLAB_BINARY) + " --device gpu < /dev/null 2>&1; echo status=$?");
  EXPECT_NE(bad.out.find("unknown device 'gpu'"), std::string::npos) << bad.out;
  EXPECT_NE(bad.out.find("status=2"), std::string::npos) << bad.out;
  ShellRun cpu = sh(std::string(QLAB_BINARY) + " --device cpu < /dev/null 2>&1; echo status=$?");
  EXPECT_NE(cpu.out.find("draws on a terminal"), std::string::npos) << cpu.out;
  if (qlab::model::make_backend(qlab::model::Device::Auto).gpu) GTEST_SKIP() << "a GPU is usable here: --device cuda would start";
  ShellRun cuda = sh(std::string(QLAB_BINARY) + " --device cuda < /dev/null 2>&1; echo status=$?");
  // Why, in the build's words: no GPU found, or a build without CUDA.
  EXPECT_NE(cuda.out.find("--device cuda"), std::string::npos) << cuda.out;
  EXPECT_NE(cuda.out.find("use --device cpu"), std::string::npos) << cuda.out;
  EXPECT_EQ(cuda.out.find("draws on a terminal"), std::string::npos) << cuda.out;
  EXPECT_NE(cuda.out.find("status=1"), std::string::npos) << cuda.out;
}

TEST(TutorCli, ProgressShowExportReset) {
  const std::filesystem::path tmpl = qlab::testing::make_temp_dir("qlab-cli");
  ASSERT_FALSE(tmpl.empty()) << "cannot make a temporary folder";
  fs::path dir = tmpl, file = dir / "p.json";
  {
    std::ofstream(file) << R"({"schema": 1, "milestones": {"m2": {"done": true, "when": "2026-01-02T03:04:05Z", "how": "ticked"}},
                             "results": {"lab01.bits": {"when": "2026-01-02T03:04:05Z", "model": "built-in", "input": "0.1"}}})";
  }
  std::string q = std::string(QLAB_BINARY) + " progress ";
  ShellRun show = sh(q + "show --progress " + file.string());
  EXPECT_EQ(show.status, 0) << show.out;
  EXPECT_NE(show.out.find("milestones: 1 of 8 done"), std::string::npos) << show.out;
  EXPECT_NE(show.out.find("[x] NVFP4 quantization of a 70B model"), std::string::npos) << show.out;
  ShellRun js = sh(q + "show --json --progress " + file.string());
  EXPECT_EQ(nlohmann::json::parse(js.out)["milestones"]["m2"]["how"], "ticked");
  // export: readable Markdown tables, no raw JSON; --json: the same as data
  ShellRun ex = sh(q + "export --progress " + file.string());
  EXPECT_NE(ex.out.find("| 2 | NVFP4 quantization of a 70B model (60 billion parameters+) | yes | ticked by hand | 2026-01-02T03:04:05Z |"),
            std::string::npos)
      << ex.out;
  EXPECT_NE(ex.out.find("| input | 0.1 |"), std::string::npos) << ex.out;
  EXPECT_EQ(ex.out.find("```"), std::string::npos) << ex.out;
  EXPECT_EQ(ex.out.find("\"input\""), std::string::npos) << ex.out;
  ShellRun exj = sh(q + "export --json --progress " + file.string());
  const nlohmann::json ej = nlohmann::json::parse(exj.out);
  EXPECT_EQ(ej["results"]["lab01.bits"]["input"], "0.1");
  EXPECT_EQ(ej["milestones"][1]["how"], "ticked");
  EXPECT_FALSE(ej.contains("markdown"));
  ShellRun no = sh(q + "reset --progress " + file.string() + " < /dev/null");
  EXPECT_EQ(no.status, 2) << no.out;  // not at a terminal and no --yes
  ShellRun yes = sh(q + "reset --yes --progress " + file.string());
  EXPECT_EQ(yes.status, 0) << yes.out;
  ShellRun after = sh(q + "show --progress " + file.string());
  EXPECT_NE(after.out.find("milestones: 0 of 8 done"), std::string::npos) << after.out;
  {
    std::ofstream(file) << "garbage";
  }
  ShellRun bad = sh(q + "show --progress " + file.string());
  EXPECT_EQ(bad.status, 0) << bad.out;
  EXPECT_NE(bad.out.find("could not be read"), std::string::npos) << bad.out;
  fs::remove_all(dir);
}

}  // namespace
