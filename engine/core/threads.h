#pragma once
// One worker pool for the whole process, sized by --threads / QLAB_THREADS / the hardware.
// parallel_for splits [0, n) into contiguous chunks; the calling thread works too, and returns as soon
// as every chunk is done (workers that have not woken by then are not waited for). Between batches
// workers poll for a few tens of microseconds, then sleep.
// BLAS is told to use one thread inside pool workers so the two never oversubscribe the cores.
//
// Sizing: set_thread_count takes effect whenever it is called: it starts the pool, or resizes the
// one running (after the parallel_for in flight, if any, has finished). It is an error inside a
// parallel_for body. A thread the system refuses to start (the process limit, ulimit -u, a
// container's pids limit) does not stop qlab: the pool runs with the threads that did start, and
// thread_start_report() says how many and why (the CLI prints that as a warning).
// ThreadPool is the same pool as an object of its own, for code (and tests) that need one.
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <thread>

namespace qlab {

// The most threads --threads and QLAB_THREADS accept (and the most the hardware default takes).
inline constexpr int kMaxThreads = 1024;

// Number of threads the process pool uses (>= 1), starting the pool if it is not running yet.
int thread_count();
// Sizes the process pool now: n in [1, kMaxThreads], or 0 for default_thread_count(). Returns the
// number of threads running afterwards (fewer than asked if the system refused some). Throws Error
// for n outside [0, kMaxThreads], for a bad QLAB_THREADS (n = 0), or when called inside a parallel_for.
int set_thread_count(int n);
// QLAB_THREADS if set (an integer in [1, kMaxThreads], else an Error naming the variable), otherwise
// the hardware's thread count capped at kMaxThreads.
int default_thread_count();

// What the last sizing of the process pool asked for and got.
struct ThreadStartReport {
  int requested = 0;  // threads asked for (caller included)
  int running = 0;    // threads running (caller included); < requested when some could not start
  std::string error;  // why the first refused thread could not start; empty when all started
};
ThreadStartReport thread_start_report();

// Run body(begin, end) over contiguous chunks of [0, n), at most thread_count() at once.
// grain: the smallest chunk worth handing to another thread.
void parallel_for(std::size_t n, const std::function<void(std::size_t, std::size_t)>& body,
                  std::size_t grain = 1);

// Starts one worker thread running `work`; throws std::system_error when it cannot (as std::thread
// does). Replaceable so tests can make thread creation fail.
using ThreadSpawner = std::function<std::thread(std::function<void()> work)>;
ThreadSpawner default_thread_spawner();

// A pool of its own: `threads` threads in all (the caller of parallel_for is one of them, so
// threads - 1 workers are started). Workers that cannot be started are left out (see report()).
class ThreadPool {
 public:
  explicit ThreadPool(int threads, ThreadSpawner spawn = default_thread_spawner());
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const;
  ThreadStartReport report() const;
  // Stops the workers and starts `threads` - 1 new ones, after the batch in flight (if any).
  // Error when called from inside one of this pool's parallel_for bodies.
  void resize(int threads, ThreadSpawner spawn = default_thread_spawner());
  void parallel_for(std::size_t n, const std::function<void(std::size_t, std::size_t)>& body,
                    std::size_t grain = 1);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// A grain for items that each cost `work_per_item` (multiply-adds or element operations): chunks
// of at least kMinChunkWork, below which handing work to another thread costs more than it saves
// (so work smaller than that in total runs inline on the caller).
inline constexpr double kMinChunkWork = 256.0 * 1024;
inline std::size_t grain_for_work(double work_per_item) {
  if (!(work_per_item > 0)) return 1;
  const double g = kMinChunkWork / work_per_item;
  return g <= 1 ? 1 : static_cast<std::size_t>(g + 0.999999);
}

}  // namespace qlab
