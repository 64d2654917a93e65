#include "tui/job_runner.h"

#include <pthread.h>
#include <signal.h>


namespace qlab::tui {

class JobRunner::Reporter final : public Progress {
 public:
  explicit Reporter(JobRunner& r) : r_(r) {}
  void report(double fraction, std::string_view label) override {
    std::lock_guard<std::mutex> lock(r_.mu_);
    r_.snap_.fraction = fraction;
    r_.snap_.label = std::string(label);
  }

 private:
  JobRunner& r_;
};

JobRunner::~JobRunner() {
  if (worker_.joinable()) {
    worker_.request_stop();
    worker_.join();
  }
}

bool JobRunner::start(std::string job_id, labs::Step step, labs::JobContext ctx) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (snap_.running) return false;
    snap_ = JobSnapshot{};
    snap_.running = true;
    snap_.job_id = job_id;
    started_ = std::chrono::steady_clock::now();
    finished_.reset();
  }
  if (worker_.joinable()) worker_.join();
  // Block terminal signals while spawning so the worker inherits the mask and they reach the UI thread.
  sigset_t block, old;
  sigemptyset(&block);
  for (int s : {SIGWINCH, SIGINT, SIGTERM, SIGHUP, SIGTSTP, SIGCONT, SIGQUIT}) sigaddset(&block, s);
  pthread_sigmask(SIG_BLOCK, &block, &old);
  worker_ = std::jthread([this, id = std::move(job_id), step = std::move(step),
                          ctx = std::move(ctx)](std::stop_token stop) {
    Reporter rep(*this);
    labs::StepResult r = labs::run_step(step, ctx, rep, stop);
    std::lock_guard<std::mutex> lock(mu_);
    double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
    finished_ = FinishedJob{id, std::move(r), el};
    snap_.running = false;
  });
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  return true;
}

bool JobRunner::running() const {
  std::lock_guard<std::mutex> lock(mu_);
  return snap_.running;
}

void JobRunner::cancel() {
  std::lock_guard<std::mutex> lock(mu_);
  if (!snap_.running) return;
  snap_.cancel_requested = true;
  worker_.request_stop();
}

void JobRunner::set_partial(labs::StepResult r) {
  auto p = std::make_shared<const labs::StepResult>(std::move(r));
  std::lock_guard<std::mutex> lock(mu_);
  if (snap_.running) snap_.partial = std::move(p);
}

JobSnapshot JobRunner::snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  JobSnapshot s = snap_;
  if (s.running) {
    s.elapsed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
    if (s.fraction > 0 && s.elapsed_s > 0.2) {
      s.rate = s.fraction / s.elapsed_s;
      s.eta_s = (1.0 - s.fraction) / s.rate;
    }
  }
  return s;
}

std::optional<FinishedJob> JobRunner::take_finished() {
  std::lock_guard<std::mutex> lock(mu_);
  std::optional<FinishedJob> f;
  f.swap(finished_);
  return f;
}

bool JobRunner::wait_idle(std::chrono::milliseconds timeout) {
  auto until = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < until) {
    if (!running()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return !running();
}

}  // namespace qlab::tui
