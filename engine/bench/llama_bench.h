#pragma once
// llama.cpp's side of the speed comparison, read from what llama-bench writes with `-o json`: one
// object per test, with the fields this reads (llama.cpp tools/llama-bench, its JSON printer):
//   model_type   "llama 1B BF16": architecture, size and the weights' type (the last word)
//   n_threads    threads of the test
//   n_prompt / n_gen   a prompt test (pp: n_prompt > 0, n_gen 0) or a decode test (tg: the reverse)
//   avg_ts / stddev_ts   tokens/s, mean and standard deviation over its repetitions
// qlab keeps llama.cpp out of its tree: the learner runs llama-bench on GGUFs of the same weights
// and hands the file to `qlab bench infer --llama-bench FILE`, which puts the two side by side.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "engine/bench/infer_bench.h"

namespace qlab::bench {

struct LlamaBenchRow {
  std::string model_type;
  int threads = 0;
  std::int64_t n_prompt = 0;
  std::int64_t n_gen = 0;
  double avg_ts = 0, stddev_ts = 0;
};

// Error naming the file and the entry at fault when it is not llama-bench's JSON.
std::vector<LlamaBenchRow> read_llama_bench_json(const std::filesystem::path& path);

// The weights' type of a row, lower case ("bf16", "q8_0"): the last word of model_type.
std::string llama_bench_type(const LlamaBenchRow& row);

struct SpeedComparison {
  std::string variant;  // qlab's variant (the same name as the row's type)
  std::string test;     // "pp512", "tg128"
  double qlab_tps = 0, qlab_sd = 0, llama_tps = 0, llama_sd = 0;
  double ratio = 0;     // qlab / llama.cpp
};

// Every llama-bench row at the same threads, prompt or decode length and weights' type as one of
// r's variants, with that variant's speed beside it.
std::vector<SpeedComparison> compare_with_llama_bench(const InferBenchResult& r, const std::vector<LlamaBenchRow>& rows);

}  // namespace qlab::bench
