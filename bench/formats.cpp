// Block-format throughput: quantize and dequantize, GB/s of float32 input, on one thread and on
// the whole pool, next to a memcpy of the same bytes measured in the same run.
//   counters: GB/s (float32 bytes per second) and x_memcpy (that rate over memcpy's rate at the same
//   thread count, measured at start-up as the best of several copies).
//   QLAB_BENCH_ROWS / QLAB_BENCH_COLS change the tensor (default 2048 x 4096 = 32 MiB of float32).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "engine/core/threads.h"
#include "engine/formats/block.h"
#include "engine/tensor/synthetic.h"

namespace {

using qlab::formats::BlockFormatSpec;

std::int64_t env_or(const char* name, std::int64_t fallback) {
  const char* v = std::getenv(name);
  return v && std::atoll(v) > 0 ? std::atoll(v) : fallback;
}

const std::int64_t kRows = env_or("QLAB_BENCH_ROWS", 2048);
const std::int64_t kCols = env_or("QLAB_BENCH_COLS", 4096);

// A weight-like tensor: `qlab quantize-tensor --synthetic gaussian` of this shape.
const std::vector<float>& input() {
  static const std::vector<float> x =
      qlab::tensor::synthetic_tensor(qlab::tensor::SyntheticKind::Gaussian, static_cast<std::size_t>(kRows * kCols));
  return x;
}

double bytes() { return static_cast<double>(kRows * kCols) * 4.0; }

// One thread: run the work as one chunk of a pool batch, where nested parallel_for calls run
// inline (engine/core/threads.h); the other chunks are empty.
template <typename F>
void on_threads(bool one, F&& f) {
  if (!one) {
    f();
    return;
  }
  qlab::parallel_for(static_cast<std::size_t>(std::max(2, qlab::thread_count())), [&](std::size_t b, std::size_t) {
    if (b == 0) f();
  });
}

void copy(float* dst, const float* src, bool one) {
  const std::size_t n = static_cast<std::size_t>(kRows * kCols);
  if (one) {
    std::memcpy(dst, src, n * 4);
    return;
  }
  qlab::parallel_for(static_cast<std::size_t>(kRows), [&](std::size_t r0, std::size_t r1) {
    std::memcpy(dst + r0 * static_cast<std::size_t>(kCols), src + r0 * static_cast<std::size_t>(kCols),
                (r1 - r0) * static_cast<std::size_t>(kCols) * 4);
  }, 16);
}

// memcpy bytes per second, best of several copies (the reference the ratios use).
double memcpy_rate(bool one) {
  static double rate[2] = {0, 0};
  double& r = rate[one ? 1 : 0];
  if (r > 0) return r;
  std::vector<float> dst(input().size(), 1.0f);
  double best = 1e30;
  for (int i = 0; i < 15; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    copy(dst.data(), input().data(), one);
    benchmark::DoNotOptimize(dst.data());
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return r = bytes() / best;
}

void set_counters(benchmark::State& st, bool one) {
  const double total = bytes() * static_cast<double>(st.iterations());
  st.counters["GB/s"] = benchmark::Counter(total / 1e9, benchmark::Counter::kIsRate);
  st.counters["x_memcpy"] = benchmark::Counter(total / memcpy_rate(one), benchmark::Counter::kIsRate);
}

void BM_memcpy(benchmark::State& st, bool one) {
  std::vector<float> dst(input().size(), 1.0f);
  for (auto _ : st) {
    copy(dst.data(), input().data(), one);
    benchmark::DoNotOptimize(dst.data());
    benchmark::ClobberMemory();
  }
  set_counters(st, one);
}

void BM_quantize(benchmark::State& st, BlockFormatSpec spec, bool one) {
  const auto& x = input();
  for (auto _ : st) {
    qlab::formats::QuantizedTensor q;
    on_threads(one, [&] { q = qlab::formats::quantize(spec, x, kRows, kCols); });
    benchmark::DoNotOptimize(q.data.data());
  }
  set_counters(st, one);
}

void BM_dequantize(benchmark::State& st, BlockFormatSpec spec, bool one) {
  const auto q = qlab::formats::quantize(spec, input(), kRows, kCols);
  std::vector<float> y(input().size());
  for (auto _ : st) {
    on_threads(one, [&] { qlab::formats::dequantize(q, y); });
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  set_counters(st, one);
}

void register_all() {
  for (bool one : {true, false}) {
    const std::string t = one ? "/1thread" : "/threads";
    benchmark::RegisterBenchmark(("memcpy" + t).c_str(), BM_memcpy, one)->Unit(benchmark::kMillisecond)->UseRealTime();
  }
  for (const auto& s : qlab::formats::all_block_formats()) {
    if (kCols % std::max(1, s.block_size) != 0) continue;
    for (bool one : {true, false}) {
      const std::string t = one ? "/1thread" : "/threads";
      benchmark::RegisterBenchmark(("quantize/" + s.name + t).c_str(), BM_quantize, s, one)
          ->Unit(benchmark::kMillisecond)
          ->UseRealTime();
      benchmark::RegisterBenchmark(("dequantize/" + s.name + t).c_str(), BM_dequantize, s, one)
          ->Unit(benchmark::kMillisecond)
          ->UseRealTime();
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  register_all();
  benchmark::AddCustomContext("tensor", std::to_string(kRows) + " x " + std::to_string(kCols) + " float32");
  benchmark::AddCustomContext("pool_threads", std::to_string(qlab::thread_count()));
  benchmark::AddCustomContext("memcpy_1thread_GB/s", std::to_string(memcpy_rate(true) / 1e9));
  benchmark::AddCustomContext("memcpy_threads_GB/s", std::to_string(memcpy_rate(false) / 1e9));
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
