// The row-dot kernels (decoding's products over stored bytes) against a reference written here: the
// format's own reference dequantization (KernelPath::Reference) followed by a dot product in double.
// Every instruction set this CPU runs is tested, not only the one the runtime picks.
//
// Tolerance, designed from the kernels' order of operations: each of the 16 lanes of two accumulators
// sums one term per chunk of 32 (cols / 32 additions), a block's products are scaled once (two
// roundings), the lanes are added in a tree (5), the two accumulators and the row scale (2); the
// reference's own dequantized weight carries up to two roundings ((code * block scale) * tensor
// scale). So |kernel - exact| <= n * u * sum |w_k x_k| with n = cols / 32 + 11 and u = 2^-24; the
// test allows n + 4. For asymmetric int groups the kernel subtracts the zero point exactly, so the
// same bound holds.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "engine/formats/block.h"
#include "engine/formats/format_lookup.h"
#include "engine/tensor/convert.h"
#include "engine/tensor/cpu_features.h"
#include "engine/tensor/matrix.h"
#include "engine/tensor/quantize_matrix.h"
#include "engine/tensor/row_dot_activations.h"
#include "engine/tensor/row_dot_table.h"
#include "engine/tensor/row_interleave.h"
#include "tests/random_values.h"

namespace qlab::tensor {
namespace {

struct IsaCase {
  const char* name;
  const kernels::RowDotSet* set;
};

// The instruction sets built in whose features this CPU has.
std::vector<IsaCase> runnable_sets() {
  std::vector<IsaCase> out;
  const CpuFeatures& f = cpu_features();
  if (f.avx512 && kernels::avx512::kRowDots.f32) out.push_back({"avx512", &kernels::avx512::kRowDots});
  if (f.avx2 && kernels::avx2::kRowDots.f32) out.push_back({"avx2", &kernels::avx2::kRowDots});
  if (f.neon && kernels::neon::kRowDots.f32) out.push_back({"neon", &kernels::neon::kRowDots});
  return out;
}

using qlab::testing::gaussian;

// Weights with what block formats find hard: outliers, an all-zero block, -0, values far below the
// block's largest (E4M3 / FP8 subnormal codes), a row of zeros.
std::vector<float> awkward_weights(std::int64_t rows, std::int64_t cols, unsigned seed) {
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

Exact exact_dot(const float* w, const float* x, std::int64_t n) {
  Exact e;
  for (std::int64_t k = 0; k < n; ++k) {
    e.value += static_cast<double>(w[k]) * x[k];
    e.magnitude += std::fabs(static_cast<double>(w[k]) * x[k]);
  }
  return e;
}

double tolerance(const Exact& e, std::int64_t cols) {
  return (static_cast<double>(cols) / 32 + 15) * std::ldexp(1.0, -24) * e.magnitude;
}

// y over rows [r0, r0 + n) by the kernel, against the dequantized rows dotted in double.
void expect_rows_match(const BoundRowDot& b, const std::vector<float>& dequantized, std::int64_t rows,
                       const std::vector<float>& x, const std::string& what) {
  const std::int64_t cols = b.args.cols;
  kernels::RowDotArgs args = b.args;
  args.x = x.data();
  // a band that starts mid-matrix and ends with rows fewer than the kernel's row block
  for (auto [r0, n] : {std::pair<std::int64_t, std::int64_t>{0, rows}, {3, rows - 4}, {rows - 1, 1}}) {
    std::vector<float> y(static_cast<std::size_t>(n), -1.0f);
    b.fn(args, r0, n, y.data());
    for (std::int64_t i = 0; i < n; ++i) {
      const Exact e = exact_dot(dequantized.data() + (r0 + i) * cols, x.data(), cols);
      ASSERT_NEAR(y[static_cast<std::size_t>(i)], e.value, tolerance(e, cols))
          << what << ": row " << r0 + i << " (band from " << r0 << ")";
    }
  }
}

TEST(RowDot, EveryTableFormatMatchesItsReferenceDequantization) {
  const auto sets = runnable_sets();
  if (sets.empty()) GTEST_SKIP() << "no row-dot instruction set on this CPU";
  int formats_served = 0;
  for (const auto& spec : formats::all_block_formats()) {
    const RowDotKernel* k = row_dot_kernel_for(spec);
    if (!k) continue;
    ++formats_served;
    for (std::int64_t cols : {std::int64_t{384}, std::int64_t{2048}}) {
      const std::int64_t rows = 11;
      if (formats::padded_cols(spec, cols) != cols) continue;
      const std::vector<float> w = awkward_weights(rows, cols, 7);
      const formats::QuantizedTensor q = formats::quantize(spec, w, rows, cols);
      std::vector<float> deq(w.size());
      formats::dequantize(q, deq, formats::KernelPath::Reference);
      const Matrix m = Matrix::owned_packed(q, spec, cols);
      for (const auto& isa : sets) {
        const auto b = bind_row_dot(m, *isa.set);
        ASSERT_TRUE(b) << spec.name << " on " << isa.name;
        for (unsigned seed : {1u, 2u}) {
          std::vector<float> x = gaussian(static_cast<std::size_t>(cols), seed);
          if (seed == 2) x[5] = 1e6f;  // one large activation
          expect_rows_match(*b, deq, rows, x, spec.name + " " + isa.name + " cols " + std::to_string(cols));
        }
      }
    }
  }
  // nvfp4, mxfp4; int4 in groups of 32/64/128/row and int8 in 32/64/128, each asymmetric and
  // symmetric; int8-ch; fp8 E4M3 and E5M2, per tensor and per channel
  EXPECT_EQ(formats_served, 2 + 8 + 6 + 1 + 4);
}

TEST(RowDot, HalfAndFloatWeightsMatchTheirWidenedValues) {
  const auto sets = runnable_sets();
  if (sets.empty()) GTEST_SKIP() << "no row-dot instruction set on this CPU";
  const std::int64_t rows = 13, cols = 1024;
  std::vector<float> w = awkward_weights(rows, cols, 3);
  std::vector<std::uint16_t> bf(w.size()), hf(w.size());
  for (std::size_t i = 0; i < w.size(); ++i) {
    bf[i] = static_cast<std::uint16_t>(f32_to_bits(w[i]) >> 16);
    // f16 by the engine's own encoder would test it against itself: take the bf16 bits' value range
    // instead and let the f16 code be any pattern, including subnormals, widened by convert.h.
    hf[i] = static_cast<std::uint16_t>((i * 2654435761u) & 0xFBFFu);  // no inf / NaN exponent
  }
  std::vector<float> wb(w.size()), wh(w.size());
  bf16_to_f32(bf.data(), wb.data(), bf.size());
  f16_to_f32(hf.data(), wh.data(), hf.size());
  for (auto [type, data, widened] : {std::tuple{ElemType::F32, static_cast<const void*>(w.data()), &w},
                                     std::tuple{ElemType::BF16, static_cast<const void*>(bf.data()), &wb},
                                     std::tuple{ElemType::F16, static_cast<const void*>(hf.data()), &wh}}) {
    Matrix m;
    m.type = type;
    m.data = data;
    m.rows = rows;
    m.cols = cols;
    for (const auto& isa : sets) {
      const auto b = bind_row_dot(m, *isa.set);
      ASSERT_TRUE(b) << isa.name;
      const std::vector<float> x = gaussian(static_cast<std::size_t>(cols), 9, 1e-3f);
      expect_rows_match(*b, *widened, rows, x, std::string("type ") + std::to_string(static_cast<int>(type)) + " " + isa.name);
    }
  }
}

// Formats the table does not serve, and shapes its kernels do not take, get no kernel: the product
// then widens slabs (exactly), so nothing runs a kernel on bytes it cannot read.
TEST(RowDot, NoKernelWhereNoRowServes) {
  for (const char* name : {"nf4", "nf4-dq", "int3-g64", "int2-ch", "int4-g32-sym"}) {
    const auto& spec = formats::block_format(name);
    const bool served = row_dot_kernel_for(spec) != nullptr;
    EXPECT_EQ(served, std::string(name) == "int4-g32-sym") << name;
  }
  const auto sets = runnable_sets();
  if (sets.empty()) return;
  Matrix m;
  m.type = ElemType::BF16;
  std::vector<std::uint16_t> h(7 * 48);
  m.data = h.data();
  m.rows = 7;
  m.cols = 48;  // not whole chunks of 32
  EXPECT_FALSE(bind_row_dot(m, *sets[0].set));
  // A spec with the nvfp4 kind but a codec of its own is not read as nvfp4.
  formats::BlockFormatSpec own = formats::block_format("nvfp4");
  const formats::BlockCodec other = *own.codec;
  own.codec = &other;
  EXPECT_EQ(row_dot_kernel_for(own), nullptr);
}

// tensor::matmul with one activation row: the default (Fast) goes through the kernels and agrees with
// ProductMath::Exact to the kernels' tolerance; padded rows (cols not a multiple of the block) too.
TEST(RowDot, MatmulFastAgreesWithExact) {
  if (!row_dot_set()) GTEST_SKIP() << "no row-dot instruction set on this CPU";
  const std::int64_t N = 301, K = 2040;  // int4-g128 pads 2040 to 2048
  const std::vector<float> w = gaussian(static_cast<std::size_t>(N * K), 4, 0.02f);
  const Matrix dense = Matrix::owned_f32(w, N, K);
  const std::vector<float> x = gaussian(static_cast<std::size_t>(K), 5);
  for (const char* name : {"nvfp4", "int4-g128", "fp8-channel"}) {
    const auto& spec = formats::block_format(name);
    if (formats::padded_cols(spec, K) % 32 != 0) continue;
    Matrix fast = quantize_matrix(dense, spec, QuantizedStorage::Packed);
    Matrix exact = fast;
    exact.math = ProductMath::Exact;
    const std::vector<float> deq = quantize_matrix(dense, spec, QuantizedStorage::F32).to_f32();
    std::vector<float> yf(static_cast<std::size_t>(N)), ye(yf.size());
    matmul(x.data(), 1, fast, yf.data());
    matmul(x.data(), 1, exact, ye.data());
    for (std::int64_t n = 0; n < N; ++n) {
      const Exact e = exact_dot(deq.data() + n * K, x.data(), K);
      ASSERT_NEAR(yf[static_cast<std::size_t>(n)], e.value, tolerance(e, K)) << name << " row " << n;
      ASSERT_NEAR(ye[static_cast<std::size_t>(n)], e.value, tolerance(e, K)) << name << " row " << n;
    }
  }
}

// ---- ProductMath::Native: int8 activations, integer dot products ------------------------------------

// v rounded to IEEE binary16, ties to even (|v| below 65504): 11 significant bits, or the subnormal
// step 2^-24.
float round_to_half(float v) {
  if (v == 0) return v;
  int e;
  std::frexp(v, &e);  // v = m 2^e, m in [0.5, 1)
  const int q = std::max(e - 11, -24);
  return std::ldexp(std::nearbyint(std::ldexp(v, -q)), q);
}

// ggml's quantize_row_q8_0_ref, written here from ggml-quants.c: blocks of 32, d = amax / 127,
// q = roundf(x * (1 / d)), the products take q * fp16(d).
std::vector<float> q8_0_rounded(const std::vector<float>& x) {
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
std::vector<float> native_activations(std::int64_t cols, unsigned seed) {
  std::vector<float> x = gaussian(static_cast<std::size_t>(cols), seed);
  if (seed == 2) {
    x[5] = 1e6f;
    std::fill(x.begin() + 64, x.begin() + 96, 0.0f);
  }
  if (seed == 3) x[40] = -1e-30f;
  return x;
}

struct Reference {
  double value = 0, bound = 0;
};

// Row wr (cols values, scale groups of `group`) against the q8_0-rounded activations xr, in double,
// and the bound derived below.
Reference native_reference(const float* wr, const std::vector<float>& xr, std::int64_t cols, std::int64_t group) {
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
kernels::RowDotArgs with_q8_activations(const BoundRowDot& b, const std::vector<float>& x, QuantizedActivations& xq) {
  kernels::RowDotArgs args = b.args;
  EXPECT_TRUE(quantize_activations(x.data(), b.args.cols, b.activations, xq));
  args.xq = xq.q.data();
  args.xd = xq.d.data();
  args.xs = xq.s.data();
  return args;
}

// The kernel on rows [r0, r0 + n) against native_reference (deq: the dequantized rows, xr: the rounded
// activations); where `whole` is given (the kernel on every row at once), each row equal to it too.
void expect_native_band(const BoundRowDot& b, const kernels::RowDotArgs& args, const std::vector<float>& deq,
                        const std::vector<float>& xr, std::int64_t group, std::int64_t r0, std::int64_t n,
                        const std::vector<float>& whole, const std::string& what) {
  const std::int64_t cols = args.cols;
  std::vector<float> y(static_cast<std::size_t>(n), -1.0f);
  b.fn(args, r0, n, y.data());
  for (std::int64_t i = 0; i < n; ++i) {
    const Reference e = native_reference(deq.data() + (r0 + i) * cols, xr, cols, group);
    const float got = y[static_cast<std::size_t>(i)];
    ASSERT_NEAR(got, e.value, e.bound) << what << ": row " << r0 + i << " (band from " << r0 << ")";
    if (!whole.empty()) {
      ASSERT_EQ(got, whole[static_cast<std::size_t>(r0 + i)]) << what << ": row " << r0 + i;
    }
  }
}

// Native's kernels against the dequantized weights (the format's reference) times the q8_0-rounded
// activations, in double. The kernel's block sums are exact integers; what rounds is as in the float
// kernels (one accumulation per chunk, the tree, the row scale) plus each chunk's scale product and
// its zero-point term, whose two parts (scale x codes, scale x zero) may each reach the group's range
// while the weight is small. So the bound is the float kernels' n u taken over 2 B_g |x_k|, B_g the
// largest |w| of k's scale group (the row for int8-ch).
TEST(RowDot, NativeIntegerKernelsMatchTheQ8RoundedProduct) {
  const std::int64_t rows = 11;
  int formats_served = 0;
  for (const auto& spec : formats::all_block_formats()) {
    const RowDotKernel* k = row_dot_kernel_for(spec);
    if (!k || !k->native) continue;
    ++formats_served;
    for (std::int64_t cols : {std::int64_t{384}, std::int64_t{2048}}) {
      if (formats::padded_cols(spec, cols) != cols) continue;
      const std::vector<float> w = awkward_weights(rows, cols, 17);
      const formats::QuantizedTensor q = formats::quantize(spec, w, rows, cols);
      std::vector<float> deq(w.size());
      formats::dequantize(q, deq, formats::KernelPath::Reference);
      Matrix m = Matrix::owned_packed(q, spec, cols);
      m.math = ProductMath::Native;
      const std::int64_t group = spec.block_size > 0 ? spec.block_size : cols;
      for (const auto& isa : row_dot_sets()) {
        const std::string what = spec.name + " " + isa.name + " (" + isa.integer + ") cols " + std::to_string(cols);
        const auto b = bind_row_dot(m, isa.set);
        ASSERT_TRUE(b) << what;
        if (std::string(isa.integer) == "none") {  // the float kernel, as Fast
          EXPECT_EQ(b->activations, kernels::ActivationBlocks::Float) << what;
          continue;
        }
        ASSERT_TRUE(b->native) << what;
        ASSERT_EQ(b->activations, kernels::ActivationBlocks::Q8_0) << what;
        for (unsigned seed : {1u, 2u, 3u}) {
          const std::vector<float> x = native_activations(cols, seed);
          const std::vector<float> xr = q8_0_rounded(x);
          QuantizedActivations xq;
          const kernels::RowDotArgs args = with_q8_activations(*b, x, xq);
          for (auto [r0, n] : {std::pair<std::int64_t, std::int64_t>{0, rows}, {3, rows - 4}, {rows - 1, 1}})
            ASSERT_NO_FATAL_FAILURE(
                expect_native_band(*b, args, deq, xr, group, r0, n, {}, what + " seed " + std::to_string(seed)));
        }
      }
    }
  }
  // nvfp4, mxfp4; int4 and int8 groups (8 + 6 specs); int8-ch
  EXPECT_EQ(formats_served, 2 + 8 + 6 + 1);
}

// qlab's formats under Native with rows interleaved by 8 (row_interleave.h): the first one-row
// product makes the copy (loading and Fast's products do not) and reads it through the format's x8
// kernel, which meets the reference above: 40 rows are two double groups of 16 and one group of 8,
// bands start at group boundaries as matmul hands them out, and every row equals, bit for bit, the
// kernel called on the whole matrix at once, as matmul's does. Rows of 2040 values are padded to
// 2048 (the padding's codes and activations are zeros). A matrix of 43 rows (not whole groups) gets
// no copy and decodes row at a time, against the same reference.
TEST(RowDot, InterleavedNativeKernelsMatchTheQ8RoundedProduct) {
  const kernels::RowDotSet* set = row_dot_set();
  if (!set || !set->int4_x8) GTEST_SKIP() << "no interleaved kernels on this CPU";
  using K = kernels::RowDotSet;
  for (auto [name, kernel] : {std::pair{"nvfp4", &K::nvfp4_x8}, {"mxfp4", &K::mxfp4_x8}, {"int4-g32", &K::int4_x8},
                              {"int4-g128", &K::int4_x8}, {"int4-g32-sym", &K::int4_x8}, {"int4-ch", &K::int4_x8},
                              {"int8-g128", &K::int8_x8}, {"int8-g32-sym", &K::int8_x8}}) {
    const formats::BlockFormatSpec& spec = formats::block_format(name);
    for (auto [rows, cols] : {std::pair<std::int64_t, std::int64_t>{40, 384}, {40, 2040}, {43, 384}}) {
      const std::int64_t padded = formats::padded_cols(spec, cols);
      if (padded % kernels::kRowDotChunk != 0) continue;  // int4-ch: 2040 values, one group; no kernel
      const std::string what = std::string(name) + " rows " + std::to_string(rows) + " cols " + std::to_string(cols);
      const std::vector<float> w = formats::pad_columns(awkward_weights(rows, cols, 19), rows, cols, padded);
      const formats::QuantizedTensor q = formats::quantize(spec, w, rows, padded);
      std::vector<float> deq(w.size());
      formats::dequantize(q, deq, formats::KernelPath::Reference);
      Matrix m = Matrix::owned_packed(q, spec, cols);
      const bool whole_groups = rows % kInterleaveRows == 0;
      ASSERT_EQ(static_cast<bool>(m.interleaved), whole_groups) << what;
      if (whole_groups) {
        const auto fast = bind_row_dot(m, *set);
        ASSERT_TRUE(fast) << what;
        EXPECT_EQ(fast->row_group, 1) << what;
        EXPECT_FALSE(m.interleaved->made()) << what << ": made by loading or by Fast";
      }
      m.math = ProductMath::Native;
      const auto b = bind_row_dot(m, *set);
      ASSERT_TRUE(b) << what;
      ASSERT_EQ(b->fn, whole_groups ? set->*kernel : set->*row_dot_kernel_for(spec)->native) << what;
      ASSERT_EQ(b->row_group, whole_groups ? 8 : 1) << what;
      if (whole_groups) {
        EXPECT_EQ(static_cast<std::int64_t>(m.interleaved->size()), interleaved_bytes(m)) << what;
      }
      const std::int64_t group = spec.block_size > 0 ? spec.block_size : padded;
      for (unsigned seed : {1u, 2u, 3u}) {
        std::vector<float> x = native_activations(padded, seed);
        std::fill(x.begin() + cols, x.end(), 0.0f);  // matmul pads the activations with zeros
        const std::vector<float> xr = q8_0_rounded(x);
        QuantizedActivations xq;
        const kernels::RowDotArgs args = with_q8_activations(*b, x, xq);
        std::vector<float> whole(static_cast<std::size_t>(rows));
        b->fn(args, 0, rows, whole.data());
        for (auto [r0, n] : {std::pair<std::int64_t, std::int64_t>{0, rows}, {8, rows - 8}, {rows - 8, 8}})
          ASSERT_NO_FATAL_FAILURE(
              expect_native_band(*b, args, deq, xr, group, r0, n, whole, what + " seed " + std::to_string(seed)));
        std::vector<float> ym(static_cast<std::size_t>(rows));
        matmul(x.data(), 1, m, ym.data());
        EXPECT_EQ(ym, whole) << what << " seed " << seed;
      }
    }
  }
}

// The x8 FP4 kernels convert eight scale codes at once by bit moves, not by the row kernels' table:
// here every scale code, including those the quantizer never writes, against the same reference.
// nvfp4: each E4M3 code (negative ones; subnormals; the two NaN codes, whose rows are NaN). mxfp4:
// E8M0 codes 0 (2^-127) to 252 (above, 6 x the scale overflows a float) in rows whose activations are
// scaled so the products stay normal floats, and 255 (NaN) in one block.
TEST(RowDot, InterleavedFP4KernelsReadEveryScaleCode) {
  const kernels::RowDotSet* set = row_dot_set();
  if (!set || !set->nvfp4_x8) GTEST_SKIP() << "no interleaved kernels on this CPU";
  const std::int64_t rows = 40, cols = 256;
  for (auto [name, per_block] : {std::pair{"nvfp4", 2}, {"mxfp4", 1}}) {
    const formats::BlockFormatSpec& spec = formats::block_format(name);
    formats::QuantizedTensor q = formats::quantize(spec, awkward_weights(rows, cols, 23), rows, cols);
    const std::int64_t per_row = cols / 32 * per_block;
    std::vector<float> x_scale(static_cast<std::size_t>(rows), 1.0f);  // each row's activations
    for (std::int64_t i = 0; i < rows * per_row; ++i) {
      const std::int64_t r = i / per_row;
      int code = static_cast<int>(i % 256);
      if (per_block == 1) {
        code = r < 24 ? static_cast<int>(i) : r < 32 ? static_cast<int>(i) - 3 : (r == 35 && i % per_row == 3) ? 255 : 127;
        x_scale[static_cast<std::size_t>(r)] = r < 8 ? 0x1p14f : r >= 24 && r < 32 ? 0x1p-14f : 1.0f;
      }
      q.scales[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(code);
    }
    std::vector<float> deq(static_cast<std::size_t>(rows * cols));
    formats::dequantize(q, deq, formats::KernelPath::Reference);
    Matrix m = Matrix::owned_packed(q, spec, cols);
    m.math = ProductMath::Native;
    const auto b = bind_row_dot(m, *set);
    ASSERT_TRUE(b && b->row_group == 8) << name;
    for (float s : {1.0f, 0x1p14f, 0x1p-14f}) {
      std::vector<float> x = native_activations(cols, 1);
      for (auto& v : x) v *= s;
      const std::vector<float> xr = q8_0_rounded(x);
      QuantizedActivations xq;
      const kernels::RowDotArgs args = with_q8_activations(*b, x, xq);
      std::vector<float> y(static_cast<std::size_t>(rows));
      b->fn(args, 0, rows, y.data());
      for (std::int64_t r = 0; r < rows; ++r) {
        if (x_scale[static_cast<std::size_t>(r)] != s) continue;
        const Reference e = native_reference(deq.data() + r * cols, xr, cols, 32);
        const float got = y[static_cast<std::size_t>(r)];
        if (std::isnan(e.value)) {
          EXPECT_TRUE(std::isnan(got)) << name << " row " << r;
        } else {
          ASSERT_NEAR(got, e.value, e.bound) << name << " row " << r << ", activations x " << s;
        }
      }
    }
  }
}

// Through tensor::matmul: Native differs from the exact product (Exact, float activations) by the
// q8_0 rounding of the activations, at most d / 2 = amax / 254 per value plus the fp16 rounding of d
// (2^-11 relative), so |Native - exact| <= sum |w_k| (amax_b(k) / 254 + |x_k| 2^-11) + the kernels'
// float bound; Fast is left as it was (the float kernels).
TEST(RowDot, MatmulNativeStaysWithinTheActivationRoundingOfExact) {
  if (!row_dot_set() || !row_dot_set()->int4_q8) GTEST_SKIP() << "no integer row-dot kernels on this CPU";
  const std::int64_t N = 203, K = 2040;  // int4-g128 pads 2040 to 2048
  const std::vector<float> w = gaussian(static_cast<std::size_t>(N * K), 4, 0.02f);
  const Matrix dense = Matrix::owned_f32(w, N, K);
  std::vector<float> x = gaussian(static_cast<std::size_t>(K), 5);
  x[100] = 30.0f;
  for (const char* name : {"int4-g128", "int4-g32-sym", "int8-g128", "int8-ch", "nvfp4", "mxfp4"}) {
    const auto& spec = formats::block_format(name);
    Matrix native = quantize_matrix(dense, spec, QuantizedStorage::Packed);
    native.math = ProductMath::Native;
    Matrix fast = native, exact = native;
    fast.math = ProductMath::Fast;
    exact.math = ProductMath::Exact;
    const std::vector<float> deq = quantize_matrix(dense, spec, QuantizedStorage::F32).to_f32();
    std::vector<float> yn(static_cast<std::size_t>(N)), yf(yn.size()), ye(yn.size());
    matmul(x.data(), 1, native, yn.data());
    matmul(x.data(), 1, fast, yf.data());
    matmul(x.data(), 1, exact, ye.data());
    std::vector<float> padded = x;  // zeros to the format's padded row and whole blocks of 32
    padded.resize(static_cast<std::size_t>(std::max<std::int64_t>(formats::padded_cols(spec, K), (K + 31) / 32 * 32)), 0.0f);
    const std::vector<float> xr = q8_0_rounded(padded);
    double worst = 0;
    for (std::int64_t n = 0; n < N; ++n) {
      const float* wr = deq.data() + n * K;
      const Exact e = exact_dot(wr, x.data(), K);
      double rounding = 0, value_r = 0, magnitude_r = 0;
      for (std::int64_t b = 0; b < K; b += 32) {
        float amax = 0;
        for (std::int64_t j = b; j < std::min(b + 32, K); ++j) amax = std::max(amax, std::fabs(x[static_cast<std::size_t>(j)]));
        for (std::int64_t j = b; j < std::min(b + 32, K); ++j) {
          const double wj = std::fabs(static_cast<double>(wr[j]));
          rounding += wj * (amax / 254.0 + std::fabs(x[static_cast<std::size_t>(j)]) * std::ldexp(1.0, -11));
          value_r += static_cast<double>(wr[j]) * xr[static_cast<std::size_t>(j)];
          magnitude_r += wj * std::fabs(static_cast<double>(xr[static_cast<std::size_t>(j)]));
        }
      }
      const auto i = static_cast<std::size_t>(n);
      ASSERT_NEAR(yn[i], e.value, rounding + 4 * tolerance(e, K)) << name << " row " << n;
      ASSERT_NEAR(yf[i], e.value, tolerance(e, K)) << name << " fast, row " << n;
      ASSERT_NEAR(ye[i], e.value, tolerance(e, K)) << name << " exact, row " << n;
      worst = std::max(worst, std::fabs(yn[i] - e.value) / (magnitude_r + 1e-30));
      // and Native is the product with the rounded activations (its own bound above, loosely)
      EXPECT_NEAR(yn[i], value_r, 0.5 * rounding) << name << " row " << n;
    }
    EXPECT_LT(worst, 0.05) << name;  // the rounding moves each sum by a few tenths of a percent of its size
  }
}

}  // namespace
}  // namespace qlab::tensor
