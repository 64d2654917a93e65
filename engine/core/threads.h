#pragma once
// One worker pool for the whole process, sized once by --threads / QLAB_THREADS / the hardware.
// parallel_for splits [0, n) into contiguous chunks; the calling thread works too, and returns as soon
// as every chunk is done (workers that have not woken by then are not waited for). Between batches
// workers poll for a few tens of microseconds, then sleep.
// BLAS is told to use one thread inside pool workers so the two never oversubscribe the cores.
#include <cstddef>
#include <functional>

namespace qlab {

// Number of threads the pool uses (>= 1).
int thread_count();
// Set before first use (the CLI does this from --threads); 0 means "decide from QLAB_THREADS or hardware".
void set_thread_count(int n);

// Run body(begin, end) over contiguous chunks of [0, n), at most thread_count() at once.
// grain: the smallest chunk worth handing to another thread.
void parallel_for(std::size_t n, const std::function<void(std::size_t, std::size_t)>& body,
                  std::size_t grain = 1);

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
