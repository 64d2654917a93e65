#include "engine/core/threads.h"

#include <fcntl.h>
#include <grp.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <numeric>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "engine/core/error.h"

namespace qlab {

TEST(Threads, ParallelForCoversEveryIndexOnce) {
  set_thread_count(4);
  std::vector<std::atomic<int>> hits(10007);
  parallel_for(hits.size(), [&](std::size_t b, std::size_t e) {
    for (std::size_t i = b; i < e; ++i) hits[i].fetch_add(1);
  });
  for (auto& h : hits) ASSERT_EQ(h.load(), 1);
}

TEST(Threads, NestedParallelForRunsInline) {
  std::atomic<long> sum{0};
  parallel_for(8, [&](std::size_t b, std::size_t e) {
    for (std::size_t i = b; i < e; ++i)
      parallel_for(100, [&](std::size_t b2, std::size_t e2) {
        for (std::size_t j = b2; j < e2; ++j) sum.fetch_add(static_cast<long>(j));
      });
  });
  EXPECT_EQ(sum.load(), 8L * 4950L);
}

TEST(Threads, ExceptionsReachTheCaller) {
  EXPECT_THROW(parallel_for(1000, [](std::size_t b, std::size_t) {
                 if (b > 0) throw Error("boom");
               }),
               Error);
  // the pool still works afterwards
  std::atomic<int> n{0};
  parallel_for(64, [&](std::size_t b, std::size_t e) { n.fetch_add(static_cast<int>(e - b)); });
  EXPECT_EQ(n.load(), 64);
}

// Batches in quick succession (as a forward pass issues them) reuse the pool's state; every one
// must still cover its range exactly once and return only when all of it is done.
TEST(Threads, BackToBackBatchesEachCoverTheirRange) {
  std::vector<int> hits(257);
  for (int round = 0; round < 2000; ++round) {
    const std::size_t n = 1 + static_cast<std::size_t>(round % 257);
    parallel_for(n, [&](std::size_t b, std::size_t e) {
      for (std::size_t i = b; i < e; ++i) ++hits[i];
    });
    for (std::size_t i = 0; i < n; ++i) ASSERT_EQ(hits[i], 1) << "round " << round << " index " << i;
    for (std::size_t i = 0; i < n; ++i) hits[i] = 0;
  }
}

// Two threads outside the pool may call parallel_for at once; their batches must not mix.
TEST(Threads, CallersOnTwoThreadsDoNotMix) {
  auto work = [](long* out) {
    for (int round = 0; round < 300; ++round) {
      std::atomic<long> sum{0};
      parallel_for(1000, [&](std::size_t b, std::size_t e) {
        for (std::size_t i = b; i < e; ++i) sum.fetch_add(static_cast<long>(i));
      });
      if (sum.load() != 999L * 1000L / 2) {
        *out = sum.load();
        return;
      }
    }
    *out = 999L * 1000L / 2;
  };
  long a = 0, b = 0;
  std::thread t1(work, &a), t2(work, &b);
  t1.join();
  t2.join();
  EXPECT_EQ(a, 999L * 1000L / 2);
  EXPECT_EQ(b, 999L * 1000L / 2);
}

// Work below the hand-off threshold runs on the calling thread; work well above it is split.
TEST(Threads, SmallWorkRunsInlineLargeWorkSplits) {
  ASSERT_GT(thread_count(), 1);
  const auto caller = std::this_thread::get_id();
  const std::size_t n = 100;
  std::atomic<int> chunks{0}, elsewhere{0};
  auto body = [&](std::size_t, std::size_t) {
    chunks.fetch_add(1);
    if (std::this_thread::get_id() != caller) elsewhere.fetch_add(1);
  };
  parallel_for(n, body, grain_for_work(kMinChunkWork / static_cast<double>(n) / 2));  // half a chunk in all
  EXPECT_EQ(chunks.load(), 1);
  EXPECT_EQ(elsewhere.load(), 0);
  chunks = 0;
  parallel_for(n, body, grain_for_work(kMinChunkWork));  // one chunk's worth per item
  EXPECT_GT(chunks.load(), 1);
}

// ---- sizing, and threads the system refuses ------------------------------------------------------

// The sum 0 + 1 + ... + (n - 1) through a pool, as a check that every chunk ran exactly once.
long parallel_sum(ThreadPool& pool, std::size_t n) {
  std::atomic<long> sum{0};
  pool.parallel_for(n, [&](std::size_t b, std::size_t e) {
    for (std::size_t i = b; i < e; ++i) sum.fetch_add(static_cast<long>(i));
  });
  return sum.load();
}

// A spawner that starts `allowed` threads, then fails as pthread_create does at the process limit.
ThreadSpawner failing_after(int allowed, std::atomic<int>& started) {
  return [allowed, &started](std::function<void()> work) {
    if (started.load() >= allowed)
      throw std::system_error(std::make_error_code(std::errc::resource_unavailable_try_again), "thread");
    started.fetch_add(1);
    return std::thread(std::move(work));
  };
}

TEST(ThreadStart, RefusedThreadsLeaveAWorkingSmallerPool) {
  std::atomic<int> started{0};
  {
    ThreadPool pool(8, failing_after(3, started));
    EXPECT_EQ(pool.size(), 4);  // the caller and the three workers that started
    const ThreadStartReport r = pool.report();
    EXPECT_EQ(r.requested, 8);
    EXPECT_EQ(r.running, 4);
    EXPECT_NE(r.error.find("thread"), std::string::npos) << r.error;
    for (int round = 0; round < 200; ++round) ASSERT_EQ(parallel_sum(pool, 10007), 10006L * 10007L / 2);
  }  // and it stops: the destructor joins the three workers
  EXPECT_EQ(started.load(), 3);
  // No thread at all: everything runs on the caller.
  std::atomic<int> none{0};
  ThreadPool alone(16, failing_after(0, none));
  EXPECT_EQ(alone.size(), 1);
  EXPECT_EQ(parallel_sum(alone, 1000), 999L * 1000L / 2);
}

// Anything other than a refused thread propagates, after the workers already started are stopped
// (before: the constructor threw past joinable threads and the process hung or aborted).
TEST(ThreadStart, OtherSpawnErrorsPropagateCleanly) {
  std::atomic<int> n{0};
  ThreadSpawner odd = [&n](std::function<void()> work) {
    if (n.fetch_add(1) == 2) throw std::runtime_error("spawner broke");
    return std::thread(std::move(work));
  };
  EXPECT_THROW(ThreadPool(6, odd), std::runtime_error);
}

TEST(ThreadStart, ResizeTakesEffectAndIsRefusedInsideABody) {
  ThreadPool pool(2);
  EXPECT_EQ(pool.size(), 2);
  pool.resize(5);
  EXPECT_EQ(pool.size(), 5);
  EXPECT_EQ(parallel_sum(pool, 5000), 4999L * 5000L / 2);
  pool.resize(1);
  EXPECT_EQ(pool.size(), 1);
  EXPECT_EQ(parallel_sum(pool, 5000), 4999L * 5000L / 2);
  pool.resize(3);
  EXPECT_THROW(pool.parallel_for(64, [&](std::size_t, std::size_t) { pool.resize(2); }), Error);
  EXPECT_EQ(pool.size(), 3);
  EXPECT_THROW(ThreadPool(0), Error);
  EXPECT_THROW(ThreadPool(kMaxThreads + 1), Error);
}

// The process pool follows set_thread_count after its first use too (it used to keep its first size
// and ignore later calls without a word).
TEST(ThreadStart, SetThreadCountAfterFirstUseTakesEffect) {
  parallel_for(100, [](std::size_t, std::size_t) {});
  EXPECT_EQ(set_thread_count(3), 3);
  EXPECT_EQ(thread_count(), 3);
  EXPECT_EQ(thread_start_report().requested, 3);
  EXPECT_EQ(set_thread_count(2), 2);
  EXPECT_EQ(thread_count(), 2);
  EXPECT_THROW(set_thread_count(-1), Error);
  EXPECT_THROW(set_thread_count(kMaxThreads + 1), Error);
  EXPECT_EQ(thread_count(), 2);
  EXPECT_THROW(parallel_for(8, [](std::size_t, std::size_t) { set_thread_count(3); }), Error);
  set_thread_count(4);
}

// QLAB_THREADS has the same bounds as --threads; anything else is an error naming the variable.
TEST(ThreadStart, QlabThreadsIsCheckedLikeTheOption) {
  const char* old = std::getenv("QLAB_THREADS");
  const std::string saved = old ? old : "";
  for (const char* bad : {"0", "-3", "1025", "5000", "abc", "4x", "", " 4", "99999999999"}) {
    ::setenv("QLAB_THREADS", bad, 1);
    try {
      default_thread_count();
      ADD_FAILURE() << "QLAB_THREADS='" << bad << "' was accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("QLAB_THREADS"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("1024"), std::string::npos) << e.what();
    }
  }
  ::setenv("QLAB_THREADS", "1024", 1);
  EXPECT_EQ(default_thread_count(), 1024);
  ::setenv("QLAB_THREADS", "7", 1);
  EXPECT_EQ(default_thread_count(), 7);
  ::unsetenv("QLAB_THREADS");
  EXPECT_GE(default_thread_count(), 1);
  EXPECT_LE(default_thread_count(), kMaxThreads);
  if (old) ::setenv("QLAB_THREADS", saved.c_str(), 1);
}

// The reproduction from the reliability review, for real: a process whose user may run only a few
// processes asks for 64 threads. The child (this test binary again, running only
// ThreadStart.ChildUnderProcessLimit) must finish its work and exit; before the fix it hung in the
// pool's constructor for ever. As root the child first becomes `nobody`, since the limit does not
// bind root.
constexpr const char* kChildEnv = "QLAB_TEST_THREAD_LIMIT_CHILD";

// ThreadSanitizer starts a thread of its own in every process, which the limit would refuse.
#if defined(__SANITIZE_THREAD__)
constexpr bool kThreadSanitizer = true;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
constexpr bool kThreadSanitizer = true;
#else
constexpr bool kThreadSanitizer = false;
#endif
#else
constexpr bool kThreadSanitizer = false;
#endif

TEST(ThreadStart, ProcessLimitDoesNotHang) {
  if (kThreadSanitizer) GTEST_SKIP() << "ThreadSanitizer needs a thread of its own that the process limit refuses";
  std::error_code ec;
  const auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  ASSERT_FALSE(ec) << ec.message();
  // The child's command line and environment, made before fork (the child only calls what is safe
  // between fork and exec).
  const std::string path = self.string(), filter = "--gtest_filter=ThreadStart.ChildUnderProcessLimit";
  std::vector<std::string> env_strings;
  for (char** e = environ; *e; ++e) {
    const std::string_view v(*e);
    if (!v.starts_with("OPENBLAS_NUM_THREADS=") && !v.starts_with("ASAN_OPTIONS=") && !v.starts_with(kChildEnv))
      env_strings.emplace_back(v);
  }
  env_strings.push_back(std::string(kChildEnv) + "=1");
  env_strings.push_back("OPENBLAS_NUM_THREADS=1");  // no BLAS threads of its own at load
  // LeakSanitizer's exit check runs on a thread of its own, which the limit refuses.
  const char* asan = std::getenv("ASAN_OPTIONS");
  env_strings.push_back(std::string("ASAN_OPTIONS=") + (asan && *asan ? std::string(asan) + ":" : "") + "detect_leaks=0");
  // A cross build's tests run under qemu-user (QLAB_TEST_EMULATOR, set by CMake from the toolchain's
  // emulator): the kernel cannot exec the aarch64 binary itself, so the child starts the emulator.
  std::vector<std::string> command;
  if (const char* emu = std::getenv("QLAB_TEST_EMULATOR"); emu && *emu) {
    std::string word;
    for (const char c : std::string_view(emu)) {
      if (c == ' ') {
        if (!word.empty()) command.push_back(std::move(word));
        word.clear();
      } else {
        word += c;
      }
    }
    if (!word.empty()) command.push_back(std::move(word));
  }
  const bool emulated = !command.empty();
  command.push_back(path);
  command.push_back(filter);
  std::vector<char*> envp, argv;
  for (auto& c : command) argv.push_back(c.data());
  argv.push_back(nullptr);
  for (auto& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);
  const bool root = ::geteuid() == 0;
  // The emulator starts threads of its own before the program's; unprivileged, the limit of 1 refuses
  // those too and the emulator stops before the test begins.
  if (emulated && !root) GTEST_SKIP() << "under an emulator this needs root (the limit would refuse the emulator's own threads)";
  const std::string exec_path = command.front();
  const auto out_path = std::filesystem::temp_directory_path() / ("qlab-thread-limit-" + std::to_string(::getpid()));
  const int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  ASSERT_GE(out, 0) << out_path;
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (::dup2(out, STDOUT_FILENO) < 0) ::_exit(93);
    // Unprivileged, a limit of 1 refuses every new thread (the user already runs this process); as
    // nobody, 4 lets a few start (fewer if other processes run as nobody).
    const rlim_t limit = root ? 4 : 1;
    const rlimit lim{limit, limit};
    if (::setrlimit(RLIMIT_NPROC, &lim) != 0) ::_exit(90);
    if (root && (::setgroups(0, nullptr) != 0 || ::setgid(65534) != 0 || ::setuid(65534) != 0)) ::_exit(91);
    ::execve(exec_path.c_str(), argv.data(), envp.data());
    ::_exit(92);
  }
  int status = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  pid_t done = 0;
  while ((done = ::waitpid(pid, &status, WNOHANG)) == 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  if (done == 0) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
    FAIL() << "the process under a process limit hung";
  }
  ::close(out);
  std::ifstream in(out_path);
  const std::string report((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::filesystem::remove(out_path);
  ASSERT_TRUE(WIFEXITED(status)) << "child ended by signal " << (WIFSIGNALED(status) ? WTERMSIG(status) : 0)
                                 << ":\n" << report;
  EXPECT_EQ(WEXITSTATUS(status), 0) << "(90-93: the child could not set up its limit or run the test binary)\n"
                                    << report;
  EXPECT_NE(report.find("[  PASSED  ] 1 test."), std::string::npos) << report;  // it ran, not skipped
}

TEST(ThreadStart, ChildUnderProcessLimit) {
  if (!std::getenv(kChildEnv)) GTEST_SKIP() << "runs as the child of ThreadStart.ProcessLimitDoesNotHang";
  const int running = set_thread_count(64);
  EXPECT_GE(running, 1);
  EXPECT_LT(running, 64);
  const ThreadStartReport r = thread_start_report();
  EXPECT_EQ(r.requested, 64);
  EXPECT_EQ(r.running, running);
  EXPECT_FALSE(r.error.empty());
  std::atomic<long> sum{0};
  parallel_for(100000, [&](std::size_t b, std::size_t e) {
    for (std::size_t i = b; i < e; ++i) sum.fetch_add(static_cast<long>(i));
  });
  EXPECT_EQ(sum.load(), 99999L * 100000L / 2);
}

}  // namespace qlab
