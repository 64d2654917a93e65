// The row-dot kernels (decoding's products over stored bytes) against a reference written here: the
// format's own reference dequantization (KernelPath::Reference) followed by a dot product in double.
// Every instruction set this CPU runs is tested, not only the one the runtime picks.
//
// The bounds and the band check: row_dot_check.h.
#include <gtest/gtest.h>

#include <cmath>
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
#include "tests/unit/tensor/row_dot_check.h"

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

using namespace rowdottest;

// y over rows [r0, r0 + n) by the kernel, against the dequantized rows dotted in double.
void expect_rows_match(const BoundRowDot& b, const std::vector<float>& dequantized, std::int64_t rows,
                       const std::vector<float>& x, const std::string& what) {
  const std::int64_t cols = b.args.cols;
  kernels::RowDotArgs args = b.args;
  args.x = x.data();
  const auto reference = [&](std::int64_t r) {
    const Exact e = exact_dot(dequantized.data() + r * cols, x.data(), cols);
    return Reference{e.value, tolerance(e, cols)};
  };
  // a band that starts mid-matrix and ends with rows fewer than the kernel's row block
  for (auto [r0, n] : {std::pair<std::int64_t, std::int64_t>{0, rows}, {3, rows - 4}, {rows - 1, 1}})
    ASSERT_NO_FATAL_FAILURE(expect_band(b, args, r0, n, {}, reference, what));
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
// 301 rows are not whole groups of 8: no interleaved copy, the row-at-a-time kernels (row_dot_x8_test.cpp
// has the interleaved ones).
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

// Native's kernels against the dequantized weights times the q8_0-rounded activations, in double
// (native_reference: row_dot_check.h).
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
          const auto reference = [&](std::int64_t r) { return native_reference(deq.data() + r * cols, xr, cols, group); };
          for (auto [r0, n] : {std::pair<std::int64_t, std::int64_t>{0, rows}, {3, rows - 4}, {rows - 1, 1}})
            ASSERT_NO_FATAL_FAILURE(expect_band(*b, args, r0, n, {}, reference, what + " seed " + std::to_string(seed)));
        }
      }
    }
  }
  // nvfp4, mxfp4; int4 and int8 groups (8 + 6 specs); int8-ch
  EXPECT_EQ(formats_served, 2 + 8 + 6 + 1);
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
