#pragma once
// What the row-dot kernel tests (row_dot_test.cpp: a row at a time; row_dot_x8_test.cpp: rows
// interleaved by 8) check against: weights that block formats find hard, references in double with
// bounds designed from each kernel's order of operations, and one band check.
//
// The float kernels' bound (tolerance): each of the 16 lanes of two accumulators sums one term per
// chunk of 32 (cols / 32 additions), a block's products are scaled once (two roundings), the lanes are
// added in a tree (5), the two accumulators and the row scale (2); the reference's own dequantized
// weight carries up to two roundings ((code * block scale) * tensor scale). So |kernel - exact| <=
// n * u * sum |w_k x_k| with n = cols / 32 + 11 and u = 2^-24; the test allows n + 4. For asymmetric int
// groups the kernel subtracts the zero point exactly, so the same bound holds.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "engine/tensor/row_dot_activations.h"
#include "engine/tensor/row_dot_table.h"
#include "tests/random_values.h"

namespace qlab::tensor::rowdottest {

using qlab::testing::gaussian;

// Weights with what block formats find hard: outliers, an all-zero block, -0, values far below the
// block's largest (E4M3 / FP8 subnormal codes), a row of zeros.
inline std::vector<float> awkward_weights(std::int64_t rows, std::int64_t cols, unsigned seed) {
  std::vector<float> w = gaussian(static_cast<std::size_t>(rows * cols), seed, 0.02f);
  std::mt19937 rng(seed + 1);
  std::uniform_int_distribution<std::size_t> pick(0, w.size() - 1);
  for (int k = 0; k < 30; ++k) w[pick(rng)] *= 80.0f;
  for (int k = 0; k < 30; ++k) w[pick(rng)] = -0.0f;
  for (int k = 0; k < 30; ++k) w[pick(rng)] *= 1e-4f;
  for (std::int64_t i = 0; i < 32 && i < cols; ++i) w[static_cast<std::size_t>(cols + i)] = 0.0f;  // row 1, block 0
  for (std::int64_t i = 0; i < cols; ++i) w[static_cast<std::size_t>(2 * cols + i)] = 0.0f;        // row 2
  return w;
}

struct Exact {
  double value = 0, magnitude = 0;  // sum w x and sum |w x|, in double
};

inline Exact exact_dot(const float* w, const float* x, std::int64_t n) {
  Exact e;
  for (std::int64_t k = 0; k < n; ++k) {
    e.value += static_cast<double>(w[k]) * x[k];
    e.magnitude += std::fabs(static_cast<double>(w[k]) * x[k]);
  }
  return e;
}

inline double tolerance(const Exact& e, std::int64_t cols) {
  return (static_cast<double>(cols) / 32 + 15) * std::ldexp(1.0, -24) * e.magnitude;
}

// A row's reference value and how far a kernel's result may be from it.
struct Reference {
  double value = 0, bound = 0;
};

// The kernel on rows [r0, r0 + n), each row within reference(row) (a Reference); where `whole` is given
// (the kernel on every row at once, as matmul's single band), each row equal to it too.
template <class RowReference>
void expect_band(const BoundRowDot& b, const kernels::RowDotArgs& args, std::int64_t r0, std::int64_t n,
                 const std::vector<float>& whole, RowReference reference, const std::string& what) {
  std::vector<float> y(static_cast<std::size_t>(n), -1.0f);
  b.fn(args, r0, n, y.data());
  for (std::int64_t i = 0; i < n; ++i) {
    const Reference e = reference(r0 + i);
    const float got = y[static_cast<std::size_t>(i)];
    if (std::isnan(e.value)) {
      ASSERT_TRUE(std::isnan(got)) << what << ": row " << r0 + i << " (band from " << r0 << ")";
      continue;
    }
    ASSERT_NEAR(got, e.value, e.bound) << what << ": row " << r0 + i << " (band from " << r0 << ")";
    if (!whole.empty()) {
      ASSERT_EQ(got, whole[static_cast<std::size_t>(r0 + i)]) << what << ": row " << r0 + i;
    }
  }
}

// ---- ProductMath::Native: int8 activations, integer dot products ------------------------------------

// v rounded to IEEE binary16, ties to even (|v| below 65504): 11 significant bits, or the subnormal
// step 2^-24.
inline float round_to_half(float v) {
  if (v == 0) return v;
  int e;
  std::frexp(v, &e);  // v = m 2^e, m in [0.5, 1)
  const int q = std::max(e - 11, -24);
  return std::ldexp(std::nearbyint(std::ldexp(v, -q)), q);
}

// ggml's quantize_row_q8_0_ref, written here from ggml-quants.c: blocks of 32, d = amax / 127,
// q = roundf(x * (1 / d)), the products take q * fp16(d).
inline std::vector<float> q8_0_rounded(const std::vector<float>& x) {
  std::vector<float> out(x.size());
  for (std::size_t b = 0; b < x.size(); b += 32) {
    float amax = 0;
    for (std::size_t j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[b + j]));
    const float d = amax / 127, id = d != 0 ? 1 / d : 0;
    const float dh = round_to_half(d);
    for (std::size_t j = 0; j < 32; ++j) out[b + j] = std::roundf(x[b + j] * id) * dh;
  }
  return out;
}

