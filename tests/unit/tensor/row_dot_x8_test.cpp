// The kernels that read a matrix's rows interleaved by 8 (row_interleave.h), under ProductMath::Native
// (int8 activations, integer dot products) and Fast (float activations), against the references of
// row_dot_check.h: the format's reference dequantization dotted in double. Where a row lands in its
// band (a group of sixteen, or the last group of eight) does not change its result: every band's rows
// equal, bit for bit, the kernel called on the whole matrix, as matmul's single band is.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "engine/formats/block.h"
#include "engine/formats/format_lookup.h"
#include "engine/tensor/matrix.h"
#include "engine/tensor/quantize_matrix.h"
#include "engine/tensor/row_dot_activations.h"
#include "engine/tensor/row_dot_table.h"
#include "engine/tensor/row_interleave.h"
#include "tests/unit/tensor/row_dot_check.h"

namespace qlab::tensor {
namespace {

using namespace rowdottest;

// 40 rows: two groups of sixteen and one of eight. Bands start at group boundaries, as matmul hands
// them out: the whole matrix, from the second group (pairs shifted by one), the last group alone,
// one group of sixteen then eight.
constexpr std::int64_t kRows = 40;
constexpr std::pair<std::int64_t, std::int64_t> kBands[] = {{0, kRows}, {8, kRows - 8}, {kRows - 8, 8}, {16, 24}};

// kRows rows of awkward weights (seed) packed in spec, and their reference dequantization (deq).
Matrix awkward_matrix(const formats::BlockFormatSpec& spec, std::int64_t cols, unsigned seed, std::vector<float>& deq) {
  const std::vector<float> w = awkward_weights(kRows, cols, seed);
  const formats::QuantizedTensor q = formats::quantize(spec, w, kRows, cols);
  deq.resize(w.size());
  formats::dequantize(q, deq, formats::KernelPath::Reference);
  return Matrix::owned_packed(q, spec, cols);
}

// m bound (b) to `kernel` on its copy, made at this first bind (loading made none: `before`).
void expect_reads_copy(const Matrix& m, bool before, const std::optional<BoundRowDot>& b, kernels::RowDot kernel,
                       const std::string& what) {
  EXPECT_FALSE(before) << what << ": made by loading";
  ASSERT_TRUE(b) << what;
  ASSERT_EQ(b->fn, kernel) << what;
  ASSERT_EQ(b->row_group, 8) << what;
  EXPECT_EQ(static_cast<std::int64_t>(m.interleaved->size()), interleaved_bytes(m)) << what;
}

// The kernel on the whole matrix, then on each band: every row within reference(row) and equal to the
// whole call's; and matmul's product (x: the activations as given to it) equal to the whole call's.
template <class RowReference>
void expect_every_band(const BoundRowDot& b, const kernels::RowDotArgs& args, const Matrix& m,
                       const std::vector<float>& x, RowReference reference, const std::string& what) {
  std::vector<float> whole(static_cast<std::size_t>(kRows));
  b.fn(args, 0, kRows, whole.data());
  for (auto [r0, n] : kBands) ASSERT_NO_FATAL_FAILURE(expect_band(b, args, r0, n, whole, reference, what));
  std::vector<float> ym(static_cast<std::size_t>(kRows));
  matmul(x.data(), 1, m, ym.data());
  EXPECT_EQ(ym, whole) << what;
}

// ---- ProductMath::Native --------------------------------------------------------------------------

// qlab's formats under Native: the first one-row product makes the copy (loading does not) and reads
// it through the format's x8 kernel, which meets native_reference.
TEST(RowDotX8, NativeKernelsMatchTheQ8RoundedProduct) {
  const kernels::RowDotSet* set = row_dot_set();
  if (!set || !set->int4_x8) GTEST_SKIP() << "no interleaved kernels on this CPU";
  using K = kernels::RowDotSet;
  for (auto [name, kernel] : {std::pair{"nvfp4", &K::nvfp4_x8}, {"mxfp4", &K::mxfp4_x8}, {"int4-g32", &K::int4_x8},
                              {"int4-g128", &K::int4_x8}, {"int4-g32-sym", &K::int4_x8}, {"int4-ch", &K::int4_x8},
                              {"int8-g128", &K::int8_x8}, {"int8-g32-sym", &K::int8_x8}}) {
    const formats::BlockFormatSpec& spec = formats::block_format(name);
    for (std::int64_t cols : {std::int64_t{384}, std::int64_t{2048}}) {
      if (formats::padded_cols(spec, cols) != cols) continue;
      const std::string what = std::string(name) + " cols " + std::to_string(cols);
      std::vector<float> deq;
      Matrix m = awkward_matrix(spec, cols, 19, deq);
      ASSERT_TRUE(m.interleaved) << what;
      const bool before = m.interleaved->made();
      m.math = ProductMath::Native;
      const auto b = bind_row_dot(m, *set);
      ASSERT_NO_FATAL_FAILURE(expect_reads_copy(m, before, b, set->*kernel, what));
      const std::int64_t group = spec.block_size > 0 ? spec.block_size : cols;
      for (unsigned seed : {1u, 2u, 3u}) {
        const std::vector<float> x = native_activations(cols, seed);
        const std::vector<float> xr = q8_0_rounded(x);
        QuantizedActivations xq;
        const kernels::RowDotArgs args = with_q8_activations(*b, x, xq);
        const auto reference = [&](std::int64_t r) { return native_reference(deq.data() + r * cols, xr, cols, group); };
        ASSERT_NO_FATAL_FAILURE(expect_every_band(*b, args, m, x, reference, what + " seed " + std::to_string(seed)));
      }
    }
  }
}

// ---- ProductMath::Fast ----------------------------------------------------------------------------

// The float x8 kernels' order of operations (row_dot_x8_avx512.cpp): within a scale's span of S values
// (nvfp4 16, mxfp4 32, an int group G, the row for -ch) each row's products go to chains of
// max(S / 4, 8) additions, the chains are added (2), the span's scale times that sum is added to the
// row's total (cols / S additions), then the tensor scale (1); the reference's dequantized weight
// carries up to two roundings. So |kernel - exact| <= n u sum |w_k x_k| with
// n = max(S / 4, 8) + cols / S + 5 and u = 2^-24; the test allows n + 4.
Reference x8_float_reference(const float* wr, const std::vector<float>& x, std::int64_t cols, std::int64_t span) {
  const Exact e = exact_dot(wr, x.data(), cols);
  const double n = static_cast<double>(std::max<std::int64_t>(span / 4, 8) + cols / span + 9);
  return {e.value, n * std::ldexp(1.0, -24) * e.magnitude};
}

// Values per scale of a format the float x8 kernels read.
std::int64_t scale_span(const formats::BlockFormatSpec& spec, std::int64_t cols) {
  if (spec.kind == formats::BlockKind::NVFP4) return 16;
  if (spec.kind == formats::BlockKind::MXFP4) return 32;
  return spec.block_size > 0 ? spec.block_size : cols;
}

// Fast's one-row product on a matrix with whole groups of 8 rows makes the copy at its first bind and
// reads it through the float x8 kernel; Native's binds the same copy. Every format with an x8 layout
// has one: nvfp4 (its tensor scale included), mxfp4, int4 and int8 in each group size, symmetric and
// not, and int4-ch.
TEST(RowDotX8, FloatKernelsMatchTheDequantizedProduct) {
  const kernels::RowDotSet* set = row_dot_set();
  if (!set || !set->int4_float_x8) GTEST_SKIP() << "no interleaved float kernels on this CPU";
  int formats_served = 0;
  for (const auto& spec : formats::all_block_formats()) {
    const auto kernel = interleaved_kernel(spec, kernels::ActivationBlocks::Float);
    if (!kernel || spec.kind == formats::BlockKind::Ggml) continue;
    ++formats_served;
    for (std::int64_t cols : {std::int64_t{384}, std::int64_t{2048}}) {
      if (formats::padded_cols(spec, cols) != cols) continue;
      const std::string what = spec.name + " cols " + std::to_string(cols);
      std::vector<float> deq;
      const Matrix m = awkward_matrix(spec, cols, 29, deq);
      ASSERT_TRUE(m.interleaved) << what;
      const bool before = m.interleaved->made();
      const auto b = bind_row_dot(m, *set);
      ASSERT_NO_FATAL_FAILURE(expect_reads_copy(m, before, b, set->*kernel, what));
      ASSERT_EQ(b->activations, kernels::ActivationBlocks::Float) << what;
      Matrix native = m;
      native.math = ProductMath::Native;
      const auto bn = bind_row_dot(native, *set);
      if (set->int4_x8) {
        EXPECT_TRUE(bn && bn->args.data == b->args.data) << what << ": Native reads another copy";
      }
      const std::int64_t span = scale_span(spec, cols);
      for (unsigned seed : {1u, 2u}) {
        std::vector<float> x = gaussian(static_cast<std::size_t>(cols), seed);
        if (seed == 2) x[5] = 1e6f;  // one large activation
        kernels::RowDotArgs args = b->args;
        args.x = x.data();
        const auto reference = [&](std::int64_t r) { return x8_float_reference(deq.data() + r * cols, x, cols, span); };
        ASSERT_NO_FATAL_FAILURE(expect_every_band(*b, args, m, x, reference, what + " seed " + std::to_string(seed)));
      }
    }
  }
  // nvfp4, mxfp4; int4 in groups of 32/64/128/row and int8 in 32/64/128, each asymmetric and symmetric
  EXPECT_EQ(formats_served, 2 + 8 + 6);
}

// Through tensor::matmul, as decoding multiplies: rows padded to whole blocks (2040 columns: nvfp4,
// mxfp4 and the int groups pad to 2048) read from the copy, band by band over the pool's threads, in
// 296 rows (37 groups: bands of sixteen and a last group of eight); 301 rows are not whole groups, so
// they get no copy and the row-at-a-time kernels. Both within their bounds of the dequantized product.
TEST(RowDotX8, MatmulFastReadsTheCopyWhereRowsAreWholeGroups) {
  const kernels::RowDotSet* set = row_dot_set();
  if (!set || !set->int4_float_x8) GTEST_SKIP() << "no interleaved float kernels on this CPU";
  const std::int64_t K = 2040;
  std::vector<float> x = gaussian(static_cast<std::size_t>(K), 5);
  x[100] = 30.0f;
  for (const std::int64_t N : {std::int64_t{296}, std::int64_t{301}}) {
    const Matrix dense = Matrix::owned_f32(gaussian(static_cast<std::size_t>(N * K), 4, 0.02f), N, K);
    for (const char* name : {"nvfp4", "mxfp4", "int4-g128", "int4-g32-sym", "int8-g64", "int8-g32-sym"}) {
      const auto& spec = formats::block_format(name);
      const std::string what = std::string(name) + " rows " + std::to_string(N);
      const std::int64_t cols = formats::padded_cols(spec, K);
      ASSERT_EQ(cols, 2048) << what;
      const Matrix m = quantize_matrix(dense, spec, QuantizedStorage::Packed);
      const std::vector<float> deq = quantize_matrix(dense, spec, QuantizedStorage::F32).to_f32();
      std::vector<float> y(static_cast<std::size_t>(N));
      matmul(x.data(), 1, m, y.data());
      const bool whole_groups = N % 8 == 0;
      EXPECT_EQ(m.interleaved && m.interleaved->made(), whole_groups) << what;
      for (std::int64_t r = 0; r < N; ++r) {
        const Exact e = exact_dot(deq.data() + r * K, x.data(), K);
        const double bound = whole_groups ? x8_float_reference(deq.data() + r * K, x, K, scale_span(spec, cols)).bound
                                          : tolerance(e, cols);
        ASSERT_NEAR(y[static_cast<std::size_t>(r)], e.value, bound) << what << " row " << r;
      }
    }
  }
}

// The x8 FP4 kernels convert a block's scale codes at once by bit moves, not by the row kernels'
// table: here every scale code, including those the quantizer never writes, under Native and Fast,
// against the same references. nvfp4: each E4M3 code (negative ones; subnormals; the two NaN codes,
// whose rows are NaN). mxfp4: E8M0 codes 0 (2^-127) to 252 (above, 6 x the scale overflows a float) in
// rows whose activations are scaled so the products stay normal floats, and 255 (NaN) in one block.
TEST(RowDotX8, FP4KernelsReadEveryScaleCode) {
  const kernels::RowDotSet* set = row_dot_set();
  if (!set || (!set->nvfp4_float_x8 && !set->nvfp4_x8)) GTEST_SKIP() << "no interleaved kernels on this CPU";
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
    for (const ProductMath math : {ProductMath::Native, ProductMath::Fast}) {
      const bool native = math == ProductMath::Native;
      if (native ? !set->nvfp4_x8 : !set->nvfp4_float_x8) continue;  // no VNNI / SDOT; no float x8 (NEON)
      m.math = math;
      const auto b = bind_row_dot(m, *set);
      const std::string what = std::string(name) + (native ? " native" : " fast");
      ASSERT_TRUE(b && b->row_group == 8) << what;
      for (float s : {1.0f, 0x1p14f, 0x1p-14f}) {
        std::vector<float> x = native_activations(cols, 1);
        for (auto& v : x) v *= s;
        const std::vector<float> xr = q8_0_rounded(x);
        QuantizedActivations xq;
        kernels::RowDotArgs args = native ? with_q8_activations(*b, x, xq) : b->args;
        args.x = x.data();
        std::vector<float> y(static_cast<std::size_t>(rows));
        b->fn(args, 0, rows, y.data());
        for (std::int64_t r = 0; r < rows; ++r) {
          if (x_scale[static_cast<std::size_t>(r)] != s) continue;
          const float* wr = deq.data() + r * cols;
          const Reference e = native ? native_reference(wr, xr, cols, 32) : x8_float_reference(wr, x, cols, 32 / per_block);
          const float got = y[static_cast<std::size_t>(r)];
          if (std::isnan(e.value)) {
            EXPECT_TRUE(std::isnan(got)) << what << " row " << r;
          } else {
            ASSERT_NEAR(got, e.value, e.bound) << what << " row " << r << ", activations x " << s;
          }
        }
      }
    }
  }
}

}  // namespace
}  // namespace qlab::tensor
