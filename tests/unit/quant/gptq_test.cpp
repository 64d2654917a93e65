// GPTQ on single matrices: invariants that pin it to the algorithm (a diagonal Hessian is round-to-
// nearest exactly; codes, scales, zeros and g_idx decode to the dequantized matrix; dead columns),
// the quality floor (>= 5x lower output error than RTN on correlated activations, act-order lower
// still, smaller groups no worse), and the Hessian against a direct X^T X.
#include "engine/quant/gptq.h"

#include <gtest/gtest.h>

#include "engine/core/error.h"
#include "engine/formats/format_lookup.h"
#include "engine/quant/input_stats.h"
#include "quant_test_util.h"

namespace qlab::quant {
namespace {

using testing::correlated_activations;
using testing::gaussian_matrix;

std::vector<float> hessian_of(const std::vector<float>& x, std::int64_t n, std::int64_t cols) {
  InputStats s(cols, true, "test");
  s.add(x.data(), n);
  return s.hessian();
}

GptqOptions options(const std::string& format) { return gptq_options_for(formats::block_format(format)); }

TEST(InputStats, GramMatchesDirectProductAcrossTilesAndBatches) {
  const std::int64_t n = 300, cols = 600;  // three column tiles, the last one partial
  const auto x = correlated_activations(n, cols, 8, 1.0, 11);
  InputStats s(cols, true, "test");
  s.add(x.data(), 100);  // two passes add up to one
  s.add(x.data() + 100 * cols, n - 100);
  const auto g = s.gram();
  const auto ref = testing::direct_gram(x, n, cols);
  double worst = 0;
  for (std::size_t i = 0; i < g.size(); ++i) {
    const double scale = std::sqrt(double(ref[i / cols * cols + i / cols]) * ref[i % cols * cols + i % cols]);
    worst = std::max(worst, std::fabs(double(g[i]) - ref[i]) / scale);
  }
  EXPECT_LT(worst, 1e-5);
  const auto h = s.hessian();
  EXPECT_FLOAT_EQ(h[5 * cols + 7], 2.0f / n * g[5 * cols + 7]);
  // mean |x| and amax per channel
  double sum = 0;
  float amax = 0;
  for (std::int64_t t = 0; t < n; ++t) {
    sum += std::fabs(x[t * cols + 3]);
    amax = std::max(amax, std::fabs(x[t * cols + 3]));
  }
  EXPECT_NEAR(s.mean_abs()[3], sum / n, 1e-6 * sum / n);
  EXPECT_EQ(s.amax()[3], amax);
  EXPECT_EQ(s.tokens(), n);
}

TEST(InputStats, NonFiniteActivationIsNamed) {
  std::vector<float> x(4 * 8, 1.0f);
  x[2 * 8 + 5] = NAN;
  InputStats s(8, true, "layer 2 mlp.down_proj input");
  try {
    s.add(x.data(), 4);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("layer 2 mlp.down_proj input: calibration activation at token 2 channel 5"),
              std::string::npos) << e.what();
  }
}

// With H a multiple of I, U is diagonal: no error feedback, so GPTQ is round-to-nearest exactly.
TEST(Gptq, DiagonalHessianIsRoundToNearest) {
  const std::int64_t rows = 24, cols = 256;
  const auto w = gaussian_matrix(rows, cols, 0.02, 3);
  for (const char* f : {"int4-g128", "int4-g32", "int3-g64", "int2-ch", "int8-g128", "int4-g64-sym", "int4-ch"}) {
    std::vector<float> h(cols * cols, 0.0f);
    for (std::int64_t j = 0; j < cols; ++j) h[j * cols + j] = 3.0f;
    const auto q = gptq_quantize(w, rows, cols, h, options(f), "test");
    EXPECT_EQ(q.dequantized, testing::rtn(f, w, rows, cols)) << f;
  }
}

TEST(Gptq, PartsDecodeToTheDequantizedMatrix) {
  const std::int64_t rows = 16, cols = 256, n = 512;
  const auto w = gaussian_matrix(rows, cols, 0.02, 5);
  const auto x = correlated_activations(n, cols, 16, 1.0, 6);
  const auto h = hessian_of(x, n, cols);
  for (bool act : {false, true})
    for (bool stat : {false, true}) {
      auto o = options("int4-g32");
      o.act_order = act;
      o.static_groups = stat;
      const auto q = gptq_quantize(w, rows, cols, h, o, "test");
      EXPECT_EQ(q.decode(), q.dequantized) << act << stat;
      EXPECT_EQ(q.contiguous_groups(), !act || stat) << act << stat;
      for (auto c : q.codes) ASSERT_LT(c, 16);
      if (act) {
        // every group holds exactly group_size columns, whatever their order
        std::vector<int> count(q.groups(), 0);
        for (auto gi : q.g_idx) ++count[gi];
        for (int k : count) EXPECT_EQ(k, 32);
      }
    }
}

TEST(Gptq, DeadColumnsAreZero) {
  const std::int64_t rows = 8, cols = 64, n = 256;
  const auto w = gaussian_matrix(rows, cols, 0.02, 7);
  auto x = correlated_activations(n, cols, 8, 0.5, 8);
  for (std::int64_t t = 0; t < n; ++t) x[t * cols + 10] = x[t * cols + 41] = 0.0f;
  GptqStats st;
  const auto q = gptq_quantize(w, rows, cols, hessian_of(x, n, cols), options("int4-g32"), "test", {}, &st);
  EXPECT_EQ(st.dead_columns, 2);
  for (std::int64_t r = 0; r < rows; ++r) {
    EXPECT_EQ(q.dequantized[r * cols + 10], 0.0f);
    EXPECT_EQ(q.dequantized[r * cols + 41], 0.0f);
  }
}

// Quality floor on a single matrix: correlated, anisotropic activations.
TEST(Gptq, OutputErrorFarBelowRoundToNearestAndActOrderLower) {
  const std::int64_t rows = 64, cols = 512, n = 2048;
  const auto w = gaussian_matrix(rows, cols, 0.02, 21);
  const auto x = correlated_activations(n, cols, 32, 1.0, 22);
  const auto h = hessian_of(x, n, cols);
  for (const char* f : {"int4-g128", "int3-g128", "int4-ch"}) {
    const double e_rtn = output_error(w, testing::rtn(f, w, rows, cols), rows, cols, h);
    auto o = options(f);
    const double e_gptq = output_error(w, gptq_quantize(w, rows, cols, h, o, "test").dequantized, rows, cols, h);
    o.act_order = true;
    const double e_act = output_error(w, gptq_quantize(w, rows, cols, h, o, "test").dequantized, rows, cols, h);
    EXPECT_LT(e_gptq * 5, e_rtn) << f << ": gptq " << e_gptq << " rtn " << e_rtn;
    EXPECT_LT(e_act, e_gptq) << f << ": act-order " << e_act << " gptq " << e_gptq;
  }
  // smaller groups, lower error
  double prev = 0;
  for (const char* f : {"int4-g32", "int4-g64", "int4-g128", "int4-ch"}) {
    const double e = output_error(w, gptq_quantize(w, rows, cols, h, options(f), "test").dequantized, rows, cols, h);
    EXPECT_LE(prev, e) << f;
    prev = e;
  }
}

TEST(Gptq, CholeskyFailurePastTheRetriesNamesTheLinear) {
  // Indefinite: eigenvalues -1 and 3; H + damp * I stays indefinite (or singular) for every damp < 1.
  const std::vector<float> h = {1, 2, 2, 1};
  const std::vector<float> w = {0.1f, -0.2f};
  std::vector<std::string> warnings;
  auto o = options("int4-ch");
  o.damp_step = 0.25;
  try {
    gptq_quantize(w, 1, 2, h, o, "layer 7 self_attn.o_proj", [&](const std::string& s) { warnings.push_back(s); });
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("layer 7 self_attn.o_proj: the Hessian is not positive definite"),
              std::string::npos) << e.what();
  }
  ASSERT_EQ(warnings.size(), 3u);  // 0.01 -> 0.26 -> 0.51 -> 0.76, then 1.01 is past the limit
  EXPECT_NE(warnings[0].find("raising it to 0.2600"), std::string::npos) << warnings[0];
}

