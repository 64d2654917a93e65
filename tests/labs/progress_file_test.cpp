// The progress file: schema, merge under the lock, corrupt files moved aside, crash safety.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>

#include <fmt/format.h>

#include "engine/core/atomic_file.h"
#include "labs/milestones.h"
#include "labs/progress_file.h"
#include "tests/temp_dir.h"

namespace qlab::labs {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

class ProgressFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::filesystem::path tmpl = qlab::testing::make_temp_dir("qlab-progress");
    ASSERT_FALSE(tmpl.empty()) << "cannot make a temporary folder";
    dir_ = tmpl;
    path_ = dir_ / "qlab" / "progress.json";
  }
  void TearDown() override { fs::remove_all(dir_); }
  json on_disk() const { return json::parse(read_file(path_)); }
  fs::path dir_, path_;
};

TEST_F(ProgressFileTest, FreshFileHasSchemaOneAndIsWrittenOnlyWhenChanged) {
  ProgressFile pf(path_);
  pf.load();
  pf.save();  // nothing changed: nothing written
  EXPECT_FALSE(fs::exists(path_));
  pf.set_milestone("m1", true, "ticked");
  pf.save();
  json j = on_disk();
  EXPECT_EQ(j["schema"], 1);
  EXPECT_EQ(j["milestones"]["m1"]["done"], true);
  EXPECT_EQ(j["milestones"]["m1"]["how"], "ticked");
  EXPECT_EQ(j["milestones"]["m1"]["when"].get<std::string>().size(), 20u);  // 2026-01-02T03:04:05Z
}

TEST_F(ProgressFileTest, TwoSessionsWithStaleCopiesKeepBothTicks) {
  ProgressFile a(path_), b(path_);
  a.load();
  b.load();
  b.set_milestone("m1", true, "ticked");
  b.save();
  a.set_milestone("m2", true, "completed");  // a never re-loaded: its copy predates b's tick
  a.save();
  json j = on_disk();
  EXPECT_EQ(j["milestones"]["m1"]["done"], true);
  EXPECT_EQ(j["milestones"]["m2"]["done"], true);
  EXPECT_TRUE(milestone_done(a, "m1"));  // a's view now includes b's tick
}

TEST_F(ProgressFileTest, UnknownKeysSurviveARewrite) {
  fs::create_directories(path_.parent_path());
  write_file_atomic(path_, R"({"schema": 1, "milestones": {"m9": {"done": true, "how": "completed"}},
                               "from_a_newer_qlab": {"x": [1, 2]}})");
  ProgressFile pf(path_);
  pf.load();
  pf.set_last("lab01", "lab01.bits");
  pf.save();
  json j = on_disk();
  EXPECT_EQ(j["from_a_newer_qlab"]["x"][1], 2);
  EXPECT_EQ(j["milestones"]["m9"]["done"], true);
  EXPECT_EQ(j["last"]["step"], "lab01.bits");
}

TEST_F(ProgressFileTest, CorruptFileIsMovedAsideWithANotice) {
  fs::create_directories(path_.parent_path());
  write_file_atomic(path_, "{\"schema\": 1, \"milestones\": [tru");
  ProgressFile pf(path_);
  pf.load();
  auto notices = pf.take_notices();
  ASSERT_EQ(notices.size(), 1u);
  EXPECT_NE(notices[0].find("could not be read"), std::string::npos) << notices[0];
  EXPECT_FALSE(fs::exists(path_));
  int aside = 0;
  for (const auto& e : fs::directory_iterator(path_.parent_path()))
    if (e.path().filename().string().rfind("progress.json.corrupt-", 0) == 0) {
      ++aside;
      EXPECT_EQ(read_file(e.path()), "{\"schema\": 1, \"milestones\": [tru");  // nothing dropped
      EXPECT_NE(notices[0].find(e.path().filename().string()), std::string::npos);
    }
  EXPECT_EQ(aside, 1);
  pf.set_milestone("m1", true, "ticked");
  pf.save();
  EXPECT_EQ(on_disk()["milestones"]["m1"]["done"], true);
}

