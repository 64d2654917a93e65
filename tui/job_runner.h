#pragma once
// Runs one lab step at a time on a worker thread so the screen stays responsive. The step runs
// through labs::run_step, so its settings are filled in and its ending (done, not available,
// cancelled, out of memory, failed) is mapped in one place for the tutor and the tests alike.
// The job reports through Progress (fraction + label) into a locked snapshot the UI polls each tick;
// Esc calls cancel(), which requests stop on the job's std::stop_token. Only the UI thread touches the
// terminal. The worker blocks the terminal signals so they reach the UI thread.
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <thread>

#include "engine/core/progress.h"
#include "labs/lab.h"
#include "labs/result.h"

namespace qlab::tui {

struct JobSnapshot {
  bool running = false;
  std::string job_id;
  double fraction = -1;  // -1 until the job reports
  std::string label;
  double elapsed_s = 0;
  double rate = 0;       // fraction per second, over the job so far
  double eta_s = -1;     // seconds left, -1 unknown
  bool cancel_requested = false;
  std::shared_ptr<const labs::StepResult> partial;  // the job's results so far, if it shares them
};

struct FinishedJob {
  std::string job_id;
  labs::StepResult result;
  double elapsed_s = 0;
};

class JobRunner {
 public:
  JobRunner() = default;
  ~JobRunner();
  JobRunner(const JobRunner&) = delete;
  JobRunner& operator=(const JobRunner&) = delete;

  // Starts labs::run_step(step, ctx) on the worker; false when a job is already running.
  bool start(std::string job_id, labs::Step step, labs::JobContext ctx);
  bool running() const;
  void cancel();
  // Called from the job (any thread): the results so far, shown while it runs.
  void set_partial(labs::StepResult r);
  JobSnapshot snapshot() const;
  // The finished job's result, once; nullopt while running or when already taken.
  std::optional<FinishedJob> take_finished();
  // For tests and shutdown: waits until no job runs (true) or the timeout passes (false).
  bool wait_idle(std::chrono::milliseconds timeout);

 private:
  class Reporter;
  mutable std::mutex mu_;
  JobSnapshot snap_;
  std::chrono::steady_clock::time_point started_;
  std::optional<FinishedJob> finished_;
  std::jthread worker_;
};

}  // namespace qlab::tui
