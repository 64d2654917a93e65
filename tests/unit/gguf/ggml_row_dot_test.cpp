// The integer row-dot kernels of ggml's types (engine/tensor/row_dot_q8_impl.h) against a reference
// written here: the weights dequantized by the type's codec (ggml's dequantize_row_*), the activations
// rounded as llama.cpp rounds them (ggml_activations.h, float values), and their dot product in double.
// Every instruction set this CPU runs is tested, not only the one the runtime picks. The kernels take
// the activations as int8 blocks made by tensor/row_dot_activations.h, so these tests also hold those
// blocks to ggml_activations' rounding.
//
// Tolerance, designed from the order of operations. The kernel's block sums are exact integers; its
// float work is per 8 lanes one conversion and one scale product per block, one accumulation per
// block (cols / 32 of them at most), the lanes' tree (3), the scalar terms of offsets and minimums
// (two roundings each, accumulated per block) and the final sum. The codec's own dequantized weight
// carries up to three roundings of its parts (d * sc, times q, minus dmin * m), each relative to the
// block's range, not to the weight: a minimum subtracted cancels. So each term's error is bounded
// relative to B_k |x_k|, B_k the largest |w| of the 32 values around k, and the test allows
// (cols / 32 + 15) u sum 2 B_k |x_k| with u = 2^-24 (2: the scaled codes and the minimum may each reach
// the block's range).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "engine/formats/block.h"
#include "engine/gguf/ggml_activations.h"
#include "engine/gguf/ggml_codec.h"
#include "engine/gguf/ggml_type.h"
#include "engine/tensor/matrix.h"
#include "engine/tensor/row_dot_activations.h"
#include "engine/tensor/row_dot_table.h"
#include "engine/tensor/row_interleave.h"
#include "tests/random_values.h"
#include "tests/unit/tensor/row_dot_check.h"