TEST_F(ProgressFileTest, WrongShapesCountAsCorrupt) {
  EXPECT_NE(ProgressFile::check_schema(json::array()), "");
  EXPECT_NE(ProgressFile::check_schema(json{{"schema", "1"}}), "");
  EXPECT_NE(ProgressFile::check_schema(json{{"schema", 1}, {"milestones", {{"m1", {{"done", "yes"}}}}}}), "");
  EXPECT_NE(ProgressFile::check_schema(json{{"schema", 1}, {"results", 3}}), "");
  EXPECT_EQ(ProgressFile::check_schema(json{{"schema", 1}, {"milestones", {{"m1", {{"done", true}}}}}}), "");
}

TEST_F(ProgressFileTest, NewerSchemaIsReadButNeverWritten) {
  fs::create_directories(path_.parent_path());
  std::string text = R"({"schema": 2, "milestones": {"m1": {"done": true}}})";
  write_file_atomic(path_, text);
  ProgressFile pf(path_);
  pf.load();
  EXPECT_TRUE(pf.read_only());
  EXPECT_TRUE(milestone_done(pf, "m1"));
  EXPECT_EQ(pf.take_notices().size(), 1u);
  pf.set_milestone("m2", true, "ticked");
  EXPECT_THROW(pf.save(), Error);
  EXPECT_EQ(read_file(path_), text);
}

TEST_F(ProgressFileTest, SchemaTooBigForAnIntStillCountsAsNewer) {
  fs::create_directories(path_.parent_path());
  std::string text = R"({"schema": 4294967297, "milestones": {}})";  // 2^32 + 1: 1 if narrowed to 32 bits
  write_file_atomic(path_, text);
  ProgressFile pf(path_);
  pf.load();
  EXPECT_TRUE(pf.read_only());
  pf.set_milestone("m1", true, "ticked");
  EXPECT_THROW(pf.save(), Error);
  EXPECT_EQ(read_file(path_), text);
}

TEST_F(ProgressFileTest, NumberOutOfRangeIsACorruptFileNotACrash) {
  fs::create_directories(path_.parent_path());
  write_file_atomic(path_, R"({"schema": 1, "results": {"lab01.bits": {"x": 1e400}}})");
  ProgressFile pf(path_);
  pf.load();
  auto notices = pf.take_notices();
  ASSERT_EQ(notices.size(), 1u);
  EXPECT_NE(notices[0].find("not valid JSON"), std::string::npos) << notices[0];
  EXPECT_FALSE(fs::exists(path_));  // moved aside
}

TEST_F(ProgressFileTest, HandEditedResultsOfTheWrongShapeAreSkippedNotFatal) {
  fs::create_directories(path_.parent_path());
  write_file_atomic(path_, R"({"schema": 1, "results": {"lab01.bits": 3,
                               "lab01.properties": {"when": 5, "model": null, "x": 1}}})");
  ProgressFile pf(path_);
  pf.load();
  EXPECT_TRUE(pf.take_notices().empty());
  EXPECT_EQ(pf.result("lab01.bits"), nullptr);  // a number is not a recorded result
  ASSERT_NE(pf.result("lab01.properties"), nullptr);
  EXPECT_EQ(result_text(*pf.result("lab01.properties"), "when"), "?");
  EXPECT_EQ(result_text(*pf.result("lab01.properties"), "model"), "?");
  std::string md = export_markdown(pf, content());
  EXPECT_NE(md.find("Run ? on the ? model."), std::string::npos) << md;
  EXPECT_NE(md.find("| x | 1 |"), std::string::npos) << md;  // export writes tables, not JSON
}

TEST_F(ProgressFileTest, ResetClearsEverything) {
  ProgressFile pf(path_);
  pf.load();
  pf.set_milestone("m1", true, "ticked");
  pf.set_result("lab01.bits", json{{"input", "1"}});
  pf.save();
  ProgressFile other(path_);
  other.load();
  other.reset();
  other.save();
  json j = on_disk();
  EXPECT_TRUE(j["milestones"].empty());
  EXPECT_TRUE(j["results"].empty());
}

