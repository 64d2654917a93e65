// The tutor must not outlive its terminal (issue 12 item 4). The review's reproduction: a FIFO as
// the model's weights, lab 2's perplexity step run on it, then the tmux session killed. The job
// used to block for ever opening the FIFO and, after its 2 s cancel wait, the tutor waited for the
// job thread without limit: an orphan with no terminal. Now the FIFO is refused at once, and a job
// that still does not stop within the wait no longer keeps the process alive.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include <fcntl.h>

#include <gtest/gtest.h>

#include "tests/temp_dir.h"

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

std::string sh(const std::string& cmd) {
  std::string out;
  FILE* p = ::popen(("(" + cmd + ") 2>&1").c_str(), "r");
  if (!p) return out;
  std::array<char, 4096> buf{};
  std::size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  ::pclose(p);
  return out;
}

std::string q(const std::string& s) {
  std::string r = "'";
  for (char c : s) r += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return r + "'";
}

// Running (a zombie waiting for its parent to reap it counts as ended).
bool alive(pid_t pid) {
  if (::kill(pid, 0) != 0) return false;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(stat, line);
  const auto close = line.rfind(')');
  return close == std::string::npos || close + 2 >= line.size() || line[close + 2] != 'Z';
}

TEST(TutorHangup, KilledSessionWithABlockedModelLeavesNoOrphan) {
  if (sh("command -v tmux").empty()) GTEST_SKIP() << "tmux is not installed";
  const std::filesystem::path tmpl = qlab::testing::make_temp_dir("qlab-hangup");
  ASSERT_FALSE(tmpl.empty()) << "cannot make a temporary folder";
  const fs::path dir = tmpl;
  const fs::path model = dir / "model";
  fs::create_directories(model);
  fs::create_directories(dir / "data");
  const fs::path builtin = fs::path(QLAB_SOURCE_DIR) / "assets" / "builtin";
  for (const auto& e : fs::directory_iterator(builtin))
    if (e.path().filename() != "model.safetensors") fs::create_symlink(e.path(), model / e.path().filename());
  const fs::path fifo = model / "model.safetensors";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);

  const std::string sock = (dir / "tmux.sock").string();
  auto tmux = [&](const std::string& args) { return sh("tmux -S " + q(sock) + " " + args); };
  const std::string inner = "exec env HOME=" + q(dir.string()) + " XDG_DATA_HOME=" + q((dir / "data").string()) +
                            " TERM=xterm-256color LANG=C.UTF-8 LC_ALL=C.UTF-8 " + q(QLAB_BINARY) + " --model " +
                            q(model.string());
  tmux("-f /dev/null new-session -d -s t -x 100 -y 30 " + q("sh -c " + q(inner)));
  const pid_t pid = static_cast<pid_t>(std::atol(tmux("display-message -p -t t '#{pane_pid}'").c_str()));
  ASSERT_GT(pid, 0);
  auto wait_for = [&](const std::string& text) {
    const auto until = Clock::now() + std::chrono::seconds(15);
    while (Clock::now() < until) {
      if (tmux("capture-pane -p -t t").find(text) != std::string::npos) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  };
  struct Cleanup {  // on any outcome: no qlab left, no job thread left blocked on the FIFO
    pid_t pid;
    fs::path fifo, dir;
    std::string sock;
    ~Cleanup() {
      if (alive(pid)) {
        const int w = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK);
        if (w >= 0) ::close(w);
        ::kill(pid, SIGKILL);
      }
      sh("tmux -S " + q(sock) + " kill-server");
      fs::remove_all(dir);
    }
  } cleanup{pid, fifo, dir, sock};

  ASSERT_TRUE(wait_for("Milestones")) << tmux("capture-pane -p -t t");
  tmux("send-keys -t t j Enter");  // lab 2
  ASSERT_TRUE(wait_for("Lab 2")) << tmux("capture-pane -p -t t");
  tmux("send-keys -t t j j j r");  // its fourth step: perplexity, which loads the model
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  tmux("kill-session -t t");  // the terminal goes away (SIGHUP)

  const auto until = Clock::now() + std::chrono::seconds(8);
  while (alive(pid) && Clock::now() < until) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_FALSE(alive(pid)) << "qlab is still running with no terminal";
}

}  // namespace
