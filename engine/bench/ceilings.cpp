#include "engine/bench/ceilings.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "engine/core/progress.h"
#include "engine/core/threads.h"
#include "engine/tensor/blas.h"
#include "engine/tensor/vector_clones.h"

namespace qlab::bench {

namespace {

using clock_type = std::chrono::steady_clock;
double seconds_since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

// Sum of n floats in 64 independent lanes: the loads, not the adds, limit it.
QLAB_VECTOR_CLONES
float sum_floats(const float* p, std::size_t n) {
  constexpr int kLanes = 64;
  float acc[kLanes] = {};
  std::size_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int j = 0; j < kLanes; ++j) acc[j] += p[i + j];
  for (; i < n; ++i) acc[0] += p[i];
  float s = 0;
  for (float a : acc) s += a;
  return s;
}

}  // namespace

std::uint64_t last_level_cache_bytes() {
  std::uint64_t best = 0;
  for (int index = 0; index < 8; ++index) {
    std::ifstream f("/sys/devices/system/cpu/cpu0/cache/index" + std::to_string(index) + "/size");
    std::string s;
    if (!(f >> s) || s.empty()) continue;
    std::uint64_t v = std::strtoull(s.c_str(), nullptr, 10);
    if (s.back() == 'K') v <<= 10;
    if (s.back() == 'M') v <<= 20;
    best = std::max(best, v);
  }
  return best ? best : std::uint64_t{32} << 20;
}

ReadBandwidth measure_read_bandwidth(int passes, std::uint64_t buffer_bytes, std::stop_token stop) {
  if (buffer_bytes == 0)
    buffer_bytes = std::clamp<std::uint64_t>(16 * last_level_cache_bytes(), std::uint64_t{256} << 20, std::uint64_t{1} << 30);
  const std::size_t n = buffer_bytes / sizeof(float);
  // Written first (by the threads that will read it), so every page is mapped before the clock starts.
  std::unique_ptr<float[]> buf(new float[n]);
  const std::size_t grain = std::size_t{1} << 20;
  parallel_for(n, [&](std::size_t b, std::size_t e) { std::fill(buf.get() + b, buf.get() + e, 1.0f); }, grain);
  ReadBandwidth r;
  r.bytes = n * sizeof(float);
  std::vector<double> gbs;
  std::vector<float> sink(static_cast<std::size_t>(thread_count()) + 1);
  for (int p = 0; p < passes; ++p) {
    check_cancel(stop);
    const auto t0 = clock_type::now();
    // One contiguous share per thread, as a decode product hands each thread a band of rows.
    const std::size_t threads = static_cast<std::size_t>(thread_count());
    parallel_for(
        threads,
        [&](std::size_t b, std::size_t e) {
          for (std::size_t t = b; t < e; ++t) {
            const std::size_t lo = n / threads * t, hi = t + 1 == threads ? n : n / threads * (t + 1);
            sink[t] = sum_floats(buf.get() + lo, hi - lo);
          }
        },
        1);
    gbs.push_back(static_cast<double>(r.bytes) / seconds_since(t0) / 1e9);
  }
  r.gbs = stat_of(gbs);
  r.best = *std::max_element(gbs.begin(), gbs.end());
  return r;
}

GemmRate measure_gemm_rate(std::int64_t M, std::int64_t N, std::int64_t K, int calls, int threads, std::stop_token stop) {
  std::vector<float> A(static_cast<std::size_t>(M * K)), B(static_cast<std::size_t>(N * K)), C(static_cast<std::size_t>(M * N));
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> d(-1, 1);
  for (auto& x : A) x = d(rng);
  for (auto& x : B) x = d(rng);
  tensor::ensure_blas_single_threaded();
  tensor::set_blas_threads(threads);
  std::vector<double> rate;
  const double flops = 2.0 * static_cast<double>(M) * static_cast<double>(N) * static_cast<double>(K);
  for (int c = 0; c <= calls; ++c) {  // the first call warms BLAS up and is not counted
    check_cancel(stop);
    const auto t0 = clock_type::now();
    tensor::sgemm_nt(M, N, K, A.data(), K, B.data(), K, C.data(), N);
    if (c > 0) rate.push_back(flops / seconds_since(t0) / 1e9);
  }
  tensor::set_blas_threads(1);
  GemmRate g;
  g.gflops = stat_of(rate);
  g.best = *std::max_element(rate.begin(), rate.end());
  g.M = M;
  g.N = N;
  g.K = K;
  return g;
}

}  // namespace qlab::bench