TEST_F(ProgressFileTest, DefaultPathFollowsXdgAndIgnoresRelativeValues) {
  const char* old_xdg = std::getenv("XDG_DATA_HOME");
  const char* old_home = std::getenv("HOME");
  std::string keep_xdg = old_xdg ? old_xdg : "", keep_home = old_home ? old_home : "";
  ::setenv("HOME", "/home/learner", 1);
  ::setenv("XDG_DATA_HOME", "/data", 1);
  EXPECT_EQ(ProgressFile::default_path(), fs::path("/data/qlab/progress.json"));
  ::setenv("XDG_DATA_HOME", "relative/dir", 1);
  EXPECT_EQ(ProgressFile::default_path(), fs::path("/home/learner/.local/share/qlab/progress.json"));
  ::setenv("XDG_DATA_HOME", "", 1);
  EXPECT_EQ(ProgressFile::default_path(), fs::path("/home/learner/.local/share/qlab/progress.json"));
  if (old_xdg) ::setenv("XDG_DATA_HOME", keep_xdg.c_str(), 1); else ::unsetenv("XDG_DATA_HOME");
  if (old_home) ::setenv("HOME", keep_home.c_str(), 1); else ::unsetenv("HOME");
}

// A child saves state after state (each state: counter n and results r1..rn, plus padding so a save
// takes a while); the parent kills it at a random moment. The file must always be one whole state.
// Every other round the parent first waits for the child's first save (it reports each on a pipe),
// so the kill lands mid-save even on a loaded machine where fork and load alone outlast the delay;
// the other rounds kill from the start, before or during the first save.
TEST_F(ProgressFileTest, KilledDuringSavesTheFileIsAlwaysOldOrNew) {
  {
    ProgressFile pf(path_);
    pf.load();
    pf.set_setting("counter", 0);
    pf.save();
  }
  std::mt19937 rng(1234);
  std::uniform_int_distribution<int> delay_us(0, 6000);
  int last = 0, iterations = 120, saw_progress = 0;
  for (int it = 0; it < iterations; ++it) {
    int saved_pipe[2];
    ASSERT_EQ(::pipe(saved_pipe), 0);
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::close(saved_pipe[0]);
      ::fcntl(saved_pipe[1], F_SETFL, O_NONBLOCK);  // a full pipe must never stall the writer
      try {
        ProgressFile pf(path_);
        const std::string padding(32 * 1024, 'p');
        for (;;) {
          pf.load();
          int n = pf.data()["settings"]["counter"].get<int>() + 1;
          pf.set_setting("counter", n);
          pf.set_setting("padding", padding);
          pf.set_result("r" + std::to_string(n), json{{"n", n}});
          pf.save();
          const char one = 1;
          [[maybe_unused]] ssize_t w = ::write(saved_pipe[1], &one, 1);
        }
      } catch (...) {
        ::_exit(3);
      }
    }
    ::close(saved_pipe[1]);
    bool first_save_seen = true;
    if (it % 2 == 1) {  // wait (up to a minute) for the first save to finish
      pollfd p{saved_pipe[0], POLLIN, 0};
      first_save_seen = ::poll(&p, 1, 60'000) == 1;
    }
    ::usleep(static_cast<useconds_t>(delay_us(rng)));
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    ::close(saved_pipe[0]);
    ASSERT_TRUE(first_save_seen) << "the writer saved nothing in a minute";
    ASSERT_TRUE(WIFSIGNALED(status)) << "the writer stopped by itself (status " << status << ")";
    // the raw file: parses, passes the schema check, and is one consistent state
    json j = json::parse(read_file(path_));
    ASSERT_EQ(ProgressFile::check_schema(j), "");
    int n = j["settings"]["counter"].get<int>();
    ASSERT_GE(n, last) << "went back in time";
    ASSERT_EQ(static_cast<int>(j["results"].size()), n) << "half a state on disk";
    for (int k = 1; k <= n; ++k) ASSERT_EQ(j["results"][fmt::format("r{}", k)]["n"], k);
    if (n > last) ++saw_progress;
    last = n;
  }
  EXPECT_GT(saw_progress, 0);
  EXPECT_GT(last, 0);
  // temporaries of killed writers are cleaned up by the next reader under the lock
  ProgressFile pf(path_);
  pf.load();
  for (const auto& e : fs::directory_iterator(path_.parent_path()))
    EXPECT_EQ(e.path().filename().string().find(".tmp-"), std::string::npos) << e.path();
}

