// AWQ's searches against hand-computed values (AutoAWQ's formulas written out on a 2 x 4 weight), the
// search's choice rule, the clip grid, and a single Linear with salient input channels: AWQ's output
// error below round-to-nearest's on the same format, with no more than the format's storage.
#include "engine/quant/awq.h"

#include <gtest/gtest.h>

#include "engine/core/error.h"
#include "engine/formats/format_lookup.h"
#include "quant_test_util.h"

namespace qlab::quant {
namespace {

TEST(Awq, WeightMeanAndGridScalesByHand) {
  // W = [[1, -2, 0.5, 4], [-3, 1, 2, -1]], groups of 2: |w| / (group amax + 1e-6), mean over rows.
  const std::vector<float> w = {1, -2, 0.5f, 4, -3, 1, 2, -1};
  const WeightView v{w.data(), 2, 4};
  const auto wm = awq_weight_mean(std::span<const WeightView>(&v, 1), 2);
  const double e = 1e-6;
  const double expect[4] = {(1 / (2 + e) + 3 / (3 + e)) / 2, (2 / (2 + e) + 1 / (3 + e)) / 2,
                            (0.5 / (4 + e) + 2 / (2 + e)) / 2, (4 / (4 + e) + 1 / (2 + e)) / 2};
  for (int c = 0; c < 4; ++c) EXPECT_NEAR(wm[c], expect[c], 1e-6) << c;
  // s = x^r / (w^(1-r) + 1e-4), clamped at 1e-4, divided by sqrt(max * min); r = 0.5
  const std::vector<float> xm = {1, 4, 0.25f, 2};
  const auto s = awq_grid_scales(xm, wm, 0.5, true);
  double raw[4], lo = 1e30, hi = 0;
  for (int c = 0; c < 4; ++c) {
    raw[c] = std::sqrt(double(xm[c])) / (std::sqrt(expect[c]) + 1e-4);
    lo = std::min(lo, raw[c]);
    hi = std::max(hi, raw[c]);
  }
  for (int c = 0; c < 4; ++c) EXPECT_NEAR(s[c], raw[c] / std::sqrt(lo * hi), 1e-5) << c;
  // llm-awq (no duo scaling): x^r alone; r = 0: every channel 1 after normalisation
  const auto s0 = awq_grid_scales(xm, wm, 0.0, false);
  for (float v0 : s0) EXPECT_FLOAT_EQ(v0, 1.0f);
  const auto s1 = awq_grid_scales(xm, wm, 0.5, false);
  EXPECT_NEAR(s1[1] / s1[2], 4.0, 1e-5);  // sqrt(4) / sqrt(0.25)
}

TEST(Awq, SearchKeepsTheFirstStrictlySmallestLoss) {
  const std::vector<float> w = {1, -2, 0.5f, 4, -3, 1, 2, -1};
  const WeightView v{w.data(), 2, 4};
  const std::vector<float> xm = {1, 4, 0.25f, 2};
  AwqOptions o;
  o.group_size = 2;
  int calls = 0;
  const std::vector<double> losses = {5, 3, 4, 3, 7};
  o.n_grid = 5;
  const auto r = awq_search_scale(std::span<const WeightView>(&v, 1), xm, o, "t",
                                  [&](const std::vector<std::vector<float>>&) { return losses[calls++]; });
  EXPECT_EQ(calls, 5);
  EXPECT_DOUBLE_EQ(r.ratio, 0.2);  // k = 1 of 5; the later equal loss does not replace it
  EXPECT_EQ(r.losses, losses);
  EXPECT_THROW(awq_search_scale(std::span<const WeightView>(&v, 1), xm, o, "layer 2 mlp",
                                [](const std::vector<std::vector<float>>&) { return NAN; }),
               Error);
}

TEST(Awq, ClipValuesOnTheShrinkGrid) {
  const std::int64_t rows = 8, cols = 64, n = 300;
  auto w = testing::gaussian_matrix(rows, cols, 0.02, 4);
  w[3] = 0.3f;  // an outlier weight
  const auto x = testing::gaussian_matrix(n, cols, 1.0, 5);
  AwqOptions o;
  o.group_size = 32;
  const auto mv = awq_search_clip(w, rows, cols, x, n, o);
  ASSERT_EQ(mv.size(), static_cast<std::size_t>(rows * 2));
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t k = 0; k < 2; ++k) {
      float amax = 0;
      for (std::int64_t i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(w[r * cols + k * 32 + i]));
      bool on_grid = false;
      for (int i = 0; i < 10; ++i) on_grid |= mv[r * 2 + k] == amax * (1.0f - i / 20.0f);
      EXPECT_TRUE(on_grid) << r << " " << k;
    }
}

TEST(Awq, SingleLinearBelowRoundToNearestOnSalientChannels) {
  const std::int64_t rows = 64, cols = 256, n = 1024;
  const auto w = testing::gaussian_matrix(rows, cols, 0.02, 31);
  auto x = testing::correlated_activations(n, cols, 32, 0.3, 32);
  for (std::int64_t t = 0; t < n; ++t)  // 1% salient channels, 20x the others
    for (std::int64_t c : {5, 77, 190}) x[t * cols + c] *= 20.0f;
  const auto spec = formats::block_format("int4-g128");
  const auto r = awq_quantize_linear(w, rows, cols, x, n, awq_options_for(spec), "t");
  std::vector<float> gram = testing::direct_gram(x, n, cols);
  const double e_awq = output_error(w, r.effective, rows, cols, gram);
  const double e_rtn = output_error(w, testing::rtn("int4-g128", w, rows, cols), rows, cols, gram);
  EXPECT_LT(e_awq, 0.8 * e_rtn) << "awq " << e_awq << " rtn " << e_rtn;
  EXPECT_GT(r.search.ratio, 0.0);
  EXPECT_EQ(r.q.decode(), r.q.dequantized);
  // the salient channels got the largest scales
  for (std::int64_t c : {5, 77, 190})
    EXPECT_GT(r.input_scale[c], *std::max_element(r.input_scale.begin() + 100, r.input_scale.begin() + 180));
}

TEST(Awq, BadInputIsNamed) {
  std::vector<float> w(4 * 8, 0.01f), x(16 * 8, 1.0f);
  x[3 * 8 + 2] = INFINITY;
  AwqOptions o;
  o.group_size = 8;
  try {
    awq_quantize_linear(w, 4, 8, x, 16, o, "W.bin");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("W.bin activations: row 3 column 2 is inf"), std::string::npos) << e.what();
  }
  EXPECT_THROW(awq_options_for(formats::block_format("mxfp4")), Error);
}

}  // namespace
}  // namespace qlab::quant
