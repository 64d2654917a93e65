#pragma once
// The machine's own ceilings, measured in the run that uses them (a benchmark compares a model's
// speed with what this machine, under its load at that moment, can do):
//   read_bandwidth   STREAM-style read: every thread sums its share of a buffer far larger than the
//                    last-level cache (bytes read / second), best of a few passes
//   gemm_rate        single-precision GEMM through the engine's BLAS at a given shape (FLOP/s),
//                    best of a few calls
// Both use `threads` threads: the pool for the read, BLAS's own threads for the GEMM.
#include <cstdint>
#include <stop_token>

#include "engine/bench/stats.h"

namespace qlab::bench {

struct ReadBandwidth {
  Stat gbs;                 // GB/s of each pass
  double best = 0;          // the fastest pass: the ceiling
  std::uint64_t bytes = 0;  // buffer size
};

// buffer_bytes: 0 picks 16 x the last-level cache, at least 256 MiB and at most 1 GiB.
ReadBandwidth measure_read_bandwidth(int passes, std::uint64_t buffer_bytes, std::stop_token stop = {});

struct GemmRate {
  Stat gflops;
  double best = 0;
  std::int64_t M = 0, N = 0, K = 0;
};

GemmRate measure_gemm_rate(std::int64_t M, std::int64_t N, std::int64_t K, int calls, int threads,
                           std::stop_token stop = {});

// Bytes of the largest CPU cache this machine reports (sysfs), or 32 MiB when it reports none.
std::uint64_t last_level_cache_bytes();

}  // namespace qlab::bench
