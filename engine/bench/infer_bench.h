#pragma once
// `qlab bench infer`: prompt and decode speed of a model's variants beside this machine's ceilings,
// in the spirit of llama-bench (pp = one prompt of p tokens from an empty cache, tg = n tokens
// decoded one at a time from an empty cache; each repeated, mean and sample standard deviation).
//   per variant   prompt tok/s, decode tok/s, weight bytes a decoded token reads, the GB/s that
//                 makes, and decode efficiency = achieved GB/s / the read bandwidth measured here
//   ceilings      the read bandwidth (ceilings.h) measured before and after the variants (the
//                 better of the two is the ceiling: load from other processes only lowers it), and
//                 the SGEMM rate at the prompt's widest product (tokens x intermediate x hidden)
//   the bound     decode tok/s <= bandwidth / bytes per token: the roofline (roofline.h)
// Threads: the engine's pool as set by the caller (--threads); BLAS at the same count for the GEMM.
#include <cstdint>
#include <functional>
#include <stop_token>
#include <string>
#include <vector>

#include "engine/bench/ceilings.h"
#include "engine/bench/stats.h"
#include "engine/core/progress.h"
#include "engine/model/backend.h"
#include "engine/model/model.h"

namespace qlab::bench {

struct InferBenchOptions {
  std::int64_t prompt_tokens = 512;  // 0: no prompt test
  int decode_tokens = 128;           // 0: no decode test
  int repetitions = 3;
  tensor::ProductMath math = tensor::ProductMath::Fast;
  model::Backend* backend = nullptr;  // where the variants run (nullptr: the CPU)
  // The ceilings of a backend whose memory is not the host's (a GPU), measured by the caller, which
  // knows the device: its copy bandwidth (GB/s, bytes read plus written) and its GEMM rate at a shape
  // (GFLOP/s). Unset: the host's read bandwidth and BLAS.
  std::function<double()> device_copy_gbs;
  std::function<double(std::int64_t M, std::int64_t N, std::int64_t K)> device_gemm_gflops;
};

struct VariantResult {
  std::string name, storage;
  std::uint64_t weight_bytes = 0;     // every weight matrix a decoded token reads (variants.h)
  double kv_bytes_per_token = 0;      // keys and values read per decoded token, averaged over the run
  double bytes_per_token = 0;         // the two together
  Stat prompt_tps, decode_tps;
  double achieved_gbs = 0;            // bytes_per_token x mean decode tok/s
  double efficiency = 0;              // achieved_gbs / ceilings' read bandwidth
};

struct InferBenchResult {
  int threads = 1;
  std::string kernels;  // the row-dot instruction set and its integer dot product ("avx512, integer: vnni")
  std::int64_t prompt_tokens = 0;
  int decode_tokens = 0, repetitions = 0;
  ReadBandwidth read_before, read_after;
  double read_gbs = 0;  // the ceiling: the better of before and after
  GemmRate gemm;
  std::string device;  // the backend's name when one was given ("cuda"); the ceilings are then its own
  std::vector<VariantResult> variants;
};

// The variants are built one at a time (variants.h) and freed after their measurement.
InferBenchResult bench_infer(const model::Model& base, const std::vector<std::string>& variants,
                             const InferBenchOptions& opt, Progress& progress, std::stop_token stop);

// Prompt and decode of one model alone (the tests and the suite's decode-speed column use it).
struct SpeedResult {
  Stat prompt_tps, decode_tps;
  double kv_bytes_per_token = 0;
};
SpeedResult measure_speed(const model::Model& m, const InferBenchOptions& opt, std::stop_token stop,
                          const std::function<void(double)>& done_fraction = {});

}  // namespace qlab::bench
