// Both attention paths against causal softmax attention written here in double precision, over
// head sizes, block shapes and causal offsets: every tile remainder (1-3 rows), ragged key counts,
// and strides wider than a head (the layout of a multi-head cache).
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "engine/model/attention.h"

namespace qlab::model {
namespace {

struct Case {
  std::int64_t head_dim, nt, first_visible;
};

// Operands of one head laid out as the runtime lays them out: queries and outputs interleaved with
// another head's (stride 2 * head_dim), keys transposed with a padded stride, values interleaved.
// With `tight`, every buffer is exactly as long as the kernel may read (keys padded to 16 and no
// more, as the cache's rows are), so a read past it is an AddressSanitizer error.
struct Operands {
  std::int64_t hd, nt, L, kt_stride, q_stride, v_stride, out_stride;
  std::vector<float> q, kt, v;
  AttentionBlock block(std::vector<float>& out) const {
    AttentionBlock a;
    a.q = q.data();
    a.q_stride = q_stride;
    a.kt = kt.data();
    a.kt_stride = kt_stride;
    a.v = v.data();
    a.v_stride = v_stride;
    out.assign(static_cast<std::size_t>((nt - 1) * out_stride + hd), -5.0f);
    a.out = out.data();
    a.out_stride = out_stride;
    a.nt = nt;
    a.L = L;
    a.head_dim = hd;
    a.first_visible = L - nt;
    a.scale = 1.0f / std::sqrt(static_cast<float>(hd));
    return a;
  }
};

Operands make(const Case& c, std::mt19937& rng, bool tight = false) {
  std::normal_distribution<float> d(0.0f, 1.5f);
  Operands o;
  o.hd = c.head_dim;
  o.nt = c.nt;
  o.L = c.first_visible + c.nt;
  o.kt_stride = (o.L + 15) / 16 * 16 + (tight ? 0 : 16);
  o.q_stride = tight ? o.hd : 2 * o.hd;
  o.v_stride = tight ? o.hd : 3 * o.hd;
  o.out_stride = tight ? o.hd : 2 * o.hd;
  o.q.resize(static_cast<std::size_t>((o.nt - 1) * o.q_stride + o.hd));
  o.kt.resize(static_cast<std::size_t>(o.hd * o.kt_stride));
  o.v.resize(static_cast<std::size_t>((o.L - 1) * o.v_stride + o.hd));
  for (auto& x : o.q) x = d(rng);
  for (auto& x : o.kt) x = d(rng);  // including the padding: it must not leak into any result
  for (auto& x : o.v) x = d(rng);
  return o;
}

// out[t] = sum over j <= first_visible + t of softmax_j(scale q_t . k_j) v_j, in double.
std::vector<double> reference(const Operands& o) {
  std::vector<double> out(static_cast<std::size_t>(o.nt * o.hd));
  const double scale = 1.0 / std::sqrt(static_cast<double>(o.hd));
  for (std::int64_t t = 0; t < o.nt; ++t) {
    const std::int64_t n = o.L - o.nt + t + 1;
    std::vector<double> s(static_cast<std::size_t>(n));
    double mx = -INFINITY, sum = 0;
    for (std::int64_t j = 0; j < n; ++j) {
      double dot = 0;
      for (std::int64_t e = 0; e < o.hd; ++e)
        dot += static_cast<double>(o.q[static_cast<std::size_t>(t * o.q_stride + e)]) *
               o.kt[static_cast<std::size_t>(e * o.kt_stride + j)];
      s[static_cast<std::size_t>(j)] = dot * scale;
      mx = std::max(mx, dot * scale);
    }
    for (auto& x : s) sum += x = std::exp(x - mx);
    for (std::int64_t e = 0; e < o.hd; ++e) {
      double acc = 0;
      for (std::int64_t j = 0; j < n; ++j)
        acc += s[static_cast<std::size_t>(j)] * o.v[static_cast<std::size_t>(j * o.v_stride + e)];
      out[static_cast<std::size_t>(t * o.hd + e)] = acc / sum;
    }
  }
  return out;
}

// Largest |got - want| over the block's outputs, and a check that the other head's slots are untouched.
double worst_error(const Operands& o, const std::vector<float>& out, const std::vector<double>& want) {
  double worst = 0;
  for (std::int64_t t = 0; t < o.nt; ++t)
    for (std::int64_t e = 0; e < o.out_stride && t * o.out_stride + e < static_cast<std::int64_t>(out.size()); ++e) {
      const float got = out[static_cast<std::size_t>(t * o.out_stride + e)];
      if (e >= o.hd) {
        EXPECT_EQ(got, -5.0f) << "wrote outside its head";
        continue;
      }
      worst = std::max(worst, std::fabs(got - want[static_cast<std::size_t>(t * o.hd + e)]));
    }
  return worst;
}

TEST(Attention, TiledAndGemmPathsMatchDoubleReference) {
  std::mt19937 rng(11);
  const std::vector<Case> cases = {
      {16, 1, 0},  {16, 5, 0},   {32, 64, 0},  {32, 64, 64}, {32, 7, 20},  {64, 3, 200},
      {64, 1, 37}, {80, 13, 9},  {128, 4, 0},  {128, 2, 63}, {256, 6, 17}, {32, 1, 1000},
  };
  for (const Case& c : cases)
    for (bool tight : {false, true}) {
      const Operands o = make(c, rng, tight);
      const std::vector<double> want = reference(o);
      std::vector<float> out4, out8, out_gemm;
      attend_block_tiles(o.block(out4), 4);
      attend_block_tiles(o.block(out8), 8);
      attend_block_gemm(o.block(out_gemm));
      const std::string what = " hd " + std::to_string(c.head_dim) + " nt " + std::to_string(c.nt) + " from " +
                               std::to_string(c.first_visible) + (tight ? " tight" : "");
      // Outputs are averages of N(0, 1.5) values: 1e-5 absolute is ~10 float ulps of them.
      EXPECT_LT(worst_error(o, out4, want), 1e-5) << "tiles of 4" << what;
      EXPECT_LT(worst_error(o, out_gemm, want), 1e-5) << "gemm" << what;
      // Rows do not depend on their tile's size: a tile only adds keys that weigh exactly zero.
      EXPECT_EQ(out8, out4) << what;
    }
}

// A head size that is not a whole number of vectors takes the GEMM path and still agrees.
TEST(Attention, OddHeadSizeUsesGemmPath) {
  std::mt19937 rng(5);
  const Operands o = make({24, 9, 30}, rng);
  std::vector<float> out;
  attend_block(o.block(out));
  EXPECT_LT(worst_error(o, out, reference(o)), 1e-5);
}

}  // namespace
}  // namespace qlab::model
