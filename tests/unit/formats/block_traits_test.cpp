// Formats as data: the public per-block rules are the ones quantize() applies, a slab of rows
// dequantizes to exactly what the whole tensor does, a format defined outside the table (an
// interleaved, GGUF-style block layout) runs through the same entry points, and a wrong name gets
// the one error that lists the valid ones.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "block_test_util.h"
#include "engine/core/error.h"
#include "engine/formats/block.h"
#include "engine/formats/block_params.h"
#include "engine/formats/format_lookup.h"
#include "engine/formats/scalar.h"

namespace qlab::formats {
namespace {

using blocktest::fbits;
using blocktest::spec;

float amax_of(const float* x, std::int64_t n) {
  float a = 0;
  for (std::int64_t i = 0; i < n; ++i) a = std::max(a, std::fabs(x[i]));
  return a;
}

std::uint16_t u16_at(const std::vector<std::uint8_t>& b, std::size_t i) {
  return static_cast<std::uint16_t>(b[2 * i] | (b[2 * i + 1] << 8));
}

// Every integer format: the stored float16 scale of each group is int_group_params' over the group's
// values, and every element dequantizes to int_group_decode(int_group_encode(x)) - the path GPTQ
// and AWQ take one group (and one column) at a time.
TEST(BlockParams, IntGroupRulesAreWhatQuantizeStores) {
  const std::int64_t rows = 12, cols = 256;
  const std::vector<float> x = blocktest::awkward_tensor(rows, cols, 21);
  for (const auto& s : all_block_formats()) {
    if (s.kind != BlockKind::IntGroup) continue;
    SCOPED_TRACE(s.name);
    for (KernelPath path : {KernelPath::Fast, KernelPath::Reference}) {
      const QuantizedTensor q = quantize(s, x, rows, cols, path);
      std::vector<float> y(x.size());
      dequantize(q, y);
      const std::int64_t g = s.block_size > 0 ? s.block_size : cols, groups = cols / g;
      for (std::int64_t r = 0; r < rows; ++r)
        for (std::int64_t k = 0; k < groups; ++k) {
          const float* w = x.data() + r * cols + k * g;
          const IntGroupParams p = int_group_params(s.bits, s.symmetric, std::span(w, static_cast<std::size_t>(g)));
          ASSERT_EQ(u16_at(q.scales, static_cast<std::size_t>(r * groups + k)), p.scale_f16) << r << " " << k;
          for (std::int64_t i = 0; i < g; ++i)
            ASSERT_EQ(fbits(y[static_cast<std::size_t>(r * cols + k * g + i)]),
                      fbits(int_group_decode(int_group_encode(w[i], p), p)))
                << "row " << r << " group " << k << " element " << i;
        }
    }
  }
}

// The rule written out by hand for one group: int4 asymmetric over {-1, 0.5, 2}: xmin -1, xmax 2,
// scale f16(3 / 15) = 0.19995117 (float16 0x3266), zero RNE(1 / 0.19995117 = 5.0012) = 5;
// 0.5 -> RNE(2.5006) + 5 = 8 (the float16 scale, not 0.2, decides this near-tie).
TEST(BlockParams, IntGroupByHand) {
  const std::vector<float> v = {-1.0f, 0.5f, 2.0f};
  const IntGroupParams p = int_group_params(4, false, v);
  EXPECT_EQ(p.scale, f16_to_f32(f32_to_f16(0.2f)));
  EXPECT_EQ(p.zero, 5.0f);
  EXPECT_EQ(int_group_encode(-1.0f, p), 0);
  EXPECT_EQ(p.scale_f16, 0x3266);
  EXPECT_EQ(int_group_encode(0.5f, p), 8);
  EXPECT_EQ(int_group_encode(2.0f, p), 15);
  EXPECT_EQ(int_group_encode(100.0f, p), 15);  // clamped
  // symmetric int4: scale amax / 7, codes offset by 8
  const IntGroupParams s = int_group_params(4, true, v);
  EXPECT_EQ(s.scale, f16_to_f32(f32_to_f16(2.0f / 7.0f)));
  EXPECT_EQ(int_group_encode(2.0f, s), 15);
  EXPECT_EQ(int_group_encode(-2.0f, s), 1);
  EXPECT_EQ(int_group_decode(8, s), 0.0f);
  // an all-zero group: asymmetric range -1..1, every zero codes the zero point
  const std::vector<float> z(8, 0.0f);
  const IntGroupParams pz = int_group_params(4, false, z);
  EXPECT_EQ(int_group_decode(int_group_encode(0.0f, pz), pz), 0.0f);
  // past float16: the caller is told (quantize() turns it into an error naming row and group)
  EXPECT_TRUE(int_group_params(4, true, std::vector<float>{1e9f}).overflow);
}

// NVFP4, MXFP4, FP8 and int8-ch: the block scales and codes quantize() stores are the public rules'.
TEST(BlockParams, FloatBlockRulesAreWhatQuantizeStores) {
  const std::int64_t rows = 6, cols = 128;
  const std::vector<float> x = blocktest::awkward_tensor(rows, cols, 8);
  {
    const QuantizedTensor q = quantize(spec("nvfp4"), x, rows, cols);
    const float s2 = nvfp4_tensor_scale(amax_of(x.data(), rows * cols));
    ASSERT_EQ(fbits(q.tensor_scales[0]), fbits(s2));
    std::vector<float> y(x.size());
    dequantize(q, y);
    for (std::int64_t b = 0; b < rows * cols / 16; ++b) {
      const Nvfp4BlockScale bs = nvfp4_block_scale(amax_of(x.data() + b * 16, 16), s2);
      ASSERT_EQ(q.scales[static_cast<std::size_t>(b)], bs.code) << b;
      for (std::int64_t i = 0; i < 16; ++i) {
        const std::size_t j = static_cast<std::size_t>(b * 16 + i);
        const std::uint8_t code = nvfp4_encode(x[j], bs.e);
        ASSERT_EQ(code, j % 2 ? q.data[j / 2] >> 4 : q.data[j / 2] & 0xF) << j;
        ASSERT_EQ(fbits(y[j]), fbits(nvfp4_decode(code, bs.code, s2))) << j;
      }
    }
  }
  {
    const QuantizedTensor q = quantize(spec("mxfp4"), x, rows, cols);
    std::vector<float> y(x.size());
    dequantize(q, y);
    for (std::int64_t b = 0; b < rows * cols / 32; ++b) {
      const std::uint8_t sc = mxfp4_scale_code(amax_of(x.data() + b * 32, 32));
      ASSERT_EQ(q.scales[static_cast<std::size_t>(b)], sc) << b;
      for (std::int64_t i = 0; i < 32; ++i) {
        const std::size_t j = static_cast<std::size_t>(b * 32 + i);
        const std::uint8_t code = mxfp4_encode(x[j], sc);
        ASSERT_EQ(code, j % 2 ? q.data[j / 2] >> 4 : q.data[j / 2] & 0xF) << j;
        ASSERT_EQ(fbits(y[j]), fbits(mxfp4_decode(code, sc))) << j;
      }
    }
  }
  for (const char* name : {"fp8-channel", "fp8-e5m2-channel", "fp8-tensor", "int8-ch"}) {
    SCOPED_TRACE(name);
    const BlockFormatSpec& s = block_format(name);
    const QuantizedTensor q = quantize(s, x, rows, cols);
    std::vector<float> y(x.size());
    dequantize(q, y);
    for (std::int64_t r = 0; r < rows; ++r) {
      const float amax = s.kind == BlockKind::FP8Tensor ? amax_of(x.data(), rows * cols) : amax_of(x.data() + r * cols, cols);
      const float scale = s.kind == BlockKind::Int8Channel ? int8_channel_scale(amax) : fp8_scale(amax, s.e5m2);
      for (std::int64_t i = 0; i < cols; ++i) {
        const std::size_t j = static_cast<std::size_t>(r * cols + i);
        const std::uint8_t code =
            s.kind == BlockKind::Int8Channel ? int8_channel_encode(x[j], scale) : fp8_encode(x[j], scale, s.e5m2);
        ASSERT_EQ(q.data[j], code) << j;
        const float want = s.kind == BlockKind::Int8Channel ? int8_channel_decode(code, scale) : fp8_decode(code, scale, s.e5m2);
        ASSERT_EQ(fbits(y[j]), fbits(want)) << j;
      }
    }
  }
}

// Any slab of rows dequantizes to the whole tensor's values for those rows, bit for bit, on both
// paths; NF4's blocks of 64 run over the flattened tensor and straddle rows of 96.
TEST(BlockRows, EverySlabEqualsTheWholeTensor) {
  for (const auto& s : all_block_formats()) {
    SCOPED_TRACE(s.name);
    const std::int64_t rows = 7, cols = padded_cols(s, 96);
    const std::vector<float> x = blocktest::awkward_tensor(rows, cols, 3);
    const QuantizedTensor q = quantize(s, x, rows, cols);
    for (KernelPath path : {KernelPath::Fast, KernelPath::Reference}) {
      std::vector<float> whole(x.size());
      dequantize(q, whole, path);
      for (std::int64_t r0 = 0; r0 < rows; ++r0)
        for (std::int64_t n = 1; r0 + n <= rows; n += 2) {
          std::vector<float> part(static_cast<std::size_t>(n * cols), -1.0f);
          dequantize_rows(q.view(), r0, n, part.data(), path);
          for (std::size_t i = 0; i < part.size(); ++i)
            ASSERT_EQ(fbits(part[i]), fbits(whole[static_cast<std::size_t>(r0 * cols) + i]))
                << "rows " << r0 << "+" << n << " element " << i;
        }
    }
  }
  const QuantizedTensor q = quantize(spec("int4-g32"), std::vector<float>(4 * 64, 1.0f), 4, 64);
  std::vector<float> out(64 * 4);
  EXPECT_THROW(dequantize_rows(q.view(), 3, 2, out.data()), Error);
  EXPECT_THROW(dequantize_rows(q.view(), -1, 1, out.data()), Error);
}

// ---- a format from outside the table, interleaved --------------------------------------------------
// The shape of GGUF's block_q8_0: one buffer of 34-byte blocks, each a float16 scale d = amax / 127
// followed by 32 int8 codes RNE(x / d). Everything lives in `data`.
struct ToyQ8Block {
  std::uint16_t d;
  std::int8_t qs[32];
};
static_assert(sizeof(ToyQ8Block) == 34, "two bytes of scale, then 32 codes, no padding");

StorageSizes toy_sizes(const BlockFormatSpec&, std::int64_t rows, std::int64_t cols) {
  StorageSizes s;
  s.data = static_cast<std::uint64_t>(rows * cols / 32) * sizeof(ToyQ8Block);
  return s;
}

void toy_quantize(const BlockFormatSpec&, std::span<const float> x, QuantizedTensor& q, KernelPath) {
  const std::size_t blocks = x.size() / 32;
  q.data.assign(blocks * sizeof(ToyQ8Block), 0);
  for (std::size_t b = 0; b < blocks; ++b) {
    ToyQ8Block blk{};
    const float amax = amax_of(x.data() + b * 32, 32);
    blk.d = f32_to_f16(amax / 127.0f);
    const float d = f16_to_f32(blk.d);
    for (int i = 0; i < 32; ++i)
      blk.qs[i] = static_cast<std::int8_t>(d == 0.0f ? 0.0f : std::clamp(std::nearbyint(x[b * 32 + static_cast<std::size_t>(i)] / d), -127.0f, 127.0f));
    std::memcpy(q.data.data() + b * sizeof blk, &blk, sizeof blk);
  }
}

void toy_dequantize_rows(const BlockFormatSpec&, const QuantizedView& q, std::int64_t r0, std::int64_t n, float* out,
                         KernelPath) {
  const std::int64_t per_row = q.cols / 32;
  for (std::int64_t b = r0 * per_row; b < (r0 + n) * per_row; ++b) {
    ToyQ8Block blk;
    std::memcpy(&blk, q.data.data() + b * static_cast<std::int64_t>(sizeof blk), sizeof blk);
    const float d = f16_to_f32(blk.d);
    for (int i = 0; i < 32; ++i) out[(b - r0 * per_row) * 32 + i] = d * static_cast<float>(blk.qs[i]);
  }
}

const BlockCodec kToyCodec = {toy_sizes, toy_quantize, toy_dequantize_rows};

TEST(BlockTraits, AnInterleavedFormatOutsideTheTableRunsThroughTheSameEntryPoints) {
  const BlockFormatSpec toy{"toy-q8", "test: GGUF Q8_0-shaped blocks", 32, true, BlockKind::IntGroup, 8, true, false,
                            &kToyCodec};
  const std::int64_t rows = 5, cols = 96;
  const std::vector<float> x = blocktest::awkward_tensor(rows, cols, 12);
  const QuantizedTensor q = quantize(toy, x, rows, cols);
  EXPECT_EQ(q.data.size(), 5u * 3u * 34u);
  EXPECT_TRUE(q.scales.empty() && q.zeros.empty() && q.aux.empty() && q.tensor_scales.empty());
  EXPECT_EQ(q.storage_bytes(), storage_sizes(toy, rows, cols).total());
  EXPECT_NEAR(bits_per_weight(toy, rows, cols), 8.5, 1e-12);
  EXPECT_THROW(quantize(toy, std::vector<float>(5 * 40), 5, 40), Error);  // 40 is not a multiple of 32
  std::vector<float> y(x.size()), slab(static_cast<std::size_t>(2 * cols));
  dequantize(q.view(toy), y);
  dequantize_rows(q.view(toy), 2, 2, slab.data());
  for (std::size_t i = 0; i < slab.size(); ++i) ASSERT_EQ(slab[i], y[static_cast<std::size_t>(2 * cols) + i]);
  for (std::size_t i = 0; i < x.size(); ++i) {
    const float d = f16_to_f32(f32_to_f16(amax_of(x.data() + i / 32 * 32, 32) / 127.0f));
    ASSERT_LE(std::fabs(y[i] - x[i]), 0.5f * d * 1.001f + 1e-30f) << i;
  }
  // Its name is not in the table: the name-based view refuses it.
  EXPECT_THROW(q.view(), UnknownFormat);
}

// ---- names -----------------------------------------------------------------------------------------

TEST(FormatLookup, OneErrorListingTheValidNames) {
  EXPECT_EQ(block_format("int4-gch").name, "int4-ch");
  EXPECT_EQ(&block_format("nvfp4"), find_block_format("nvfp4"));
  EXPECT_EQ(find_block_format("nvfp5"), nullptr);
  EXPECT_EQ(scalar_format("e4m3"), ScalarFormat::E4M3);
  EXPECT_EQ(scalar_format("nf4"), ScalarFormat::NF4);  // nf4 is both: each lookup finds its own kind
  EXPECT_EQ(block_format("nf4").kind, BlockKind::NF4);
  auto message = [](auto&& lookup) {
    try {
      lookup();
    } catch (const UnknownFormat& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  const std::string unknown = message([] { block_format("nvfp5"); });
  EXPECT_NE(unknown.find("unknown block format 'nvfp5'"), std::string::npos) << unknown;
  for (const auto& s : all_block_formats()) EXPECT_NE(unknown.find(s.name), std::string::npos) << s.name;
  const std::string scalar_given = message([] { block_format("e4m3"); });
  EXPECT_NE(scalar_given.find("'e4m3' is a scalar format"), std::string::npos) << scalar_given;
  const std::string block_given = message([] { scalar_format("mxfp4"); });
  EXPECT_NE(block_given.find("'mxfp4' is a block format"), std::string::npos) << block_given;
  EXPECT_NE(block_given.find("bf16"), std::string::npos) << block_given;
  const std::string unknown_scalar = message([] { scalar_format("fp9"); });
  EXPECT_NE(unknown_scalar.find("unknown scalar format 'fp9'"), std::string::npos) << unknown_scalar;
  EXPECT_EQ(std::count(unknown.begin(), unknown.end(), '\n'), 0);
  // A quantized tensor naming no known format is the same error.
  QuantizedTensor q = quantize(block_format("nvfp4"), std::vector<float>(32, 1.0f), 1, 32);
  q.format = "bogus";
  std::vector<float> out(32);
  EXPECT_THROW(dequantize(q, out), UnknownFormat);
}

TEST(BlockTraits, EveryRowHasACodecWhoseSizesAreWhatQuantizeWrites) {
  for (const auto& s : all_block_formats()) {
    SCOPED_TRACE(s.name);
    ASSERT_NE(s.codec, nullptr);
    for (std::int64_t rows : {2, 3}) {
      const std::int64_t cols = padded_cols(s, 200);
      const QuantizedTensor q = quantize(s, blocktest::awkward_tensor(rows, cols, 1), rows, cols);
      const StorageSizes z = storage_sizes(s, rows, cols);
      EXPECT_EQ(q.data.size(), z.data);
      EXPECT_EQ(q.scales.size(), z.scales);
      EXPECT_EQ(q.zeros.size(), z.zeros);
      EXPECT_EQ(q.aux.size(), z.aux);
      EXPECT_EQ(q.tensor_scales.size() * 4, z.tensor_scales);
      EXPECT_NO_THROW(check_parts(q.view()));
    }
  }
}

}  // namespace
}  // namespace qlab::formats
