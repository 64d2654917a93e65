#include "engine/core/threads.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace qlab {

namespace {

int decide_threads(int requested) {
  if (requested > 0) return requested;
  if (const char* env = std::getenv("QLAB_THREADS")) {
    int n = std::atoi(env);
    if (n > 0) return n;
  }
  unsigned hw = std::thread::hardware_concurrency();
  return hw ? static_cast<int>(hw) : 1;
}

std::atomic<int> g_requested{0};

// A fixed pool of workers fed one batch at a time. A batch is a count of chunks and a body;
// workers (and the caller) take chunk indices from an atomic counter until none remain.
class Pool {
 public:
  explicit Pool(int n) {
    for (int i = 1; i < n; ++i) workers_.emplace_back([this] { work_loop(); });
  }
  ~Pool() {
    {
      std::lock_guard lk(mu_);
      quit_ = true;
    }
    cv_.notify_all();
    for (auto& t : workers_) t.join();
  }
  int size() const { return static_cast<int>(workers_.size()) + 1; }

  void run(std::size_t chunks, const std::function<void(std::size_t)>& chunk_body) {
    std::unique_lock run_lock(run_mu_);  // one batch at a time; nested calls run inline
    {
      std::lock_guard lk(mu_);
      body_ = &chunk_body;
      n_chunks_ = chunks;
      next_.store(0);
      active_ = static_cast<int>(workers_.size());
      error_ = nullptr;
      ++generation_;
    }
    cv_.notify_all();
    bool was_worker = in_worker;
    in_worker = true;  // a parallel_for inside the body runs inline instead of deadlocking
    drain();
    in_worker = was_worker;
    std::unique_lock lk(mu_);
    done_cv_.wait(lk, [&] { return active_ == 0; });
    body_ = nullptr;
    if (error_) std::rethrow_exception(error_);
  }

 private:
  void drain() {
    for (;;) {
      std::size_t i = next_.fetch_add(1);
      if (i >= n_chunks_) break;
      try {
        (*body_)(i);
      } catch (...) {
        std::lock_guard lk(mu_);
        if (!error_) error_ = std::current_exception();
        next_.store(n_chunks_);
      }
    }
  }
  void work_loop() {
    std::size_t seen = 0;
    for (;;) {
      {
        std::unique_lock lk(mu_);
        cv_.wait(lk, [&] { return quit_ || generation_ != seen; });
        if (quit_) return;
        seen = generation_;
      }
      in_worker = true;
      drain();
      in_worker = false;
      std::lock_guard lk(mu_);
      if (--active_ == 0) done_cv_.notify_all();
    }
  }

 public:
  static thread_local bool in_worker;

 private:
  std::vector<std::thread> workers_;
  std::mutex mu_, run_mu_;
  std::condition_variable cv_, done_cv_;
  const std::function<void(std::size_t)>* body_ = nullptr;
  std::size_t n_chunks_ = 0;
  std::atomic<std::size_t> next_{0};
  int active_ = 0;
  std::size_t generation_ = 0;
  bool quit_ = false;
  std::exception_ptr error_;
};

thread_local bool Pool::in_worker = false;

Pool& pool() {
  static Pool p(decide_threads(g_requested.load()));
  return p;
}

}  // namespace

int thread_count() { return pool().size(); }

void set_thread_count(int n) { g_requested.store(n); }

void parallel_for(std::size_t n, const std::function<void(std::size_t, std::size_t)>& body,
                  std::size_t grain) {
  if (n == 0) return;
  grain = std::max<std::size_t>(grain, 1);
  Pool& p = pool();
  std::size_t max_chunks = (n + grain - 1) / grain;
  std::size_t chunks = std::min<std::size_t>(max_chunks, static_cast<std::size_t>(p.size()) * 4);
  if (chunks <= 1 || p.size() == 1 || Pool::in_worker) {
    body(0, n);
    return;
  }
  std::size_t step = (n + chunks - 1) / chunks;
  chunks = (n + step - 1) / step;
  p.run(chunks, [&](std::size_t c) {
    std::size_t b = c * step;
    std::size_t e = std::min(n, b + step);
    body(b, e);
  });
}

}  // namespace qlab
