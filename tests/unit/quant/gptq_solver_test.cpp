// GPTQ driving a solver (model/gptq_solver.h), as it does a GPU's: the driver's part -- which
// parameter set each column takes, a new group's parameters made on the host from the range the
// solver reports, the act-order permutation undone, the damping raised -- checked against the host
// path with a solver written here, column by column in plain loops (a second implementation of
// steps 5 and 6, in double for the lazy update where the host path uses BLAS). The GPU's own solver
// is tested against the host path in tests/cuda.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "engine/formats/format_lookup.h"
#include "engine/quant/gptq.h"
#include "engine/quant/input_stats.h"
#include "engine/tensor/blas.h"
#include "gptq_cases.h"
#include "quant_test_util.h"

namespace qlab::quant {
namespace {

using testing::correlated_activations;
using testing::gaussian_matrix;

class LoopSolver final : public model::GptqSolver {
 public:
  int ranges_calls = 0, blocks = 0, factor_calls = 0;
  std::int64_t max_block = 0;

  void begin(const float* w, std::int64_t rows, std::int64_t cols, std::int64_t block_size,
             std::span<const std::int32_t> slot, std::int64_t slots) override {
    R = rows;
    C = cols;
    B = block_size;
    W.assign(w, w + rows * cols);
    slot_.assign(slot.begin(), slot.end());
    params.assign(static_cast<std::size_t>(slots * rows), {});
    codes.assign(W.size(), 0);
  }
  bool factor(const float* h, float add) override {
    ++factor_calls;
    U.assign(h, h + C * C);
    for (std::int64_t j = 0; j < C; ++j) U[at(j, j, C)] += add;
    if (tensor::spotrf_upper(C, U.data(), C) || tensor::spotri_upper(C, U.data(), C) || tensor::spotrf_upper(C, U.data(), C))
      return false;
    for (std::int64_t j = 0; j < C; ++j)
      if (!(U[at(j, j, C)] > 0.0f) || !std::isfinite(U[at(j, j, C)])) return false;
    return true;
  }
  void ranges(std::int64_t c, std::int64_t n, model::GptqRowRange* out) override {
    ++ranges_calls;
    for (std::int64_t r = 0; r < R; ++r) {
      model::GptqRowRange x;
      for (std::int64_t k = c; k < c + n; ++k) {
        const float v = W[at(r, k, C)];
        x.xmin = std::min(x.xmin, v);
        x.xmax = std::max(x.xmax, v);
        x.amax = std::max(x.amax, std::fabs(v));
      }
      out[r] = x;
    }
  }
  void set_params(std::int64_t slot, const model::GptqRowParams* p) override {
    std::copy(p, p + R, params.begin() + slot * R);
  }
  void block(std::int64_t i1, std::int64_t i2) override {
    ++blocks;
    max_block = std::max(max_block, i2 - i1);
    std::vector<double> err(static_cast<std::size_t>(R * (i2 - i1)));
    for (std::int64_t r = 0; r < R; ++r) {
      std::vector<float> w(W.begin() + r * C + i1, W.begin() + r * C + i2);
      for (std::int64_t c = i1; c < i2; ++c) {
        const model::GptqRowParams& p = params[static_cast<std::size_t>(slot_[static_cast<std::size_t>(c)] * R + r)];
        const float x = w[static_cast<std::size_t>(c - i1)];
        const float v = std::clamp(p.scale == 0.0f ? 0.0f : x / p.scale, p.lo, p.hi);
        const float code = std::nearbyint(v) + p.zero, q = p.scale * (code - p.zero);
        const float d = U[at(c, c, C)];
        loss += double(x - q) * (x - q) / (double(d) * d);
        const float e = (x - q) / d;
        err[static_cast<std::size_t>(r * (i2 - i1) + c - i1)] = e;
        codes[at(r, c, C)] = static_cast<std::uint8_t>(code);
        W[at(r, c, C)] = q;
        for (std::int64_t j = c + 1; j < i2; ++j) w[static_cast<std::size_t>(j - i1)] -= e * U[at(c, j, C)];
      }
      for (std::int64_t j = i2; j < C; ++j) {
        double s = 0;
        for (std::int64_t c = i1; c < i2; ++c) s += err[static_cast<std::size_t>(r * (i2 - i1) + c - i1)] * U[at(c, j, C)];
        W[at(r, j, C)] -= static_cast<float>(s);
      }
    }
  }
  double finish(std::uint8_t* c, float* q) override {
    std::copy(codes.begin(), codes.end(), c);
    std::copy(W.begin(), W.end(), q);
    return loss;
  }

