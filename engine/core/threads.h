#pragma once
// One worker pool for the whole process, sized once by --threads / QLAB_THREADS / the hardware.
// parallel_for splits [0, n) into contiguous chunks; the calling thread works too.
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

}  // namespace qlab
