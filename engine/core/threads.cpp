#include "engine/core/threads.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
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

// A hint to the core that this is a spin-wait loop; a no-op where there is no such instruction.
inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__) || defined(__arm__)
  asm volatile("yield");
#endif
}

// How long a thread waiting for work (or for the end of a batch) polls before it sleeps. A forward
// pass issues one batch per matrix product with microseconds between them: a worker put to sleep
// on a condition variable takes tens of microseconds (far more on a loaded machine) to wake, which
// would dwarf the products of a small model. Polling a little longer than those gaps keeps workers
// hot; sleeping soon after keeps them off the cores while BLAS runs its own threads on a long
// product, and keeps an idle process idle. Past the first polls each one yields, so a busy
// machine's other threads still get the core.
constexpr auto kSpinFor = std::chrono::microseconds(50);
constexpr int kPausePolls = 256;

// Polls pred() until it holds or the spin time runs out; returns pred()'s last value.
template <typename Pred>
bool spin_until(Pred&& pred) {
  for (int i = 0; i < kPausePolls; ++i) {
    if (pred()) return true;
    cpu_relax();
  }
  const auto deadline = std::chrono::steady_clock::now() + kSpinFor;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::yield();
  }
  return true;
}

// A fixed pool of workers fed one batch at a time. A batch is a count of chunks and a body; the
// workers and the caller claim chunk indices until none remain.
//
// The batch's generation, its next unclaimed chunk and its chunk count share one 64-bit word, so a
// claim is one compare-and-swap that also proves the batch is still the current one. That lets the
// caller return as soon as every chunk is done, without waiting for workers that never woke up in
// time: a late worker's claim fails against the newer generation and it simply waits again.
class Pool {
 public:
  explicit Pool(int n) {
    for (int i = 1; i < n; ++i) workers_.emplace_back([this] { work_loop(); });
  }
  ~Pool() {
    {
      std::lock_guard lk(mu_);
      quit_.store(true);
    }
    cv_.notify_all();
    for (auto& t : workers_) t.join();
  }
  int size() const { return static_cast<int>(workers_.size()) + 1; }

  void run(std::size_t chunks, const std::function<void(std::size_t)>& chunk_body) {
    std::unique_lock run_lock(run_mu_);  // one batch at a time; nested calls run inline
    body_.store(&chunk_body);
    failed_.store(false);
    error_ = nullptr;
    done_.store(0);
    const std::uint64_t gen = (generation_of(word_.load()) + 1) & kGenMask;
    word_.store(pack(gen, 0, chunks));
    // Sleepers are counted before they re-check the word (both sequentially consistent), so either
    // a sleeper sees the new generation or this sees the sleeper.
    if (sleepers_.load() > 0) {
      { std::lock_guard lk(mu_); }
      cv_.notify_all();
    }
    const bool was_worker = in_worker;
    in_worker = true;  // a parallel_for inside the body runs inline instead of deadlocking
    drain(gen);
    in_worker = was_worker;
    if (!spin_until([&] { return done_.load(std::memory_order_acquire) == chunks; })) {
      caller_waiting_.store(true);
      std::unique_lock lk(mu_);
      done_cv_.wait(lk, [&] { return done_.load() == chunks; });
      caller_waiting_.store(false);
    }
    body_.store(nullptr);
    if (error_) std::rethrow_exception(error_);
  }

  static thread_local bool in_worker;
  static constexpr std::size_t kMaxChunks = 0xFFFF;  // a batch's chunk count fits 16 bits of the word

 private:
  static constexpr std::uint64_t kGenMask = (std::uint64_t{1} << 32) - 1;
  static std::uint64_t pack(std::uint64_t gen, std::uint64_t next, std::uint64_t n) {
    return gen << 32 | next << 16 | n;
  }
  static std::uint64_t generation_of(std::uint64_t w) { return w >> 32; }
  static std::uint64_t next_of(std::uint64_t w) { return (w >> 16) & 0xFFFF; }
  static std::uint64_t count_of(std::uint64_t w) { return w & 0xFFFF; }

  // Claims and runs chunks of batch `gen` until none are left (or a newer batch has replaced it).
  void drain(std::uint64_t gen) {
    std::uint64_t w = word_.load(std::memory_order_acquire);
    for (;;) {
      if (generation_of(w) != gen || next_of(w) >= count_of(w)) return;
      // Read the body before claiming: a successful claim proves this batch was still unfinished
      // when it happened, so the body read before it belongs to this batch.
      const auto* body = body_.load(std::memory_order_acquire);
      if (!word_.compare_exchange_weak(w, w + (std::uint64_t{1} << 16), std::memory_order_acq_rel,
                                       std::memory_order_acquire))
        continue;
      const std::uint64_t n = count_of(w);
      if (!failed_.load(std::memory_order_relaxed)) {
        try {
          (*body)(static_cast<std::size_t>(next_of(w)));
        } catch (...) {
          std::lock_guard lk(mu_);
          if (!error_) error_ = std::current_exception();
          failed_.store(true);
        }
      }
      if (done_.fetch_add(1) + 1 == n && caller_waiting_.load()) {
        { std::lock_guard lk(mu_); }
        done_cv_.notify_all();
      }
      w = word_.load(std::memory_order_acquire);
    }
  }

  void work_loop() {
    in_worker = true;
    std::uint64_t seen = 0;
    for (;;) {
      auto fresh = [&] { return quit_.load(std::memory_order_relaxed) || generation_of(word_.load()) != seen; };
      if (!spin_until(fresh)) {
        sleepers_.fetch_add(1);
        std::unique_lock lk(mu_);
        cv_.wait(lk, fresh);
        sleepers_.fetch_sub(1);
      }
      if (quit_.load()) return;
      seen = generation_of(word_.load());
      drain(seen);
    }
  }

  std::vector<std::thread> workers_;
  std::mutex mu_, run_mu_;
  std::condition_variable cv_, done_cv_;
  std::atomic<std::uint64_t> word_{0};  // generation | next chunk | chunk count
  std::atomic<const std::function<void(std::size_t)>*> body_{nullptr};
  std::atomic<std::size_t> done_{0};  // chunks finished in the current batch
  std::atomic<int> sleepers_{0};
  std::atomic<bool> caller_waiting_{false}, failed_{false}, quit_{false};
  std::exception_ptr error_;  // guarded by mu_
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
  std::size_t chunks =
      std::min({max_chunks, static_cast<std::size_t>(p.size()) * 4, Pool::kMaxChunks});
  // Work too small to split runs here, with no hand-off at all.
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
