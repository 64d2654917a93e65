#include "engine/core/threads.h"

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

#include "engine/core/error.h"

namespace qlab {

namespace {

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
  Pool(int threads, const ThreadSpawner& spawn) { start(threads, spawn); }
  ~Pool() { stop(); }

  // Starts threads - 1 workers. A worker that cannot be started (std::system_error, as std::thread
  // throws when the system refuses a thread) ends the starting: the pool runs with those started.
  // Anything else thrown stops the started workers before it propagates, so no worker is left
  // waiting on a condition variable that is being destroyed.
  void start(int threads, const ThreadSpawner& spawn) {
    requested_ = threads;
    start_error_.clear();
    workers_.reserve(static_cast<std::size_t>(std::max(threads - 1, 0)));
    try {
      for (int i = 1; i < threads; ++i) {
        std::thread t;
        try {
          t = spawn([this] { work_loop(); });
        } catch (const std::system_error& e) {
          start_error_ = e.what();
          break;
        }
        if (!t.joinable()) {
          start_error_ = "the thread spawner returned no thread";
          break;
        }
        workers_.push_back(std::move(t));
        running_.store(static_cast<int>(workers_.size()));
      }
    } catch (...) {
      stop();
      throw;
    }
  }

  // Stops and joins every worker; the pool then runs everything on its caller.
  void stop() {
    {
      std::lock_guard lk(mu_);
      quit_.store(true);
    }
    cv_.notify_all();
    for (auto& t : workers_) t.join();
    workers_.clear();
    running_.store(0);
    quit_.store(false);
  }

  // Waits for the batch in flight, then replaces the workers.
  void resize(int threads, const ThreadSpawner& spawn) {
    if (in_worker) fail("the thread count cannot change inside a parallel_for body");
    std::lock_guard run_lock(run_mu_);
    stop();
    start(threads, spawn);
  }

  ThreadStartReport report() const { return {requested_, size(), start_error_}; }

  int size() const { return running_.load() + 1; }

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
  std::atomic<int> running_{0};  // workers started (read by size() without the run lock)
  int requested_ = 1;
  std::string start_error_;  // why the first refused worker did not start
};

thread_local bool Pool::in_worker = false;

void run_parallel_for(Pool& p, std::size_t n, const std::function<void(std::size_t, std::size_t)>& body,
                      std::size_t grain) {
  if (n == 0) return;
  grain = std::max<std::size_t>(grain, 1);
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

int checked_count(int n) {
  if (n < 1 || n > kMaxThreads) fail("thread count {} is out of range: give 1 to {}", n, kMaxThreads);
  return n;
}

// The process pool: made on first use (or by set_thread_count), resized in place afterwards, so a
// reference taken by a running parallel_for stays valid.
std::mutex g_pool_mu;
std::atomic<Pool*> g_pool{nullptr};

Pool& process_pool() {
  if (Pool* p = g_pool.load(std::memory_order_acquire)) return *p;
  std::lock_guard lk(g_pool_mu);
  if (Pool* p = g_pool.load(std::memory_order_acquire)) return *p;
  // Never destroyed: workers may still be polling when static destructors run at exit.
  auto* p = new Pool(default_thread_count(), default_thread_spawner());
  g_pool.store(p, std::memory_order_release);
  return *p;
}

}  // namespace

ThreadSpawner default_thread_spawner() {
  return [](std::function<void()> work) { return std::thread(std::move(work)); };
}

int default_thread_count() {
  if (const char* env = std::getenv("QLAB_THREADS")) {
    const std::string_view s(env);
    int n = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
    if (s.empty() || ec != std::errc() || end != s.data() + s.size() || n < 1 || n > kMaxThreads)
      fail("QLAB_THREADS is '{}': give a thread count from 1 to {} (or unset it to use every core)", s, kMaxThreads);
    return n;
  }
  const unsigned hw = std::thread::hardware_concurrency();
  return hw ? static_cast<int>(std::min<unsigned>(hw, kMaxThreads)) : 1;
}

int thread_count() { return process_pool().size(); }

int set_thread_count(int n) {
  if (n != 0) checked_count(n);
  const int want = n == 0 ? default_thread_count() : n;
  std::lock_guard lk(g_pool_mu);
  if (Pool* p = g_pool.load(std::memory_order_acquire)) {
    if (p->report().requested != want) p->resize(want, default_thread_spawner());
    return p->size();
  }
  auto* p = new Pool(want, default_thread_spawner());
  g_pool.store(p, std::memory_order_release);
  return p->size();
}

ThreadStartReport thread_start_report() {
  Pool& p = process_pool();
  std::lock_guard lk(g_pool_mu);
  return p.report();
}

void parallel_for(std::size_t n, const std::function<void(std::size_t, std::size_t)>& body,
                  std::size_t grain) {
  run_parallel_for(process_pool(), n, body, grain);
}

struct ThreadPool::Impl {
  Impl(int threads, const ThreadSpawner& spawn) : pool(checked_count(threads), spawn) {}
  Pool pool;
};

ThreadPool::ThreadPool(int threads, ThreadSpawner spawn) : impl_(std::make_unique<Impl>(threads, spawn)) {}
ThreadPool::~ThreadPool() = default;
int ThreadPool::size() const { return impl_->pool.size(); }
ThreadStartReport ThreadPool::report() const { return impl_->pool.report(); }
void ThreadPool::resize(int threads, ThreadSpawner spawn) { impl_->pool.resize(checked_count(threads), spawn); }
void ThreadPool::parallel_for(std::size_t n, const std::function<void(std::size_t, std::size_t)>& body,
                              std::size_t grain) {
  run_parallel_for(impl_->pool, n, body, grain);
}

}  // namespace qlab
