// Calibration on the GPU against the CPU: X^T X accumulated by cuBLAS equals a double-precision
// product; the layer-by-layer runner's hidden states equal the CPU runner's to 1e-4 relative; GPTQ
// calibrated on the GPU (passes, Hessians and the solve there) ends within 1% of the CPU's output
// error, Linear by Linear; activation amax equals the CPU's to 1e-4; a NaN in the
// activations is still named when the Gram never reaches the host.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <limits>
#include <random>

#include "cuda_test_util.h"
#include "engine/core/error.h"
#include "engine/exporter/activation_amax.h"
#include "engine/io/tokenizer.h"
#include "engine/model/decoder_layer.h"
#include "engine/quant/calibration.h"
#include "engine/quant/gptq_model.h"
#include "engine/quant/input_stats.h"
#include "tests/random_values.h"

namespace qlab::quant {
namespace {

namespace fs = std::filesystem;

fs::path builtin() { return qlab::testing::source_dir() / "assets" / "builtin"; }

using qlab::testing::gaussian;

// A view of x uploaded to the GPU, as a pass there hands it to a hook.
struct OnGpu {
  std::shared_ptr<float> buf;
  model::LinearInputView view;
  OnGpu(const std::vector<float>& x, std::int64_t rows, std::int64_t cols) {
    model::Backend& be = qlab::testing::gpu();
    buf = be.alloc(rows * cols);
    be.upload(x.data(), rows * cols, buf.get());
    view.rows = rows;
    view.cols = cols;
    view.backend = &be;
    view.data = buf.get();
  }
};

TEST(CalibrationOnGpu, GramEqualsADoublePrecisionProduct) {
  QLAB_REQUIRE_GPU();
  const std::int64_t cols = 300;  // not a multiple of any tile
  const std::int64_t rows_a = 777, rows_b = 129;
  std::vector<float> a = gaussian(static_cast<std::size_t>(rows_a * cols), 1);
  const std::vector<float> b = gaussian(static_cast<std::size_t>(rows_b * cols), 2);
  for (std::int64_t r = 0; r < rows_a; ++r) a[static_cast<std::size_t>(r * cols + 7)] *= 40.0f;  // an outlier channel
  InputStats st(cols, true, "gpu gram");
  st.add(OnGpu(a, rows_a, cols).view);
  st.add(OnGpu(b, rows_b, cols).view);
  EXPECT_EQ(st.tokens(), rows_a + rows_b);
  const std::vector<float> g = st.gram();
  double worst = 0;
  for (std::int64_t i = 0; i < cols; ++i)
    for (std::int64_t j = 0; j < cols; ++j) {
      double want = 0;
      for (std::int64_t r = 0; r < rows_a; ++r)
        want += static_cast<double>(a[static_cast<std::size_t>(r * cols + i)]) * a[static_cast<std::size_t>(r * cols + j)];
      for (std::int64_t r = 0; r < rows_b; ++r)
        want += static_cast<double>(b[static_cast<std::size_t>(r * cols + i)]) * b[static_cast<std::size_t>(r * cols + j)];
      // float32 sums of ~900 terms: relative to the geometric mean of the two diagonals
      const double scale = std::sqrt(static_cast<double>(g[static_cast<std::size_t>(i * cols + i)]) *
                                     g[static_cast<std::size_t>(j * cols + j)]);
      worst = std::max(worst, std::fabs(g[static_cast<std::size_t>(i * cols + j)] - want) / scale);
    }
  EXPECT_LE(worst, 1e-5);
  std::printf("X^T X on the GPU: worst error %.2e of the diagonal scale\n", worst);
  EXPECT_THROW(st.mean_abs(), Error) << "per-channel sums are not kept on the GPU path";
}

TEST(CalibrationOnGpu, ANonFiniteActivationIsNamedFromTheGram) {
  QLAB_REQUIRE_GPU();
  const std::int64_t rows = 64, cols = 48;
  std::vector<float> x = gaussian(static_cast<std::size_t>(rows * cols), 3);
  x[static_cast<std::size_t>(5 * cols + 11)] = std::numeric_limits<float>::quiet_NaN();
  InputStats st(cols, true, "layer 2 mlp.down_proj input");
  st.add(OnGpu(x, rows, cols).view);
  try {
    (void)st.hessian();
    FAIL() << "a NaN activation passed";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("layer 2 mlp.down_proj input"), std::string::npos) << m;
    EXPECT_NE(m.find("channel 11"), std::string::npos) << m;
  }
}

TEST(CalibrationOnGpu, LayerRunnerEqualsTheCpu) {
  QLAB_REQUIRE_GPU();
  const model::Model m = model::Model::load(builtin());
  const CalibrationSet set = load_calibration(builtin() / "calib.txt", io::Tokenizer::load(builtin()), 12, 96, 5);
  LayerRunner cpu(m, set);
  LayerRunner gpu(m, set, 0, qlab::testing::gpu());
  const auto H = static_cast<std::size_t>(m.config().hidden_size);
  for (int layer = 0; layer < m.config().num_hidden_layers; ++layer) {
    cpu.advance(layer);
    gpu.advance(layer);
    const std::vector<float> want(cpu.hidden().begin(), cpu.hidden().end());
    const std::vector<float> got(gpu.hidden().begin(), gpu.hidden().end());
    const double err = qlab::testing::max_row_rel_error(got, want, H);
    EXPECT_LE(err, 1e-4) << "after layer " << layer;
    std::printf("layer %d: hidden states on the GPU within %.2e of the CPU's\n", layer, err);
  }
}

TEST(CalibrationOnGpu, GptqOutputErrorWithinOnePercentOfTheCpu) {
  QLAB_REQUIRE_GPU();
  const model::Model base = model::Model::load(builtin());
  const CalibrationSet set = load_calibration(builtin() / "calib.txt", io::Tokenizer::load(builtin()), 16, 128, 1);
  GptqModelOptions opt;
  opt.gptq.bits = 4;
  opt.gptq.group_size = 32;
  model::Model on_cpu = base, on_gpu = base;
  const ModelQuantReport c = quantize_model_gptq(on_cpu, set, opt);
  opt.backend = &qlab::testing::gpu();
  const auto uploads = cuda::weight_stats().uploads;
  const ModelQuantReport g = quantize_model_gptq(on_gpu, set, opt);
  EXPECT_GT(cuda::weight_stats().uploads, uploads) << "the passes ran on the GPU";
  ASSERT_EQ(g.linears.size(), c.linears.size());
  double worst = 0;
  for (std::size_t i = 0; i < c.linears.size(); ++i) {
    ASSERT_EQ(g.linears[i].name, c.linears[i].name);
    const double rel = std::fabs(g.linears[i].output_error - c.linears[i].output_error) / c.linears[i].output_error;
    EXPECT_LE(rel, 0.01) << c.linears[i].name << ": cpu " << c.linears[i].output_error << " gpu "
                         << g.linears[i].output_error;
    worst = std::max(worst, rel);
  }
  std::printf("GPTQ on the GPU: %zu Linears, output error within %.2e of the CPU's (relative); %.2f s vs %.2f s\n",
              c.linears.size(), worst, g.seconds, c.seconds);
}

TEST(CalibrationOnGpu, ActivationAmaxEqualsTheCpu) {
  QLAB_REQUIRE_GPU();
  exporter::CalibrationOptions o;
  o.text = builtin() / "calib.txt";
  o.samples = 8;
  o.seq_len = 128;
  const exporter::ActivationAmax cpu = exporter::activation_amax(builtin(), o, Progress::none(), {});
  o.backend = &qlab::testing::gpu();
  const exporter::ActivationAmax gpu = exporter::activation_amax(builtin(), o, Progress::none(), {});
  ASSERT_EQ(gpu.by_module.size(), cpu.by_module.size());
  for (const auto& [name, want] : cpu.by_module) {
    ASSERT_TRUE(gpu.by_module.count(name)) << name;
    EXPECT_LE(std::fabs(gpu.by_module.at(name) - want) / want, 1e-4) << name;
  }
}

}  // namespace
}  // namespace qlab::quant