// Two processes, each with one long-lived session object, tick 40 milestones each, saving after
// every tick. Every tick must be on disk at the end.
TEST_F(ProgressFileTest, TwoWritersAtOnceLoseNoTick) {
  const int per_writer = 40;
  std::vector<pid_t> kids;
  for (int w = 0; w < 2; ++w) {
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      try {
        ProgressFile pf(path_);
        pf.load();
        for (int i = 0; i < per_writer; ++i) {
          pf.set_milestone("w" + std::to_string(w) + "-" + std::to_string(i), true, "ticked");
          pf.save();
        }
        ::_exit(0);
      } catch (...) {
        ::_exit(3);
      }
    }
    kids.push_back(pid);
  }
  for (pid_t p : kids) {
    int status = 0;
    ::waitpid(p, &status, 0);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  json j = on_disk();
  for (int w = 0; w < 2; ++w)
    for (int i = 0; i < per_writer; ++i) {
      std::string id = fmt::format("w{}-{}", w, i);
      ASSERT_TRUE(j["milestones"].contains(id)) << id << " was lost";
      EXPECT_EQ(j["milestones"][id]["done"], true);
    }
}

// ---- issue 12: special paths, locks, partial damage ------------------------------------------

std::vector<std::string> corrupt_copies(const fs::path& folder, const std::string& stem) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(folder))
    if (e.path().filename().string().rfind(stem + ".corrupt-", 0) == 0) out.push_back(read_file(e.path()));
  return out;
}

// Item 16: one field that cannot be read costs that entry, not the whole file.
TEST_F(ProgressFileTest, OneBadFieldKeepsTheOtherTicks) {
  fs::create_directories(path_.parent_path());
  const std::string text = R"({"schema": 1, "milestones": {"m1": {"done": "yes"}, "m2": {"done": true, "how": "ticked"},
                               "m3": {"done": true, "when": 5}}, "last": 7,
                               "results": {"lab01.bits": {"x": 1}}, "mine": [1]})";
  write_file_atomic(path_, text);
  ProgressFile pf(path_);
  pf.load();
  auto notices = pf.take_notices();
  ASSERT_EQ(notices.size(), 1u);
  EXPECT_NE(notices[0].find("milestone \"m1\""), std::string::npos) << notices[0];
  EXPECT_NE(notices[0].find("milestone \"m3\""), std::string::npos) << notices[0];
  EXPECT_NE(notices[0].find("\"last\""), std::string::npos) << notices[0];
  EXPECT_TRUE(milestone_done(pf, "m2"));
  EXPECT_FALSE(pf.milestone("m1"));
  EXPECT_NE(pf.result("lab01.bits"), nullptr);
  // the original, byte for byte, beside the file; the file keeps everything readable
  EXPECT_EQ(corrupt_copies(path_.parent_path(), "progress.json"), std::vector<std::string>{text});
  json j = on_disk();
  EXPECT_EQ(j["milestones"]["m2"]["how"], "ticked");
  EXPECT_FALSE(j["milestones"].contains("m1"));
  EXPECT_FALSE(j.contains("last"));
  EXPECT_EQ(j["mine"][0], 1);
  // once repaired it loads quietly, and no second copy is made
  ProgressFile again(path_);
  again.load();
  EXPECT_TRUE(again.take_notices().empty());
  EXPECT_EQ(corrupt_copies(path_.parent_path(), "progress.json").size(), 1u);
}

// Item 1: a symlinked progress file keeps being a link; its target gets the updates.
TEST_F(ProgressFileTest, SymlinkedFileIsUpdatedThroughTheLink) {
  fs::create_directories(dir_ / "dotfiles");
  fs::create_directories(path_.parent_path());
  write_file_atomic(dir_ / "dotfiles" / "progress.json", R"({"schema": 1, "milestones": {}})");
  fs::create_symlink(dir_ / "dotfiles" / "progress.json", path_);
  ProgressFile pf(path_);
  pf.load();
  pf.set_milestone("m1", true, "ticked");
  pf.save();
  EXPECT_TRUE(fs::is_symlink(path_));
  EXPECT_EQ(json::parse(read_file(dir_ / "dotfiles" / "progress.json"))["milestones"]["m1"]["done"], true);
}

// Item 1: a device given as the progress file is neither read as "corrupt" nor renamed nor replaced,
// and no lock file appears beside it. (A null device made here when allowed, else /dev/null.)
TEST_F(ProgressFileTest, DeviceIsRefusedAndLeftAlone) {
  fs::create_directories(dir_ / "x");
  fs::path dev = dir_ / "x" / "null";
  if (::mknod(dev.c_str(), S_IFCHR | 0666, makedev(1, 3)) != 0) dev = "/dev/null";
  struct stat before {};
  ASSERT_EQ(::stat(dev.c_str(), &before), 0);
  ProgressFile pf(dev);
  EXPECT_THROW(pf.load(), Error);
  pf.set_milestone("m1", true, "ticked");
  EXPECT_THROW(pf.save(), Error);
  struct stat after {};
  ASSERT_EQ(::stat(dev.c_str(), &after), 0);
  EXPECT_TRUE(S_ISCHR(after.st_mode));
  EXPECT_EQ(after.st_ino, before.st_ino);
  if (dev.parent_path() == dir_ / "x") {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(dev.parent_path())) names.push_back(e.path().filename().string());
    EXPECT_EQ(names, std::vector<std::string>{"null"});
  }
}

