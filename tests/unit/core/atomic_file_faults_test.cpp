// Fault injection in the atomic write path: each system call write_file_atomic makes (open, write,
// fsync, close, rename, and the folder's open and fsync) fails in turn. Whatever fails, the file
// is the old version or the new one, never a mix, no temporary is left behind, and the caller
// gets an Error naming the file — except where the failure does not matter (EINTR is retried, a
// folder that cannot be synced with EINVAL is a filesystem that has no such thing).
//
// The calls are intercepted at link time: this test binary is linked with --wrap for each of them
// (tests/CMakeLists.txt), so the library's own calls reach the wrappers below, which pass every call
// through unless a fault is armed. Nothing in the library knows about it.
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <sys/types.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include <gtest/gtest.h>

#include "engine/core/atomic_file.h"
#include "engine/core/error.h"

namespace {

enum class Op { None, Open, Write, Fsync, Close, Rename };

// The armed fault: the nth call (1-based) of op, counted from arming, fails with err.
struct Fault {
  Op op = Op::None;
  int nth = 0;
  int err = 0;
  int seen = 0;
  bool fired = false;
};
Fault g_fault;

bool should_fail(Op op) {
  if (g_fault.op != op || g_fault.fired) return false;
  if (++g_fault.seen != g_fault.nth) return false;
  g_fault.fired = true;
  return true;
}

}  // namespace

extern "C" {
int __real_open(const char* path, int flags, ...);
ssize_t __real_write(int fd, const void* buf, size_t n);
int __real_fsync(int fd);
int __real_close(int fd);
int __real_rename(const char* from, const char* to);

int __wrap_open(const char* path, int flags, ...) {
  mode_t mode = 0;
  if (flags & (O_CREAT | O_TMPFILE)) {
    va_list ap;
    va_start(ap, flags);
    mode = static_cast<mode_t>(va_arg(ap, unsigned));
    va_end(ap);
  }
  if (should_fail(Op::Open)) {
    errno = g_fault.err;
    return -1;
  }
  return __real_open(path, flags, mode);
}

ssize_t __wrap_write(int fd, const void* buf, size_t n) {
  if (should_fail(Op::Write)) {
    errno = g_fault.err;
    return -1;
  }
  return __real_write(fd, buf, n);
}

int __wrap_fsync(int fd) {
  if (should_fail(Op::Fsync)) {
    errno = g_fault.err;
    return -1;
  }
  return __real_fsync(fd);
}

int __wrap_close(int fd) {
  if (should_fail(Op::Close)) {
    __real_close(fd);  // Linux: the descriptor is gone even when close reports an error
    errno = g_fault.err;
    return -1;
  }
  return __real_close(fd);
}

int __wrap_rename(const char* from, const char* to) {
  if (should_fail(Op::Rename)) {
    errno = g_fault.err;
    return -1;
  }
  return __real_rename(from, to);
}
}

namespace qlab {
namespace {

namespace fs = std::filesystem;

struct Case {
  const char* name;
  Op op;
  int nth, err;
  bool new_version;  // what the file holds afterwards
  bool error;        // whether write_file_atomic reports an Error
};

// Calls in order for one small write: open(temp), write, fsync(temp), close(temp), rename,
// open(folder), fsync(folder), close(folder). A write of 300 kB makes several write calls.
const Case kCases[] = {
    {"open_temporary", Op::Open, 1, EACCES, false, true},
    {"open_temporary_disk_full", Op::Open, 1, ENOSPC, false, true},
    {"first_write", Op::Write, 1, EIO, false, true},
    {"later_write", Op::Write, 3, ENOSPC, false, true},
    {"write_interrupted", Op::Write, 2, EINTR, true, false},
    {"fsync_file", Op::Fsync, 1, EIO, false, true},
    {"close_file", Op::Close, 1, EIO, false, true},
    {"rename", Op::Rename, 1, EXDEV, false, true},
    {"open_folder", Op::Open, 2, EMFILE, true, true},
    {"open_folder_not_readable", Op::Open, 2, EACCES, true, false},
    {"fsync_folder", Op::Fsync, 2, EIO, true, true},
    {"fsync_folder_unsupported", Op::Fsync, 2, EINVAL, true, false},
};

class AtomicFileFaults : public ::testing::TestWithParam<Case> {
 protected:
  void SetUp() override {
    dir = fs::temp_directory_path() /
          ("qlab-faults-" + std::to_string(::getpid()) + "-" + GetParam().name);
    fs::remove_all(dir);
    fs::create_directories(dir);
  }
  void TearDown() override {
    g_fault = Fault{};
    fs::remove_all(dir);
  }
  fs::path dir;
};

TEST_P(AtomicFileFaults, FileIsOldOrNewAndTheErrorIsReported) {
  const Case& c = GetParam();
  const fs::path p = dir / "data.bin";
  const std::string old_bytes(1000, 'o'), new_bytes(300000, 'n');  // several write calls
  write_file_atomic(p, old_bytes);

  g_fault = Fault{c.op, c.nth, c.err};
  bool threw = false;
  std::string message;
  try {
    // in pieces, as the safetensors writer streams: the buffer goes out in several write calls
    write_file_atomic(p, [&](std::ostream& out) {
      for (std::size_t at = 0; at < new_bytes.size(); at += 1000) out.write(new_bytes.data() + at, 1000);
    });
  } catch (const Error& e) {
    threw = true;
    message = e.what();
  }
  const bool fired = g_fault.fired;
  g_fault = Fault{};
  ASSERT_TRUE(fired) << "the fault was never reached: the write path no longer makes this call";

  EXPECT_EQ(threw, c.error) << message;
  if (threw) {
    EXPECT_NE(message.find(p.string()), std::string::npos) << "the message names no file: " << message;
  }
  EXPECT_EQ(read_file(p), c.new_version ? new_bytes : old_bytes);
  int entries = 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    ++entries;
    EXPECT_EQ(e.path().filename(), "data.bin") << "left behind: " << e.path();
  }
  EXPECT_EQ(entries, 1);
}

INSTANTIATE_TEST_SUITE_P(EachCall, AtomicFileFaults, ::testing::ValuesIn(kCases),
                         [](const ::testing::TestParamInfo<Case>& i) { return std::string(i.param.name); });

// A file that did not exist before: after a failure there is still none.
TEST(AtomicFileFaultsNewFile, FailedFirstWriteLeavesNothing) {
  const fs::path dir = fs::temp_directory_path() / ("qlab-faults-new-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  for (Op op : {Op::Write, Op::Fsync, Op::Close, Op::Rename}) {
    g_fault = Fault{op, 1, EIO};
    EXPECT_THROW(write_file_atomic(dir / "new.bin", "content"), Error);
    EXPECT_TRUE(g_fault.fired);
    g_fault = Fault{};
    EXPECT_TRUE(fs::is_empty(dir));
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace qlab