namespace qlab::gguf {
namespace {

constexpr GgmlType kTypes[] = {GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q5_0, GgmlType::Q5_1,
                               GgmlType::Q8_0, GgmlType::MXFP4, GgmlType::Q2_K, GgmlType::Q3_K,
                               GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K};

using qlab::testing::gaussian;

// Weights with what block formats find hard (the row kernels' tests' awkward_weights: outliers, values
// far below their block's largest, -0, an all-zero 32-block, a row of zeros), and a row all positive
// (Q4_K's minimum at its largest), a row all negative.
std::vector<float> awkward_weights(std::int64_t rows, std::int64_t cols, unsigned seed) {
  std::vector<float> w = tensor::rowdottest::awkward_weights(rows, cols, seed);
  auto row = [&](std::int64_t r) { return w.begin() + r * cols; };
  std::transform(row(3), row(4), row(3), [](float v) { return std::fabs(v) + 0.01f; });
  std::transform(row(4), row(5), row(4), [](float v) { return -std::fabs(v) - 0.5f; });
  return w;
}

// Activations: a plain row; one with a spike of 1e6 (its block's other codes round to 0), a block of
// zeros, and a last block whose largest magnitude is negative (Q8_K's scale sign, where cols > 256);
// one of tiny values.
std::vector<float> activations(std::int64_t cols, int kind) {
  std::vector<float> x = gaussian(static_cast<std::size_t>(cols), 20u + static_cast<unsigned>(kind));
  if (kind == 1) {
    x[5] = 1e6f;
    std::fill(x.begin() + 32, x.begin() + 64, 0.0f);
    x[static_cast<std::size_t>(cols - 1)] = -50.0f;
  }
  if (kind == 2)
    for (auto& v : x) v *= 1e-20f;
  return x;
}

struct Reference {
  double value = 0, bound = 0;
};

// Row r of the dequantized weights against the rounded activations, and the tolerance above.
Reference reference(const std::vector<float>& deq, const std::vector<float>& xr, std::int64_t r, std::int64_t cols) {
  Reference out;
  const float* w = deq.data() + r * cols;
  for (std::int64_t b = 0; b < cols; b += 32) {
    double range = 0;
    for (int j = 0; j < 32; ++j) range = std::max(range, std::fabs(static_cast<double>(w[b + j])));
    for (int j = 0; j < 32; ++j) {
      out.value += static_cast<double>(w[b + j]) * xr[static_cast<std::size_t>(b + j)];
      out.bound += 2 * range * std::fabs(static_cast<double>(xr[static_cast<std::size_t>(b + j)]));
    }
  }
  out.bound *= (static_cast<double>(cols) / 32 + 15) * std::ldexp(1.0, -24);
  return out;
}

tensor::Matrix packed_matrix(GgmlType t, const std::vector<float>& w, std::int64_t rows, std::int64_t cols,
                             std::vector<float>& deq) {
  const formats::BlockFormatSpec& spec = *ggml_block_spec(t);
  const formats::QuantizedTensor q = formats::quantize(spec, w, rows, cols);
  deq.resize(w.size());
  formats::dequantize(q.view(spec), deq);
  tensor::Matrix m = tensor::Matrix::owned_packed(q, spec, cols);
  m.round_input = llama_cpp_input_rounding(t);
  return m;
}

TEST(GgmlRowDot, EveryTypeMatchesItsDequantizedWeightsOnRoundedActivations) {
  const auto& sets = tensor::row_dot_sets();
  if (sets.empty()) GTEST_SKIP() << "no row-dot instruction set on this CPU";
  const std::int64_t rows = 11;
  for (GgmlType t : kTypes) {
    for (std::int64_t cols : {std::int64_t{256}, std::int64_t{2304}}) {
      const std::vector<float> w = awkward_weights(rows, cols, 7);
      std::vector<float> deq;
      const tensor::Matrix m = packed_matrix(t, w, rows, cols, deq);
      for (const auto& isa : sets) {
        const std::string what = std::string(type_name(t)) + " on " + isa.name + " (" + isa.integer + "), cols " +
                                 std::to_string(cols);
        const auto b = tensor::bind_row_dot(m, isa.set);
        if (std::string(isa.integer) == "none") {
          EXPECT_FALSE(b) << what;
          continue;
        }
        ASSERT_TRUE(b) << what;
        ASSERT_NE(b->activations, tensor::kernels::ActivationBlocks::Float) << what;
        for (int kind : {0, 1, 2}) {
          const std::vector<float> x = activations(cols, kind);
          std::vector<float> xr = x;
          m.round_input(xr.data(), 1, cols);
          tensor::QuantizedActivations xq;
          ASSERT_TRUE(tensor::quantize_activations(x.data(), cols, b->activations, xq));
          tensor::kernels::RowDotArgs args = b->args;
          args.xq = xq.q.data();
          args.xd = xq.d.data();
          args.xs = xq.s.data();
          // a band from the start, one starting mid-matrix with rows fewer than the kernel's block,
          // the last row alone
          for (auto [r0, n] : {std::pair<std::int64_t, std::int64_t>{0, rows}, {3, rows - 4}, {rows - 1, 1}}) {
            std::vector<float> y(static_cast<std::size_t>(n), -1.0f);
            b->fn(args, r0, n, y.data());
            for (std::int64_t i = 0; i < n; ++i) {
              const Reference e = reference(deq, xr, r0 + i, cols);
              ASSERT_NEAR(y[static_cast<std::size_t>(i)], e.value, e.bound)
                  << what << ", activations " << kind << ", row " << r0 + i << " (band from " << r0 << ")";
            }
          }
        }
      }
    }
  }
}

// The int8 blocks the kernels take are, value for value, the activations llama.cpp's rounding gives.
TEST(GgmlRowDot, ActivationBlocksAreTheRoundedActivations) {
  using tensor::kernels::ActivationBlocks;
  for (auto [t, blocks] : {std::pair{GgmlType::Q8_0, ActivationBlocks::Q8_0}, {GgmlType::Q4_K, ActivationBlocks::Q8_K}}) {
    for (int kind : {0, 1, 2}) {
      const std::int64_t cols = 768;
      const std::vector<float> x = activations(cols, kind);
      std::vector<float> xr = x;
      llama_cpp_input_rounding(t)(xr.data(), 1, cols);
      tensor::QuantizedActivations xq;
      ASSERT_TRUE(tensor::quantize_activations(x.data(), cols, blocks, xq));
      const std::int64_t block = blocks == ActivationBlocks::Q8_K ? 256 : 32;
      for (std::int64_t k = 0; k < cols; ++k) {
        const float v = static_cast<float>(xq.q[static_cast<std::size_t>(k)]) * xq.d[static_cast<std::size_t>(k / block)];
        ASSERT_EQ(v, xr[static_cast<std::size_t>(k)]) << type_name(t) << " activations " << kind << " at " << k;
      }
      for (std::int64_t g = 0; g < cols / 16; ++g) {
        int s = 0;
        for (int j = 0; j < 16; ++j) s += xq.q[static_cast<std::size_t>(16 * g + j)];
        ASSERT_EQ(xq.s[static_cast<std::size_t>(g)], s);
      }
    }
  }
  // A NaN leaves the integer kernels (the float path carries it through).
  std::vector<float> x(256, 1.0f);
  x[7] = std::nanf("");
  tensor::QuantizedActivations xq;
  EXPECT_FALSE(tensor::quantize_activations(x.data(), 256, ActivationBlocks::Q8_0, xq));
  EXPECT_FALSE(tensor::quantize_activations(x.data(), 256, ActivationBlocks::Q8_K, xq));
}

// tensor::matmul with one activation row on a GGUF-typed matrix (Fast, the default, and Native) goes
// through the integer kernels and agrees with Exact (slabs widened by the codec, activations rounded,
// BLAS); without round_input no integer kernel binds (the product would no longer be llama.cpp's).
TEST(GgmlRowDot, MatmulAgreesWithExactAndNeedsTheRounding) {
  if (!tensor::row_dot_set() || !tensor::row_dot_set()->ggml_q4_k) GTEST_SKIP() << "no integer row-dot kernels here";
  const std::int64_t N = 37, K = 512;
  const std::vector<float> w = awkward_weights(N, K, 11);
  const std::vector<float> x = activations(K, 1);
  for (GgmlType t : {GgmlType::Q4_0, GgmlType::Q4_K, GgmlType::Q6_K}) {
    std::vector<float> deq;
    tensor::Matrix fast = packed_matrix(t, w, N, K, deq);
    ASSERT_TRUE(tensor::bind_row_dot(fast, *tensor::row_dot_set()));
    tensor::Matrix exact = fast, native = fast, unrounded = fast;
    exact.math = tensor::ProductMath::Exact;
    native.math = tensor::ProductMath::Native;
    unrounded.round_input = nullptr;
    EXPECT_FALSE(tensor::bind_row_dot(unrounded, *tensor::row_dot_set())) << type_name(t);
    std::vector<float> xr = x;
    fast.round_input(xr.data(), 1, K);
    std::vector<float> yf(N), ye(N), yn(N);
    tensor::matmul(x.data(), 1, fast, yf.data());
    tensor::matmul(x.data(), 1, exact, ye.data());
    tensor::matmul(x.data(), 1, native, yn.data());
    for (std::int64_t n = 0; n < N; ++n) {
      const Reference e = reference(deq, xr, n, K);
      const auto i = static_cast<std::size_t>(n);
      ASSERT_NEAR(yf[i], e.value, e.bound) << type_name(t) << " fast, row " << n;
      ASSERT_NEAR(ye[i], e.value, e.bound) << type_name(t) << " exact, row " << n;
      ASSERT_EQ(yn[i], yf[i]) << type_name(t) << " native, row " << n;
    }
  }
}

// A q4_0, q8_0, Q4_K or Q6_K matrix with its rows interleaved for decoding (tensor/row_interleave.h) reads the copy
// through its own kernel, which meets the same reference: 40 rows are two double groups of 16 and one
// group of 8, and bands start at group boundaries, as matmul hands them out. matmul agrees with the
// reference too, and equals, bit for bit, the kernel called on the whole matrix at once (a band's rows
// do not depend on where the band starts).
TEST(GgmlRowDot, InterleavedRowsMatchTheirDequantizedWeightsOnRoundedActivations) {
  const std::int64_t rows = 40;
  for (auto [t, kernel] : {std::pair{GgmlType::Q4_0, &tensor::kernels::RowDotSet::ggml_q4_0_x8},
                           {GgmlType::Q8_0, &tensor::kernels::RowDotSet::ggml_q8_0_x8},
                           {GgmlType::Q4_K, &tensor::kernels::RowDotSet::ggml_q4_k_x8},
                           {GgmlType::Q6_K, &tensor::kernels::RowDotSet::ggml_q6_k_x8}}) {
    for (std::int64_t cols : {std::int64_t{256}, std::int64_t{2304}}) {
      const std::vector<float> w = awkward_weights(rows, cols, 13);
      std::vector<float> deq;
      tensor::Matrix m = packed_matrix(t, w, rows, cols, deq);
      if (!tensor::interleave_for_decode(m)) GTEST_SKIP() << "no interleaved kernels on this CPU";
      const auto b = tensor::bind_row_dot(m, *tensor::row_dot_set());
      ASSERT_TRUE(b);
      ASSERT_EQ(b->fn, tensor::row_dot_set()->*kernel);
      ASSERT_EQ(b->row_group, 8);
      for (int kind : {0, 1, 2}) {
        const std::vector<float> x = activations(cols, kind);
        std::vector<float> xr = x;
        m.round_input(xr.data(), 1, cols);
        tensor::QuantizedActivations xq;
        ASSERT_TRUE(tensor::quantize_activations(x.data(), cols, b->activations, xq));
        tensor::kernels::RowDotArgs args = b->args;
        args.xq = xq.q.data();
        args.xd = xq.d.data();
        args.xs = xq.s.data();
        std::vector<float> whole(static_cast<std::size_t>(rows));
        b->fn(args, 0, rows, whole.data());
        for (auto [r0, n] : {std::pair<std::int64_t, std::int64_t>{0, rows}, {8, rows - 8}, {rows - 8, 8}}) {
          std::vector<float> y(static_cast<std::size_t>(n), -1.0f);
          b->fn(args, r0, n, y.data());
          for (std::int64_t i = 0; i < n; ++i) {
            const Reference e = reference(deq, xr, r0 + i, cols);
            ASSERT_NEAR(y[static_cast<std::size_t>(i)], e.value, e.bound)
                << type_name(t) << ", cols " << cols << ", activations " << kind << ", row " << r0 + i
                << " (band from " << r0 << ")";
            ASSERT_EQ(y[static_cast<std::size_t>(i)], whole[static_cast<std::size_t>(r0 + i)]);
          }
        }
        std::vector<float> ym(static_cast<std::size_t>(rows));
        tensor::matmul(x.data(), 1, m, ym.data());
        EXPECT_EQ(ym, whole) << type_name(t) << ", cols " << cols << ", activations " << kind;
      }
    }
  }
}

// Only a matrix of a type with an x8 layout (q4_0 here), run under llama.cpp's rounding, with whole
// groups of 8 rows, gets the copy, and only at its first one-row product: loading (and a prompt's
// product) make none.
TEST(GgmlRowDot, OnlyWholeGroupsOfRoundedX8TypesAreInterleaved) {
  if (!tensor::row_dot_set() || !tensor::row_dot_set()->ggml_q4_0_x8) GTEST_SKIP() << "no interleaved kernel here";
  const std::int64_t cols = 256;
  std::vector<float> deq;
  tensor::Matrix q4_0 = packed_matrix(GgmlType::Q4_0, awkward_weights(16, cols, 5), 16, cols, deq);
  tensor::Matrix odd = packed_matrix(GgmlType::Q4_0, awkward_weights(12, cols, 5), 12, cols, deq);
  tensor::Matrix q5_k = packed_matrix(GgmlType::Q5_K, awkward_weights(16, cols, 5), 16, cols, deq);
  tensor::Matrix unrounded = q4_0;
  unrounded.round_input = nullptr;
  EXPECT_FALSE(tensor::interleave_for_decode(odd));
  EXPECT_FALSE(tensor::interleave_for_decode(q5_k));
  EXPECT_FALSE(tensor::interleave_for_decode(unrounded));
  EXPECT_FALSE(odd.interleaved || q5_k.interleaved);
  ASSERT_TRUE(q4_0.interleaved);
  EXPECT_FALSE(unrounded.interleaved->made());
  std::vector<float> x = activations(cols, 0);
  x.insert(x.end(), x.begin(), x.end());
  std::vector<float> y(16 * 2);
  tensor::matmul(x.data(), 2, q4_0, y.data());  // a prompt's product widens the plain rows
  EXPECT_FALSE(q4_0.interleaved->made());
  tensor::matmul(x.data(), 1, q4_0, y.data());  // decoding's makes the copy (which unrounded shares, unread)
  EXPECT_TRUE(q4_0.interleaved->made());
  EXPECT_EQ(q4_0.interleaved->size(), q4_0.packed.data.size());
}

}  // namespace
}  // namespace qlab::gguf
