// Checkpoints that quantize their activations (W4A4 NVFP4, ModelOpt FP8 W8A8) run on the GPU as on
// the CPU. The activations are rounded to a coarse grid before every product, so a value the two
// backends compute a float rounding apart can land on neighbouring grid points: the GPU's logits are
// held, not to 1e-4, but to a tenth of what the activation quantization itself changes (the same
// weights with the activations left alone), which a GPU that skipped or botched the quantization
// would exceed many times over.
#include <gtest/gtest.h>

#include <cstdio>
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
    EXPECT_GT(effect, 1e-3) << method << ": the activation quantization changes the logits";
    EXPECT_LE(err, 0.1 * effect) << method;
    std::printf("%-6s activations quantized on the GPU: logits within %.2e of the CPU's (the quantization itself: %.2e)\n",
                method, err, effect);
  }
}

}  // namespace
}  // namespace qlab::exporter
