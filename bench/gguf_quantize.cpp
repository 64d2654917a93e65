// ggml-type quantization throughput (engine/gguf): MB of float32 input per second, per type, with
// and without an importance matrix, on one thread (quantize_rows) and on the whole pool
// (quantize_tensor). The tensor is rows x cols of `qlab quantize-tensor --synthetic gaussian-outliers`
// (engine/tensor/synthetic.h: N(0, 0.02) with one value in a thousand an outlier); the importance
// matrix is log-normal.
//   QLAB_BENCH_ROWS / QLAB_BENCH_COLS   the tensor (default 1024 x 4096: 16 MiB of float32)
//   QLAB_BENCH_GGUF=FILE                also write the tensor as an F32 GGUF (tensor "blk.0.ffn_up.weight"
//                                       of a one-layer llama) so llama-quantize can be timed on
//                                       the same values: llama-quantize --pure FILE out.gguf Q4_K_M 1
//   QLAB_BENCH_IMATRIX=FILE             also write the importance matrix as an imatrix GGUF for it
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "engine/gguf/gguf_writer.h"
#include "engine/gguf/imatrix_file.h"
#include "engine/gguf/quantize.h"
#include "engine/tensor/synthetic.h"

namespace {

using namespace qlab::gguf;

std::int64_t env_or(const char* name, std::int64_t fallback) {
  const char* v = std::getenv(name);
  return v && std::atoll(v) > 0 ? std::atoll(v) : fallback;
}

const std::int64_t kRows = env_or("QLAB_BENCH_ROWS", 1024);
const std::int64_t kCols = env_or("QLAB_BENCH_COLS", 4096);

const std::vector<float>& input() {
  static const std::vector<float> x = [] {
    std::vector<float> v = qlab::tensor::synthetic_tensor(qlab::tensor::SyntheticKind::GaussianOutliers,
                                                          static_cast<std::size_t>(kRows * kCols));
    if (const char* path = std::getenv("QLAB_BENCH_GGUF")) {
      GgufWriter w;
      w.set("general.architecture", MetaValue::string("llama"));
      w.set("llama.context_length", MetaValue::u32(256));
      w.set("llama.embedding_length", MetaValue::u32(static_cast<std::uint32_t>(kCols)));
      w.set("llama.block_count", MetaValue::u32(1));
      w.set("llama.feed_forward_length", MetaValue::u32(static_cast<std::uint32_t>(kRows)));
      w.set("llama.attention.head_count", MetaValue::u32(32));
      w.set("llama.attention.layer_norm_rms_epsilon", MetaValue::f32(1e-5f));
      std::vector<std::byte> bytes(v.size() * 4);
      std::memcpy(bytes.data(), v.data(), bytes.size());
      w.add_tensor("blk.0.ffn_up.weight", GgmlType::F32, {kCols, kRows}, std::move(bytes));
      w.write(path);
    }
    return v;
  }();
  return x;
}

const std::vector<float>& imatrix() {
  static const std::vector<float> w = [] {
    std::mt19937 rng(7);
    std::normal_distribution<float> d(0.0f, 1.5f);
    std::vector<float> v(static_cast<std::size_t>(kCols));
    for (auto& e : v) e = std::exp(d(rng));
    if (const char* path = std::getenv("QLAB_BENCH_IMATRIX")) {
      Imatrix m;
      m.datasets = {"bench"};
      m.chunk_count = 1;
      m.chunk_size = 1;
      m.entries["blk.0.ffn_up.weight"] = ImatrixEntry{kCols, v, {1.0f}};
      write_imatrix(path, m);
    }
    return v;
  }();
  return w;
}

void run(benchmark::State& state, GgmlType t, bool weighted, bool pool) {
  const auto& x = input();
  const float* im = weighted ? imatrix().data() : nullptr;
  std::vector<std::byte> out(row_bytes(t, kCols) * static_cast<std::size_t>(kRows));
  for (auto _ : state) {
    if (pool) {
      auto q = quantize_tensor(t, x.data(), kRows, kCols, im);
      benchmark::DoNotOptimize(q.data());
    } else {
      quantize_rows(t, x.data(), kRows, kCols, im, out);
      benchmark::DoNotOptimize(out.data());
    }
  }
  const double mb = static_cast<double>(x.size()) * 4.0 / 1e6;
  state.counters["MB/s"] = benchmark::Counter(mb * static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}

void register_all() {
  for (const auto& tr : all_types()) {
    if (!tr.qlab_converts || tr.type == GgmlType::F32) continue;
    for (bool weighted : {false, true}) {
      if (weighted && !uses_imatrix(tr.type)) continue;
      for (bool pool : {false, true}) {
        const std::string name = std::string("quantize/") + std::string(tr.name) + (weighted ? "/imatrix" : "/ref") +
                                 (pool ? "/pool" : "/1thread");
        benchmark::RegisterBenchmark(name.c_str(), [=](benchmark::State& s) { run(s, tr.type, weighted, pool); })
            ->Unit(benchmark::kMillisecond)
            ->UseRealTime();
      }
    }
  }
}

[[maybe_unused]] const int kRegistered = (register_all(), 0);

}  // namespace

BENCHMARK_MAIN();
