// The job runner's threads: the job reports and shares partial results while the UI thread polls,
// cancels and takes the result. Run under ThreadSanitizer by `./dev.sh tsan`; the bounded wait that
// shutdown relies on is checked here too.
#include "tui/job_runner.h"

#include <atomic>
#include <chrono>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "engine/core/progress.h"
#include "labs/lab.h"

namespace qlab::tui {
namespace {

using namespace std::chrono_literals;

// Runs fn as the job of a step of its own (the runner takes steps, as the tutor gives it them).
template <class F>
bool start(JobRunner& r, std::string id, F fn) {
  labs::Step step;
  step.job = [fn](const labs::JobContext&, Progress& p, std::stop_token stop) { return fn(p, stop); };
  return r.start(std::move(id), std::move(step), labs::JobContext{});
}

TEST(JobRunner, SnapshotsWhileTheJobReportsAndSharesResults) {
  JobRunner r;
  std::atomic<bool> go{false};  // the job waits until the test has seen it running
  ASSERT_TRUE(start(r, "job", [&](Progress& p, std::stop_token) {
    while (!go) std::this_thread::yield();
    for (int i = 1; i <= 2000; ++i) {
      p.report(i / 2000.0, fmt::format("step {}", i));
      if (i % 100 == 0) {
        labs::StepResult part;
        part.blocks.push_back(labs::Text{fmt::format("partial {}", i)});
        r.set_partial(std::move(part));
      }
    }
    labs::StepResult done;
    done.record = {{"n", 2000}};
    return done;
  }));
  EXPECT_FALSE(start(r, "second", [](Progress&, std::stop_token) { return labs::StepResult{}; }));
  go = true;
  double last = -1;
  std::optional<FinishedJob> f;
  while (!(f = r.take_finished())) {
    const JobSnapshot s = r.snapshot();
    if (s.running) {
      EXPECT_GE(s.fraction, last);  // fractions only grow
      last = s.fraction;
    }
  }
  EXPECT_EQ(f->job_id, "job");
  EXPECT_EQ(f->result.record["n"], 2000);
  EXPECT_FALSE(r.running());
}

TEST(JobRunner, CancelReachesTheJobAtItsNextCheck) {
  JobRunner r;
  std::atomic<bool> started{false};
  ASSERT_TRUE(start(r, "loop", [&](Progress&, std::stop_token stop) -> labs::StepResult {
    started = true;
    for (;;) {
      check_cancel(stop);
      std::this_thread::sleep_for(1ms);
    }
  }));
  while (!started) std::this_thread::yield();
  r.cancel();
  EXPECT_TRUE(r.snapshot().cancel_requested);
  ASSERT_TRUE(r.wait_idle(5s));
  auto f = r.take_finished();
  ASSERT_TRUE(f);
  EXPECT_EQ(f->result.outcome, labs::Outcome::Cancelled);
}

TEST(JobRunner, JobsRunOneAfterAnother) {
  JobRunner r;
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(start(r, fmt::format("j{}", i), [i](Progress& p, std::stop_token) {
      p.report(1.0, "done");
      labs::StepResult s;
      s.record = {{"i", i}};
      return s;
    }));
    ASSERT_TRUE(r.wait_idle(5s));
    auto f = r.take_finished();
    ASSERT_TRUE(f);
    EXPECT_EQ(f->result.record["i"], i);
  }
}

// A job that does not look at its stop token: the wait is bounded (false after the timeout), which
// is what lets the tutor end the process instead of waiting for it.
TEST(JobRunner, WaitingForAJobThatIgnoresCancelIsBounded) {
  JobRunner r;
  std::atomic<bool> release{false};
  ASSERT_TRUE(start(r, "stubborn", [&](Progress&, std::stop_token) {
    while (!release) std::this_thread::sleep_for(1ms);
    return labs::StepResult{};
  }));
  r.cancel();
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_FALSE(r.wait_idle(100ms));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
  EXPECT_TRUE(r.running());
  release = true;  // let it end, so the runner can be destroyed
  EXPECT_TRUE(r.wait_idle(5s));
}

}  // namespace
}  // namespace qlab::tui
