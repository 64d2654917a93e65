// Properties every block format must have: bits per weight from the real bytes, fast path equal to the
// reference path bit for bit, each element at its block's nearest grid value, clear errors on bad input.
#include <cmath>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "block_test_util.h"
#include "engine/core/error.h"
#include "engine/core/threads.h"
#include "engine/formats/block.h"
#include "engine/formats/scalar.h"

namespace qlab::formats {
namespace {

using blocktest::spec;

// block-formats.md section 6 (per-tensor scalars are the only extra bytes, hence the tolerance).
TEST(BlockBits, BitsPerWeightFromRealBytes) {
  const std::vector<std::pair<std::string, double>> want = {
      {"nvfp4", 4.5},          {"mxfp4", 4.25},        {"nf4", 4.5},           {"nf4-dq", 4.0 + 8.0 / 64 + 32.0 / (64 * 256)},
      {"int4-g128", 4.15625},  {"int4-g128-sym", 4.125}, {"int8-ch", 8.0 + 32.0 / 4096}, {"fp8-tensor", 8.0},
      {"fp8-channel", 8.0 + 32.0 / 4096}, {"int3-g128", 3.0 + 16.0 / 128 + 3.0 / 128}, {"int2-g64-sym", 2.25}};
  for (const auto& [name, bpw] : want) {
    EXPECT_NEAR(bits_per_weight(spec(name), 4096, 4096), bpw, 1e-5) << name;
    QuantizedTensor q = quantize(spec(name), std::vector<float>(512 * 4096, 0.25f), 512, 4096);
    EXPECT_NEAR(q.bits_per_weight(), bpw, 1e-4) << name;
    EXPECT_EQ(q.storage_bytes(), storage_sizes(spec(name), 512, 4096).total()) << name;
  }
  EXPECT_NEAR(bits_per_weight(spec("nf4-dq"), 4096, 4096), 4.127, 5e-4);
}

TEST(BlockBits, NamesAndAliases) {
  EXPECT_FALSE(block_format_from_name("nvfp5"));
  EXPECT_FALSE(block_format_from_name(""));
  ASSERT_TRUE(block_format_from_name("int4-gch"));
  EXPECT_EQ(block_format_from_name("int4-gch")->name, "int4-ch");
  for (const auto& s : all_block_formats()) {
    auto back = block_format_from_name(s.name);
    ASSERT_TRUE(back) << s.name;
    EXPECT_EQ(back->name, s.name);
    EXPECT_FALSE(s.description.empty()) << s.name;
  }
}

TEST(BlockErrors, ColumnsNotDivisibleSayWhichAndOfferPadding) {
  std::vector<float> x(2 * 40, 1.0f);
  try {
    quantize(spec("nvfp4"), x, 2, 40);
    FAIL() << "no error";
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("nvfp4"), std::string::npos) << m;
    EXPECT_NE(m.find("16"), std::string::npos) << m;
    EXPECT_NE(m.find("pad"), std::string::npos) << m;
    EXPECT_NE(m.find("48"), std::string::npos) << m;
  }
  EXPECT_THROW(quantize(spec("int4-g128"), x, 2, 40), Error);
  EXPECT_THROW(quantize(spec("mxfp4"), x, 2, 40), Error);
  EXPECT_NO_THROW(quantize(spec("nf4"), x, 2, 40));  // bnb blocks run over the flattened tensor
  EXPECT_NO_THROW(quantize(spec("int4-ch"), x, 2, 40));
  EXPECT_EQ(padded_cols(spec("int4-g128"), 40), 128);
  EXPECT_EQ(padded_cols(spec("nf4"), 40), 40);
}

TEST(BlockErrors, PaddingKeepsValuesAndAddsZeros) {
  std::vector<float> x = {1, 2, 3, 4, 5, 6};
  std::vector<float> p = pad_columns(x, 2, 3, 5);
  EXPECT_EQ(p, (std::vector<float>{1, 2, 3, 0, 0, 4, 5, 6, 0, 0}));
}

TEST(BlockErrors, NonFiniteInputNamesRowAndColumn) {
  for (const auto& s : all_block_formats()) {
    std::vector<float> x(4 * 128, 0.5f);
    x[2 * 128 + 7] = std::nanf("");
    try {
      quantize(s, x, 4, 128);
      ADD_FAILURE() << s.name << ": no error for NaN";
    } catch (const Error& e) {
      std::string m = e.what();
      EXPECT_NE(m.find("row 2"), std::string::npos) << m;
      EXPECT_NE(m.find("column 7"), std::string::npos) << m;
    }
    x[2 * 128 + 7] = -INFINITY;
    EXPECT_THROW(quantize(s, x, 4, 128), Error) << s.name;
  }
}

TEST(BlockErrors, WrongSizesAreErrors) {
  std::vector<float> x(100, 1.0f);
  EXPECT_THROW(quantize(spec("nvfp4"), x, 4, 32), Error);  // 100 != 128
  EXPECT_THROW(quantize(spec("nvfp4"), x, 0, 32), Error);
  QuantizedTensor q = quantize(spec("nvfp4"), std::vector<float>(128, 1.0f), 4, 32);
  std::vector<float> out(128);
  q.scales.pop_back();
  EXPECT_THROW(dequantize(q, out), Error);
  q = quantize(spec("nvfp4"), std::vector<float>(128, 1.0f), 4, 32);
  std::vector<float> small(64);
  EXPECT_THROW(dequantize(q, small), Error);
  q.format = "bogus";
  EXPECT_THROW(dequantize(q, out), Error);
}

TEST(BlockErrors, Float16ScaleOverflowIsAnError) {
  std::vector<float> x(128, 1e9f);
  EXPECT_THROW(quantize(spec("int4-g128-sym"), x, 1, 128), Error);
}

// Fast and reference paths agree bit for bit on awkward data, with several threads.
TEST(BlockPaths, FastEqualsReferenceForEveryFormat) {
  set_thread_count(4);
  const std::int64_t rows = 24, cols = 384;
  std::vector<float> x = blocktest::awkward_tensor(rows, cols, 11);
  for (const auto& s : all_block_formats()) {
    SCOPED_TRACE(s.name);
    QuantizedTensor f = quantize(s, x, rows, cols, KernelPath::Fast);
    QuantizedTensor r = quantize(s, x, rows, cols, KernelPath::Reference);
    EXPECT_EQ(f.data, r.data);
    EXPECT_EQ(f.scales, r.scales);
    EXPECT_EQ(f.zeros, r.zeros);
    EXPECT_EQ(f.aux, r.aux);
    EXPECT_EQ(f.tensor_scales, r.tensor_scales);
    std::vector<float> df(x.size()), dr(x.size());
    dequantize(f, df, KernelPath::Fast);
    dequantize(f, dr, KernelPath::Reference);
    for (std::size_t i = 0; i < x.size(); ++i) ASSERT_EQ(blocktest::fbits(df[i]), blocktest::fbits(dr[i])) << i;
  }
}

// Every E2M1 magnitude from 0 to 8 in steps of 1/64 (all ties included), scaled through NVFP4 and
// MXFP4 blocks: the fast compare-chain must give the scalar codec's code.
TEST(BlockPaths, E2M1CompareChainMatchesScalarCodecOnTies) {
  std::vector<float> x;
  for (int i = 0; i <= 512; ++i) x.push_back(static_cast<float>(i) / 64.0f * (i % 3 == 1 ? -1.0f : 1.0f));
  while (x.size() % 32) x.push_back(0.0f);
  x[31] = 7.9f;  // mxfp4: amax in [4, 8) -> scale 1, so the values are coded as they are
  const std::int64_t cols = 32, rows = static_cast<std::int64_t>(x.size()) / 32;
  for (const char* name : {"nvfp4", "mxfp4"}) {
    QuantizedTensor f = quantize(spec(name), x, rows, cols, KernelPath::Fast);
    QuantizedTensor r = quantize(spec(name), x, rows, cols, KernelPath::Reference);
    EXPECT_EQ(f.data, r.data) << name;
  }
  // and against the scalar codec directly (mxfp4 scale is 1 for every block holding a value >= 4)
  QuantizedTensor m = quantize(spec("mxfp4"), x, rows, cols);
  for (std::int64_t b = 0; b < rows; ++b) {
    if (m.scales[static_cast<std::size_t>(b)] != 0x7F) continue;
    for (int i = 0; i < 32; ++i) {
      float v = x[static_cast<std::size_t>(b * 32 + i)];
      std::uint8_t byte = m.data[static_cast<std::size_t>((b * 32 + i) / 2)];
      std::uint8_t code = i % 2 ? byte >> 4 : byte & 0xF;
      std::uint8_t want = v == 0.0f ? 0 : f32_to_e2m1_sat(v);
      EXPECT_EQ(code, want) << v;
    }
  }
}

// The round trip puts each element on the value of its block's grid nearest to it: no grid value
// (code value times the block's dequant scale) is closer, except where the format saturates.
TEST(BlockInvariants, EachElementNearestOnItsBlockGrid) {
  const std::int64_t rows = 8, cols = 256;
  std::vector<float> x = blocktest::awkward_tensor(rows, cols, 5);
  for (const char* name : {"nvfp4", "mxfp4", "int4-g32", "int4-g128", "int4-g128-sym", "int3-g64", "int2-g32",
                           "int8-g128", "int8-ch"}) {
    SCOPED_TRACE(name);
    BlockFormatSpec s = spec(name);
    QuantizedTensor q = quantize(s, x, rows, cols);
    std::vector<float> y(x.size());
    dequantize(q, y);
    const std::int64_t g = s.block_size > 0 ? s.block_size : cols;
    for (std::int64_t r = 0; r < rows; ++r) {
      for (std::int64_t b = 0; b < cols / g; ++b) {
        // The grid of a block: every value the block can dequantize to, recovered by dequantizing
        // a copy whose codes run over all values.
        std::vector<float> grid;
        QuantizedTensor probe = q;
        const int ncodes = 1 << s.bits;
        for (int c = 0; c < ncodes; ++c) {
          std::int64_t i = r * cols + b * g;
          if (s.bits == 4) {
            std::uint8_t& byte = probe.data[static_cast<std::size_t>(i / 2)];
            byte = static_cast<std::uint8_t>((byte & 0xF0) | c);
          } else if (s.bits == 8) {
            probe.data[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(c);
          } else {
            std::int64_t bit = (r * ((cols * s.bits + 7) / 8)) * 8 + b * g * s.bits;
            for (int k = 0; k < s.bits; ++k) {
              std::uint8_t& byte = probe.data[static_cast<std::size_t>((bit + k) / 8)];
              std::uint8_t m = static_cast<std::uint8_t>(1u << ((bit + k) % 8));
              byte = static_cast<std::uint8_t>(((c >> k) & 1) ? (byte | m) : (byte & ~m));
            }
          }
          std::vector<float> py(x.size());
          dequantize(probe, py);
          grid.push_back(py[static_cast<std::size_t>(i)]);
        }
        const float gmax = *std::max_element(grid.begin(), grid.end());
        const float gmin = *std::min_element(grid.begin(), grid.end());
        for (std::int64_t k = 0; k < g; ++k) {
          std::size_t i = static_cast<std::size_t>(r * cols + b * g + k);
          float v = std::clamp(x[i], gmin, gmax);  // saturation: compare with the clamped value
          float best = INFINITY;
          for (float gv : grid) best = std::min(best, std::fabs(v - gv));
          // half an ulp of slack: the codes are chosen on x / scale, the grid is scale * code
          ASSERT_LE(std::fabs(v - y[i]), best + 1e-6f * std::fabs(v) + 1e-30f)
              << "row " << r << " block " << b << " x " << x[i] << " got " << y[i];
        }
      }
    }
  }
}

// int formats: |x - x^| <= scale / 2 for every element inside the group's range.
TEST(BlockInvariants, IntErrorWithinHalfAStep) {
  const std::int64_t rows = 16, cols = 512;
  std::vector<float> x = blocktest::awkward_tensor(rows, cols, 9);
  for (const auto& s : all_block_formats()) {
    if (s.kind != BlockKind::IntGroup || !s.symmetric) continue;
    SCOPED_TRACE(s.name);
    QuantizedTensor q = quantize(s, x, rows, cols);
    std::vector<float> y(x.size());
    dequantize(q, y);
    const std::int64_t g = s.block_size > 0 ? s.block_size : cols, groups = cols / g;
    for (std::int64_t r = 0; r < rows; ++r)
      for (std::int64_t k = 0; k < groups; ++k) {
        std::uint16_t h = static_cast<std::uint16_t>(q.scales[static_cast<std::size_t>((r * groups + k) * 2)] |
                                                     q.scales[static_cast<std::size_t>((r * groups + k) * 2 + 1)] << 8);
        const float scale = f16_to_f32(h);
        const float top = scale * static_cast<float>((1 << (s.bits - 1)) - 1);
        for (std::int64_t i = 0; i < g; ++i) {
          std::size_t j = static_cast<std::size_t>(r * cols + k * g + i);
          float v = std::clamp(x[j], -top - scale, top);
          ASSERT_LE(std::fabs(v - y[j]), 0.5f * scale * (1 + 1e-6f)) << x[j];
        }
      }
  }
}

// NF4 double quantization only moves the block absmax a little: the dequant stays close to plain NF4.
TEST(BlockInvariants, Nf4DoubleQuantStaysCloseToNf4) {
  const std::int64_t rows = 64, cols = 512;
  std::vector<float> x = blocktest::awkward_tensor(rows, cols, 2);
  QuantizedTensor a = quantize(spec("nf4"), x, rows, cols), b = quantize(spec("nf4-dq"), x, rows, cols);
  EXPECT_EQ(a.data, b.data);  // same first-level codes
  std::vector<float> ya(x.size()), yb(x.size());
  dequantize(a, ya);
  dequantize(b, yb);
  // |absmax^ - absmax| <= absmax2 * (largest gap of the map) / 2, absmax2 <= max absmax
  double max_absmax = 0;
  for (std::size_t i = 0; i < a.scales.size() / 4; ++i) max_absmax = std::max<double>(max_absmax, blocktest::f32_at(a.scales, i));
  for (std::size_t i = 0; i < x.size(); ++i) ASSERT_LE(std::fabs(ya[i] - yb[i]), 0.02 * max_absmax) << i;
}

TEST(BlockInvariants, FakeQuantizeEqualsRoundTrip) {
  std::vector<float> x = blocktest::awkward_tensor(4, 256, 4);
  for (const char* name : {"nvfp4", "nf4-dq", "int4-g128"}) {
    QuantizedTensor q = quantize(spec(name), x, 4, 256);
    std::vector<float> y(x.size()), z = x;
    dequantize(q, y);
    fake_quantize(spec(name), z, 4, 256);
    EXPECT_EQ(y, z) << name;
  }
}

}  // namespace
}  // namespace qlab::formats