// Native's activations: a plain row (seed 1); one large value (its block's others round to 0) and a
// block of zeros (d = 0) (seed 2); a block whose largest is negative and tiny (seed 3).
inline std::vector<float> native_activations(std::int64_t cols, unsigned seed) {
  std::vector<float> x = gaussian(static_cast<std::size_t>(cols), seed);
  if (seed == 2) {
    x[5] = 1e6f;
    std::fill(x.begin() + 64, x.begin() + 96, 0.0f);
  }
  if (seed == 3) x[40] = -1e-30f;
  return x;
}

// Native's kernels against the dequantized weights (the format's reference) times the q8_0-rounded
// activations, in double. The kernel's block sums are exact integers; what rounds is as in the float
// kernels (one accumulation per chunk, the tree, the row scale) plus each chunk's scale product and
// its zero-point term, whose two parts (scale x codes, scale x zero) may each reach the group's range
// while the weight is small. So the bound is the float kernels' n u taken over 2 B_g |x_k|, B_g the
// largest |w| of k's scale group (the row for int8-ch): row wr (cols values, scale groups of `group`)
// against the rounded activations xr.
inline Reference native_reference(const float* wr, const std::vector<float>& xr, std::int64_t cols, std::int64_t group) {
  Reference out;
  double magnitude = 0;
  for (std::int64_t g = 0; g < cols; g += group) {
    double range = 0;
    for (std::int64_t j = g; j < g + group; ++j) range = std::max(range, std::fabs(static_cast<double>(wr[j])));
    for (std::int64_t j = g; j < g + group; ++j) {
      out.value += static_cast<double>(wr[j]) * xr[static_cast<std::size_t>(j)];
      magnitude += 2 * range * std::fabs(static_cast<double>(xr[static_cast<std::size_t>(j)]));
    }
  }
  out.bound = (static_cast<double>(cols) / 32 + 15) * std::ldexp(1.0, -24) * magnitude;
  return out;
}

// The bound kernel's arguments with activations x quantized to Q8_0 blocks (held by xq).
inline kernels::RowDotArgs with_q8_activations(const BoundRowDot& b, const std::vector<float>& x, QuantizedActivations& xq) {
  kernels::RowDotArgs args = b.args;
  EXPECT_TRUE(quantize_activations(x.data(), b.args.cols, b.activations, xq));
  args.xq = xq.q.data();
  args.xd = xq.d.data();
  args.xs = xq.s.data();
  return args;
}

}  // namespace qlab::tensor::rowdottest
