// Checkpoints that quantize their activations (W4A4 NVFP4, ModelOpt FP8 W8A8) run on the GPU as on
// the CPU. The activations are rounded to a coarse grid before every product, so a value the two
// backends compute a float rounding apart can land on neighbouring grid points (an FP8 step is 6-12%
// of the value), and from there the difference reaches every later position. So the GPU's logits are
// held, not to 1e-4, but to half of what the activation quantization itself changes (the same weights
// with the activations left alone: a GPU that skipped the quantization would be that far off), with
// the greedy token the same at 9 positions in 10; the positions matched to 1e-4 are reported.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <span>
#include <filesystem>

#include "cuda_test_util.h"
#include "engine/exporter/quantize_checkpoint.h"
#include "engine/io/tokenizer.h"
#include "engine/model/forward.h"

namespace qlab::exporter {
namespace {

namespace fs = std::filesystem;

TEST(ActivationQuantOnGpu, QuantizedActivationsGiveTheCpusLogits) {
  QLAB_REQUIRE_GPU();
  const fs::path builtin = qlab::testing::source_dir() / "assets" / "builtin";
  const fs::path dir = fs::temp_directory_path() / ("qlab_cuda_test_" + std::to_string(::getpid())) / "act_quant";
  fs::create_directories(dir);
  const std::vector<std::int32_t> tokens =
      io::Tokenizer::load(builtin).encode("Anna has a red book. David lives near the river, and every morning he", true);
  const auto V = static_cast<std::size_t>(model::Model::load(builtin).vocab_size());
  for (const char* method : {"nvfp4", "fp8"}) {
    QuantizeOptions o;
    o.calibration = {builtin / "calib.txt", 8, 64, 5};
    o.method = method;
    const fs::path out = dir / method;
    if (!fs::exists(out / "config.json")) quantize_checkpoint(builtin, out, o, Progress::none());
    const model::Model m = model::Model::load(out);
    ASSERT_TRUE(m.weights().layers[0].act_qkv) << method << ": the checkpoint quantizes activations";
    model::Model plain = m;  // the same weights, activations left alone
    for (auto& lw : plain.mutable_weights().layers) lw.act_qkv = lw.act_o = lw.act_gate_up = lw.act_down = {};

    const std::vector<float> cpu = model::forward_all(m, tokens, model::cpu_backend());
    const std::vector<float> gpu = model::forward_all(m, tokens, qlab::testing::gpu());
    const std::vector<float> unquantized = model::forward_all(plain, tokens, model::cpu_backend());
    const double err = qlab::testing::max_row_rel_error(gpu, cpu, V);
    const double effect = qlab::testing::max_row_rel_error(unquantized, cpu, V);
    // Rows (positions) the GPU matches to float rounding: those before the first value that landed on
    // another grid point, which then reaches every later position through attention.
    std::size_t exact = 0, same_top = 0;
    const std::size_t rows = cpu.size() / V;
    for (std::size_t r = 0; r < rows; ++r) {
      const std::span<const float> g(gpu.data() + r * V, V), c(cpu.data() + r * V, V);
      if (qlab::testing::max_row_rel_error({g.begin(), g.end()}, {c.begin(), c.end()}, V) <= 1e-4) ++exact;
      same_top += std::max_element(g.begin(), g.end()) - g.begin() == std::max_element(c.begin(), c.end()) - c.begin();
    }
    EXPECT_GT(effect, 1e-3) << method << ": the activation quantization changes the logits";
    // Skipping the quantization would leave the GPU a whole `effect` away.
    EXPECT_LE(err, 0.5 * effect) << method;
    EXPECT_GE(same_top, rows * 9 / 10) << method;
    std::printf("%-6s activations quantized on the GPU: logits within %.2e of the CPU's (the quantization itself: %.2e); "
                "%zu of %zu positions within 1e-4, %zu with the same top token\n",
                method, err, effect, exact, rows, same_top);
  }
}

}  // namespace
}  // namespace qlab::exporter