// Item 10: a FIFO as the progress file is an error at once, not a hang.
TEST_F(ProgressFileTest, FifoIsRefusedWithoutBlocking) {
  fs::create_directories(path_.parent_path());
  ASSERT_EQ(::mkfifo(path_.c_str(), 0600), 0);
  const auto t0 = std::chrono::steady_clock::now();
  ProgressFile pf(path_);
  EXPECT_THROW(pf.load(), Error);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2));
  EXPECT_TRUE(fs::is_fifo(path_));
}

// Item 5: reading needs no write access: a lock file that cannot be opened (here a folder in its
// place; in life a read-only mount or another user's 0600 lock) still lets progress be shown.
TEST_F(ProgressFileTest, ReadingNeedsNoLock) {
  fs::create_directories(path_.parent_path());
  write_file_atomic(path_, R"({"schema": 1, "milestones": {"m1": {"done": true}}})");
  fs::path lock = path_;
  lock += ".lock";
  fs::create_directories(lock);
  ProgressFile pf(path_);
  ASSERT_NO_THROW(pf.load());
  EXPECT_TRUE(milestone_done(pf, "m1"));
  pf.set_milestone("m2", true, "ticked");
  EXPECT_THROW(pf.save(), Error);  // changing it does need the lock
}

// Item 11: a lock held by a stuck session makes save() fail after the timeout, with a message
// saying what to do, and never blocks reading.
TEST_F(ProgressFileTest, StuckLockHolderTimesOutWithAClearError) {
  fs::create_directories(path_.parent_path());
  write_file_atomic(path_, R"({"schema": 1})");
  fs::path lock = path_;
  lock += ".lock";
  const int fd = ::open(lock.c_str(), O_RDWR | O_CREAT, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::flock(fd, LOCK_EX), 0);  // another session, stuck
  ProgressFile pf(path_);
  const auto t0 = std::chrono::steady_clock::now();
  pf.load();  // does not wait
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(1));
  pf.set_lock_timeout(std::chrono::milliseconds(300));
  pf.set_milestone("m1", true, "ticked");
  const auto t1 = std::chrono::steady_clock::now();
  try {
    pf.save();
    ADD_FAILURE() << "saved under another session's lock";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(lock.string()), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("another qlab"), std::string::npos) << e.what();
  }
  const auto waited = std::chrono::steady_clock::now() - t1;
  EXPECT_GE(waited, std::chrono::milliseconds(250));
  EXPECT_LT(waited, std::chrono::seconds(3));
  ::close(fd);  // the holder goes away: the same session saves
  pf.save();
  EXPECT_EQ(on_disk()["milestones"]["m1"]["done"], true);
}

// Item 15: a 0600 progress file stays 0600 after a save.
TEST_F(ProgressFileTest, SaveKeepsThePermissionBits) {
  fs::create_directories(path_.parent_path());
  write_file_atomic(path_, R"({"schema": 1})");
  ASSERT_EQ(::chmod(path_.c_str(), 0600), 0);
  ProgressFile pf(path_);
  pf.load();
  pf.set_milestone("m1", true, "ticked");
  pf.save();
  struct stat st {};
  ASSERT_EQ(::stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
}

// Item 6: a progress file far larger than any real one is refused before it is read.
TEST_F(ProgressFileTest, HugeFileIsRefusedUnread) {
  fs::create_directories(path_.parent_path());
  { std::ofstream(path_) << "{}"; }
  fs::resize_file(path_, std::uintmax_t{1} << 30);  // sparse: no disk used
  ProgressFile pf(path_);
  try {
    pf.load();
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("more than"), std::string::npos) << e.what();
  }
  EXPECT_EQ(fs::file_size(path_), std::uintmax_t{1} << 30);  // not moved aside as "corrupt"
}

}  // namespace
}  // namespace qlab::labs
