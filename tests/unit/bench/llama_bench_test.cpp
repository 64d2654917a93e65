// llama-bench's JSON (the fields its JSON printer writes, as `llama-bench -o json` prints them) read
// and matched to qlab's variants by threads, test length and the weights' type.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "engine/bench/llama_bench.h"
#include "engine/core/error.h"

namespace qlab::bench {
namespace {

namespace fs = std::filesystem;

fs::path write_temp(const std::string& text) {
  const fs::path p = fs::temp_directory_path() / ("qlab-llama-bench-" + std::to_string(::getpid()) + ".json");
  std::ofstream(p) << text;
  return p;
}

// Two tests per type, as `llama-bench -m a.gguf -m b.gguf -p 128 -n 16 -t 2 -o json` lists them (other
// fields of its output, which this does not read, left in).
constexpr const char* kOutput = R"([
  {"build_commit": "abc1234", "build_number": 1, "cpu_info": "x", "gpu_info": "", "backends": "CPU",
   "model_filename": "tl-bf16.gguf", "model_type": "llama 1B BF16", "model_size": 2200000000,
   "model_n_params": 1100048384, "n_batch": 2048, "n_ubatch": 512, "n_threads": 2, "type_k": "f16",
   "n_prompt": 128, "n_gen": 0, "test_time": "2026-12-06T19:00:00Z", "avg_ns": 640000000,
   "stddev_ns": 1000000, "avg_ts": 200.0, "stddev_ts": 3.0, "samples_ns": [1], "samples_ts": [200.0]},
  {"model_filename": "tl-bf16.gguf", "model_type": "llama 1B BF16", "n_threads": 2, "n_prompt": 0, "n_gen": 16,
   "avg_ts": 16.0, "stddev_ts": 0.5},
  {"model_filename": "tl-q8_0.gguf", "model_type": "llama 1B Q8_0", "n_threads": 2, "n_prompt": 0, "n_gen": 16,
   "avg_ts": 30.0, "stddev_ts": 0.5},
  {"model_filename": "tl-bf16.gguf", "model_type": "llama 1B BF16", "n_threads": 1, "n_prompt": 0, "n_gen": 16,
   "avg_ts": 9.0, "stddev_ts": 0.5}
])";

TEST(LlamaBench, ReadsItsJsonAndMatchesVariantsByTypeThreadsAndLength) {
  const fs::path p = write_temp(kOutput);
  const auto rows = read_llama_bench_json(p);
  fs::remove(p);
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_EQ(llama_bench_type(rows[0]), "bf16");
  EXPECT_EQ(llama_bench_type(rows[2]), "q8_0");
  InferBenchResult r;
  r.threads = 2;
  r.prompt_tokens = 128;
  r.decode_tokens = 16;
  VariantResult bf16;
  bf16.name = "bf16";
  bf16.prompt_tps = stat_of({100, 110});
  bf16.decode_tps = stat_of({12, 12});
  r.variants = {bf16};
  const auto c = compare_with_llama_bench(r, rows);
  ASSERT_EQ(c.size(), 2u);  // q8_0 has no variant here; the 1-thread row is another run
  EXPECT_EQ(c[0].test, "pp128");
  EXPECT_DOUBLE_EQ(c[0].ratio, 105.0 / 200.0);
  EXPECT_EQ(c[1].test, "tg16");
  EXPECT_DOUBLE_EQ(c[1].ratio, 12.0 / 16.0);
  EXPECT_DOUBLE_EQ(c[1].llama_sd, 0.5);
}

TEST(LlamaBench, OtherFilesAreRefusedByName) {
  fs::path p = write_temp(R"({"not": "a list"})");
  try {
    read_llama_bench_json(p);
    FAIL() << "read an object";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("llama-bench -o json"), std::string::npos) << e.what();
  }
  std::ofstream(p) << R"([{"model_type": "llama 1B F16", "n_threads": 2, "n_prompt": 0}])";
  try {
    read_llama_bench_json(p);
    FAIL() << "read a test without n_gen";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'n_gen'"), std::string::npos) << e.what();
  }
  fs::remove(p);
  EXPECT_THROW(read_llama_bench_json(p), Error);
}

}  // namespace
}  // namespace qlab::bench