TEST(Gptq, DampIsRaisedUntilTheFactorisationSucceeds) {
  // eigenvalues -0.5 and 2.5 (mean diagonal 1): positive definite once damp > 0.5.
  const std::vector<float> h = {1, 1.5f, 1.5f, 1};
  const std::vector<float> w = {0.1f, -0.2f};
  auto o = options("int4-ch");
  o.damp_step = 0.1;
  int warned = 0;
  GptqStats st;
  gptq_quantize(w, 1, 2, h, o, "t", [&](const std::string&) { ++warned; }, &st);
  EXPECT_EQ(warned, 5);
  EXPECT_NEAR(st.damp, 0.51, 1e-9);
}

TEST(Gptq, BadInputIsOneLineNamingTheLinear) {
  const std::int64_t rows = 4, cols = 96;
  auto w = gaussian_matrix(rows, cols, 0.02, 1);
  std::vector<float> h(cols * cols, 0.0f);
  for (std::int64_t j = 0; j < cols; ++j) h[j * cols + j] = 1.0f;
  auto expect_error = [](auto&& f, const std::string& part) {
    try {
      f();
      ADD_FAILURE() << "no error, expected " << part;
    } catch (const Error& e) {
      const std::string m = e.what();
      EXPECT_NE(m.find(part), std::string::npos) << m;
      EXPECT_EQ(m.find('\n'), std::string::npos) << m;
    }
  };
  expect_error([&] { gptq_quantize(w, rows, cols, h, options("int4-g64"), "layer 0 mlp.up_proj"); },
               "layer 0 mlp.up_proj: in_features 96 is not a multiple of the group size 64");
  auto o = options("int4-g64");
  o.allow_partial_group = true;  // what the reference's slicing does, and the in-memory model path
  EXPECT_NO_THROW(gptq_quantize(w, rows, cols, h, o, "t"));
  w[2 * cols + 17] = INFINITY;
  expect_error([&] { gptq_quantize(w, rows, cols, h, options("int4-g32"), "layer 1 self_attn.q_proj"); },
               "layer 1 self_attn.q_proj weight: row 2 column 17 is inf");
  w[2 * cols + 17] = 0;
  h[3] = NAN;
  expect_error([&] { gptq_quantize(w, rows, cols, h, options("int4-g32"), "x"); }, "x Hessian: row 0 column 3 is nan");
  expect_error([&] { gptq_options_for(formats::block_format("nvfp4")); }, "not nvfp4");
}

}  // namespace
}  // namespace qlab::quant
