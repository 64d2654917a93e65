// The kernels that read a matrix's rows interleaved by 8 (row_interleave.h), under ProductMath::Native
// (int8 activations, integer dot products), against the references of row_dot_check.h: the format's reference dequantization dotted in double. Where a row lands in its
// band (a group of sixteen, or the last group of eight) does not change its result: every band's rows
// equal, bit for bit, the kernel called on the whole matrix, as matmul's single band is.
#include <gtest/gtest.h>

#include <cmath>
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
      const std::vector<float> w = awkward_weights(kRows, cols, 19);
      const formats::QuantizedTensor q = formats::quantize(spec, w, kRows, cols);
      std::vector<float> deq(w.size());
      formats::dequantize(q, deq, formats::KernelPath::Reference);
      Matrix m = Matrix::owned_packed(q, spec, cols);
      ASSERT_TRUE(m.interleaved) << what;
      EXPECT_FALSE(m.interleaved->made()) << what << ": made by loading";
      m.math = ProductMath::Native;
      const auto b = bind_row_dot(m, *set);
      ASSERT_TRUE(b) << what;
      ASSERT_EQ(b->fn, set->*kernel) << what;
      ASSERT_EQ(b->row_group, 8) << what;
      EXPECT_EQ(static_cast<std::int64_t>(m.interleaved->size()), interleaved_bytes(m)) << what;
      const std::int64_t group = spec.block_size > 0 ? spec.block_size : cols;
      for (unsigned seed : {1u, 2u, 3u}) {
        const std::vector<float> x = native_activations(cols, seed);
        const std::vector<float> xr = q8_0_rounded(x);
        QuantizedActivations xq;
        const kernels::RowDotArgs args = with_q8_activations(*b, x, xq);
        std::vector<float> whole(static_cast<std::size_t>(kRows));
        b->fn(args, 0, kRows, whole.data());
        const auto reference = [&](std::int64_t r) { return native_reference(deq.data() + r * cols, xr, cols, group); };
        for (auto [r0, n] : kBands)
          ASSERT_NO_FATAL_FAILURE(expect_band(*b, args, r0, n, whole, reference, what + " seed " + std::to_string(seed)));
        std::vector<float> ym(static_cast<std::size_t>(kRows));
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
TEST(RowDotX8, FP4KernelsReadEveryScaleCode) {
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

}  // namespace
}  // namespace qlab::tensor
