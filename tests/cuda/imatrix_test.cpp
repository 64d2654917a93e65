// llama-imatrix's statistics collected on the GPU against the CPU: the same entries, the same token
// counts, and per-column sums of squared activations equal to float rounding (the GPU's activations
// equal the CPU's to 1e-4 relative, forward_test.cpp; a square doubles that).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "cuda_test_util.h"
#include "engine/core/input_file.h"
#include "engine/gguf/imatrix_collect.h"
#include "engine/io/tokenizer.h"

namespace qlab::gguf {
namespace {

TEST(ImatrixOnGpu, SumsEqualTheCpusToFloatRounding) {
  QLAB_REQUIRE_GPU();
  const auto dir = qlab::testing::source_dir() / "assets" / "builtin";
  const model::Model m = model::Model::load(dir);
  const io::Tokenizer tok = io::Tokenizer::load(dir);
  const std::vector<std::int32_t> tokens = tok.encode(read_file(dir / "calib.txt"), true);
  ImatrixOptions o;
  o.n_ctx = 128;
  o.max_chunks = 6;
  o.dataset = "calib.txt";
  const Imatrix cpu = compute_imatrix(m, tokens, o);
  o.backend = &qlab::testing::gpu();
  const Imatrix gpu = compute_imatrix(m, tokens, o);
  ASSERT_EQ(gpu.entries.size(), cpu.entries.size());
  EXPECT_EQ(gpu.chunk_count, cpu.chunk_count);
  EXPECT_EQ(gpu.chunk_count, 6u);
  double worst = 0;
  for (const auto& [name, c] : cpu.entries) {
    const auto it = gpu.entries.find(name);
    ASSERT_NE(it, gpu.entries.end()) << name;
    const ImatrixEntry& g = it->second;
    ASSERT_EQ(g.columns, c.columns) << name;
    EXPECT_EQ(g.counts, c.counts) << name << ": every token counted once on both";
    ASSERT_EQ(g.sums.size(), c.sums.size()) << name;
    // Relative to the entry's largest sum: a column whose activations are near zero has a sum whose
    // relative error says nothing.
    double top = 0;
    for (float v : c.sums) top = std::max(top, static_cast<double>(v));
    ASSERT_GT(top, 0.0) << name;
    double err = 0;
    for (std::size_t i = 0; i < c.sums.size(); ++i)
      err = std::max(err, std::fabs(static_cast<double>(g.sums[i]) - c.sums[i]) / top);
    EXPECT_LE(err, 2e-4) << name;
    worst = std::max(worst, err);
  }
  std::printf("imatrix on the GPU: %zu entries, sums within %.2e of the CPU's (of each entry's largest)\n",
              cpu.entries.size(), worst);
}

}  // namespace
}  // namespace qlab::gguf