 private:
  static std::size_t at(std::int64_t r, std::int64_t c, std::int64_t cols) { return static_cast<std::size_t>(r * cols + c); }
  std::int64_t R = 0, C = 0, B = 0;
  std::vector<float> W, U;
  std::vector<std::int32_t> slot_;
  std::vector<model::GptqRowParams> params;
  std::vector<std::uint8_t> codes;
  double loss = 0;
};

TEST(GptqSolver, DrivenLikeAGpuItEqualsTheHostPath) {
  const std::int64_t rows = 24, cols = 384, n = 1536;
  const auto w = gaussian_matrix(rows, cols, 0.02, 31);
  const auto x = correlated_activations(n, cols, 16, 1.0, 32);
  InputStats st(cols, true, "test");
  st.add(x.data(), n);
  const auto h = st.hessian();
  for (const testing::GptqCase& k : testing::gptq_cases()) {
    GptqOptions o = k.options();
    GptqStats host_stats, solver_stats;
    const QuantizedLinear ref = gptq_quantize(w, rows, cols, h, o, "test", {}, &host_stats);
    LoopSolver solver;
    o.solver = &solver;
    const QuantizedLinear got = gptq_quantize(w, rows, cols, h, o, "test", {}, &solver_stats);
    SCOPED_TRACE(k.label());
    EXPECT_EQ(solver.blocks, (cols + k.block - 1) / k.block);
    EXPECT_LE(solver.max_block, k.block);
    const bool in_loop = o.group_size > 0 && !k.static_groups;
    EXPECT_EQ(solver.ranges_calls, in_loop ? got.groups() : 0);
    EXPECT_EQ(got.perm, ref.perm);
    EXPECT_EQ(got.g_idx, ref.g_idx);
    EXPECT_EQ(got.decode(), got.dequantized);  // scales, zeros and g_idx made on the host fit the codes
    // The first group of each row has its parameters before any update: exactly the host's.
    for (std::int64_t r = 0; r < rows; ++r) {
      EXPECT_EQ(got.scales[static_cast<std::size_t>(r * got.groups())], ref.scales[static_cast<std::size_t>(r * ref.groups())]);
      EXPECT_EQ(got.zeros[static_cast<std::size_t>(r * got.groups())], ref.zeros[static_cast<std::size_t>(r * ref.groups())]);
    }
    std::size_t same = 0;
    for (std::size_t i = 0; i < ref.codes.size(); ++i) same += got.codes[i] == ref.codes[i];
    EXPECT_GE(double(same) / ref.codes.size(), 0.99);
    const double e_ref = output_error(w, ref.dequantized, rows, cols, h);
    const double e_got = output_error(w, got.dequantized, rows, cols, h);
    EXPECT_NEAR(e_got, e_ref, 0.01 * e_ref);
    EXPECT_NEAR(solver_stats.loss, host_stats.loss, 0.01 * host_stats.loss);
  }
}

TEST(GptqSolver, ItsFailedFactorisationRaisesTheDampingAsTheHostsDoes) {
  // eigenvalues -0.5 and 2.5 (mean diagonal 1): positive definite once damp > 0.5.
  const std::vector<float> h = {1, 1.5f, 1.5f, 1};
  const std::vector<float> w = {0.1f, -0.2f};
  auto o = gptq_options_for(formats::block_format("int4-ch"));
  o.damp_step = 0.1;
  LoopSolver solver;
  o.solver = &solver;
  int warned = 0;
  GptqStats st;
  gptq_quantize(w, 1, 2, h, o, "t", [&](const std::string&) { ++warned; }, &st);
  EXPECT_EQ(warned, 5);
  EXPECT_EQ(solver.factor_calls, 6);
  EXPECT_NEAR(st.damp, 0.51, 1e-9);
}

}  // namespace
}  // namespace qlab::quant
