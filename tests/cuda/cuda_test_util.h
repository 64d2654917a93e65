#pragma once
// Shared helpers of the CUDA tests: the GPU check that skips a test where there is none (with the
// reason), fixture paths (QLAB_SOURCE_DIR in the environment overrides the build's, so the binary
// runs from another checkout on the GPU machine), the error measure, synthetic models.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <unistd.h>

#include "engine/cuda/backend.h"
#include "engine/cuda/context.h"
#include "engine/io/synth_model.h"
#include "engine/model/device.h"
#include "engine/model/model.h"

namespace qlab::testing {

// Skips the calling test where no GPU is usable. Use as the first statement of a test.
#define QLAB_REQUIRE_GPU()                                                                             \
  do {                                                                                                 \
    const auto& gpu_ = ::qlab::cuda::probe();                                                          \
    if (!gpu_.usable) GTEST_SKIP() << "no usable CUDA GPU (" << gpu_.reason << "): the cuda tests run on a GPU"; \
  } while (0)

inline std::filesystem::path source_dir() {
  if (const char* env = std::getenv("QLAB_SOURCE_DIR")) return env;
  return QLAB_SOURCE_DIR;
}

inline std::filesystem::path fixture(const std::string& rel) { return source_dir() / "tests" / "fixtures" / rel; }

inline std::vector<std::int32_t> read_ids(const std::filesystem::path& p) {
  std::ifstream in(p);
  EXPECT_TRUE(in) << p;
  std::vector<std::int32_t> ids;
  long long v;
  while (in >> v) ids.push_back(static_cast<std::int32_t>(v));
  return ids;
}

inline std::vector<std::string> model_fixtures() {
  std::vector<std::string> names;
  const auto dir = fixture("models");
  if (!std::filesystem::is_directory(dir)) return names;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    if (std::filesystem::exists(e.path() / "config.json")) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

// max_i |a_i - b_i| / max_i |b_i| of a row; the worst over rows of n (b the reference).
inline double max_row_rel_error(const std::vector<float>& a, const std::vector<float>& b, std::size_t n) {
  EXPECT_EQ(a.size(), b.size());
  double worst = 0;
  for (std::size_t r = 0; (r + 1) * n <= std::min(a.size(), b.size()); ++r) {
    double diff = 0, scale = 0;
    for (std::size_t i = r * n; i < (r + 1) * n; ++i) {
      if (!std::isfinite(a[i])) return INFINITY;
      diff = std::max(diff, std::fabs(static_cast<double>(a[i]) - b[i]));
      scale = std::max(scale, std::fabs(static_cast<double>(b[i])));
    }
    worst = std::max(worst, scale > 0 ? diff / scale : diff);
  }
  return worst;
}

inline model::Backend& gpu(model::GpuMath math = model::GpuMath::F32) { return cuda::backend(math); }

// A random-weight Llama model written once per test binary run into a temporary folder.
inline std::filesystem::path synth(const std::string& name, io::ModelConfig c, io::DType dtype) {
  const auto dir = std::filesystem::temp_directory_path() / ("qlab_cuda_test_" + std::to_string(::getpid())) / name;
  if (std::filesystem::exists(dir / "config.json")) return dir;
  std::filesystem::create_directories(dir.parent_path());
  io::SynthSpec spec;
  spec.config = c;
  spec.dtype = dtype;
  spec.seed = 11;
  // Larger than transformers' 0.02 so that the logits spread (a test of small numbers tests little).
  spec.init_std = 0.08f;
  io::write_synth_model(dir, spec, Progress::none());
  return dir;
}

// Layers, hidden, heads, kv heads, intermediate, vocab; Llama 3.1's RoPE scaling.
inline io::ModelConfig shape(int layers, int hidden, int heads, int kv_heads, int inter, int vocab) {
  io::ModelConfig c = io::llama_config(layers, hidden, heads, kv_heads, inter, vocab);
  c.max_position_embeddings = 4096;
  c.rope.theta = 500000.0;
  c.rope.type = "llama3";
  c.rope.factor = 8.0;
  c.rope.low_freq_factor = 1.0;
  c.rope.high_freq_factor = 4.0;
  c.rope.original_max_position_embeddings = 256;
  return c;
}

}  // namespace qlab::testing
