// Hand-derived worked examples of the reference notes (block-formats.md 1.2, number-formats.md 9 and 10),
// byte for byte, on both kernel paths.
#include <cmath>
#include <vector>

#include <gtest/gtest.h>

#include "block_test_util.h"
#include "engine/formats/block.h"
#include "engine/formats/block_dynamic_map.h"

namespace qlab::formats {
namespace {

using blocktest::spec;

class BothPaths : public ::testing::TestWithParam<KernelPath> {};
INSTANTIATE_TEST_SUITE_P(Paths, BothPaths, ::testing::Values(KernelPath::Fast, KernelPath::Reference),
                         [](const auto& i) { return i.param == KernelPath::Fast ? "Fast" : "Reference"; });

const std::vector<float> kNvfp4Row = {
    5.25f, -2.625f, 1.0f,  0.25f, -0.625f, 2.1875f, -5.25f, 0.0f,  4.375f, -1.3125f, 0.4375f,
    2.625f, -1.75f, 0.125f, 4.8125f, -0.875f, 0.85f, -0.4f, 0.3f,  0.1f,   -0.55f,   0.05f,
    0.7f,  -0.2f,  0.0f,  0.6f,  -0.35f,  0.45f,   -0.08f, 0.18f, -0.85f, 0.25f};

TEST_P(BothPaths, Nvfp4WorkedExample) {
  QuantizedTensor q = quantize(spec("nvfp4"), kNvfp4Row, 1, 32, GetParam());
  EXPECT_EQ(q.data, (std::vector<std::uint8_t>{0xD7, 0x12, 0x49, 0x0F, 0xB6, 0x51, 0x0C, 0xA7, 0xD7, 0x14, 0x1E,
                                               0xB6, 0x60, 0x5C, 0x39, 0x4F}));
  EXPECT_EQ(q.scales, (std::vector<std::uint8_t>{0x7E, 0x69}));
  ASSERT_EQ(q.tensor_scales.size(), 1u);
  EXPECT_EQ(q.tensor_scales[0], 0.001953125f);
  std::vector<float> deq(32);
  dequantize(q, deq, GetParam());
  const std::vector<float> want = {5.25f, -2.625f, 0.875f, 0.4375f, -0.4375f, 1.75f, -5.25f, 0.0f,
                                   3.5f,  -1.3125f, 0.4375f, 2.625f, -1.75f, 0.0f, 5.25f, -0.875f,
                                   0.84375f, -0.421875f, 0.28125f, 0.0703125f, -0.5625f, 0.0703125f, 0.5625f,
                                   -0.2109375f, 0.0f, 0.5625f, -0.28125f, 0.421875f, -0.0703125f, 0.2109375f,
                                   -0.84375f, 0.28125f};
  EXPECT_EQ(deq, want);
}

// OCP exponent choice X = floor(log2 amax) - 2 (block-formats.md 2.2 table, OCP column).
TEST_P(BothPaths, Mxfp4ScaleCodes) {
  const std::vector<std::pair<float, std::uint8_t>> cases = {{7.5f, 0x7F}, {5.0f, 0x7F}, {12.0f, 0x80},
                                                              {1.4f, 0x7D}, {0.3f, 0x7B}, {0.09f, 0x79},
                                                              {0.011f, 0x76}, {0.0f, 0x00}};
  for (auto [amax, code] : cases) {
    std::vector<float> x(32, 0.0f);
    x[5] = -amax;
    QuantizedTensor q = quantize(spec("mxfp4"), x, 1, 32, GetParam());
    EXPECT_EQ(q.scales[0], code) << "amax " << amax;
  }
}

// amax 7.5 -> X = 0, scale 1: 7.5 clips to 6 (the OCP rule's known clipping), ties go to even codes.
TEST_P(BothPaths, Mxfp4ClipsAndRoundsToEven) {
  std::vector<float> x(32, 0.0f);
  const float in[8] = {7.5f, 0.75f, 1.25f, 2.5f, -3.5f, 5.0f, -0.1f, 0.3f};
  for (int i = 0; i < 8; ++i) x[static_cast<std::size_t>(i)] = in[i];
  QuantizedTensor q = quantize(spec("mxfp4"), x, 1, 32, GetParam());
  // codes 7 (6.0), 2 (1.0), 2 (1.0), 4 (2.0), E (-4.0), 6 (4.0), 8 (-0), 1 (0.5)
  EXPECT_EQ(q.data[0], 0x27);
  EXPECT_EQ(q.data[1], 0x42);
  EXPECT_EQ(q.data[2], 0x6E);
  EXPECT_EQ(q.data[3], 0x18);
  std::vector<float> deq(32);
  dequantize(q, deq, GetParam());
  EXPECT_EQ(deq[0], 6.0f);
  EXPECT_EQ(deq[4], -4.0f);
  EXPECT_EQ(std::fabs(deq[0] - x[0]), 1.5f);
}

// number-formats.md section 10: absmax 2, codes [15, 2, 10, 6, 7, 14, 0, 8], first element high nibble.
TEST_P(BothPaths, Nf4WorkedExample) {
  const std::vector<float> x = {2.0f, -1.0f, 0.5f, -0.25f, 0.0f, 1.5f, -2.0f, 0.1f};
  QuantizedTensor q = quantize(spec("nf4"), x, 1, 8, GetParam());
  EXPECT_EQ(q.data, (std::vector<std::uint8_t>{0xF2, 0xA6, 0x7E, 0x08}));
  ASSERT_EQ(q.scales.size(), 4u);
  EXPECT_EQ(blocktest::f32_at(q.scales, 0), 2.0f);
  std::vector<float> deq(8);
  dequantize(q, deq, GetParam());
  const float want[8] = {2.0f, -1.050146f, 0.492225f, -0.182100f, 0.0f, 1.445914f, -2.0f, 0.159161f};
  for (int i = 0; i < 8; ++i) EXPECT_NEAR(deq[static_cast<std::size_t>(i)], want[i], 1e-6f) << i;
}

const std::vector<float> kIntGroup = {-0.9f, -0.45f, 0.0f, 0.33f, 0.55f, 0.75f, 1.05f, 2.0f};

// number-formats.md section 9, GPTQ asym row: scale (2.0 + 0.9) / 15, zero 5, q [0,3,5,7,8,9,10,15].
// The stored scale is float16 0x3230 (0.193359375); the codes do not move with that rounding.
TEST_P(BothPaths, Int4AsymGptqExample) {
  QuantizedTensor q = quantize(spec("int4-ch"), kIntGroup, 1, 8, GetParam());
  EXPECT_EQ(q.data, (std::vector<std::uint8_t>{0x30, 0x75, 0x98, 0xFA}));
  EXPECT_EQ(q.scales, (std::vector<std::uint8_t>{0x30, 0x32}));
  EXPECT_EQ(q.zeros, (std::vector<std::uint8_t>{0x05}));
  std::vector<float> deq(8);
  dequantize(q, deq, GetParam());
  const int codes[8] = {0, 3, 5, 7, 8, 9, 10, 15};
  for (int i = 0; i < 8; ++i) EXPECT_EQ(deq[static_cast<std::size_t>(i)], 0.193359375f * static_cast<float>(codes[i] - 5));
  EXPECT_NEAR(q.bits_per_weight(), (4.0 * 8 + 16 + 8) / 8.0, 1e-12);  // zero point packs into one byte
}

// ModelOpt INT4 symmetric row: scale amax / 7 (f16 0x3492 = 0.28564453125), q [-3,-2,0,1,2,3,4,7] + 8.
TEST_P(BothPaths, Int4SymExample) {
  QuantizedTensor q = quantize(spec("int4-ch-sym"), kIntGroup, 1, 8, GetParam());
  EXPECT_EQ(q.data, (std::vector<std::uint8_t>{0x65, 0x98, 0xBA, 0xFC}));
  EXPECT_EQ(q.scales, (std::vector<std::uint8_t>{0x92, 0x34}));
  EXPECT_TRUE(q.zeros.empty());
}

// int3: codes bit-packed LSB-first across byte boundaries. Row [0..7] with asym scale 7/7 = 1, zero 0:
// codes 0..7 -> bits 000 100 010 110 001 101 011 111 (LSB first) -> bytes 0x88, 0xC6, 0xFA.
TEST_P(BothPaths, Int3PacksAcrossBytes) {
  const std::vector<float> x = {0, 1, 2, 3, 4, 5, 6, 7};
  QuantizedTensor q = quantize(spec("int3-ch"), x, 1, 8, GetParam());
  EXPECT_EQ(q.data, (std::vector<std::uint8_t>{0x88, 0xC6, 0xFA}));
  EXPECT_EQ(q.scales, (std::vector<std::uint8_t>{0x00, 0x3C}));  // f16 1.0
  std::vector<float> deq(8);
  dequantize(q, deq, GetParam());
  EXPECT_EQ(deq, x);
}

// int2 sym: scale = amax / 1; q in [-2, 1]; four codes per byte, first in the low bits.
TEST_P(BothPaths, Int2SymPacksFourPerByte) {
  const std::vector<float> x = {-2, -1, 0, 1, 0.4f, -0.6f, 3, -3};  // amax 3: q = [-1, 0, 0, 0, 0, 0, 1, -1]
  QuantizedTensor q = quantize(spec("int2-ch-sym"), x, 1, 8, GetParam());
  // stored q + 2 = [1, 2, 2, 2, 2, 2, 3, 1]
  EXPECT_EQ(q.data, (std::vector<std::uint8_t>{1 | 2 << 2 | 2 << 4 | 2 << 6, 2 | 2 << 2 | 3 << 4 | 1 << 6}));
}

// int8 per channel: scale amax/127, round to nearest even.
TEST_P(BothPaths, Int8ChannelRoundsToEven) {
  const std::vector<float> x = {127.0f, 2.5f, -2.5f, 3.5f, -127.0f, 0.49f, -0.0f, 126.5f};
  QuantizedTensor q = quantize(spec("int8-ch"), x, 1, 8, GetParam());
  EXPECT_EQ(q.data, (std::vector<std::uint8_t>{127, 2, 0xFE, 4, 0x81, 0, 0, 126}));
  EXPECT_EQ(blocktest::f32_at(q.scales, 0), 1.0f);
}

// fp8 per tensor: scale amax / 448; with amax 448 the codes are the E4M3 codes themselves.
TEST_P(BothPaths, Fp8TensorCodes) {
  const std::vector<float> x = {448.0f, 1.0f, 0.1f, 3.3f, -300.0f, 464.0f / 2, 1.0625f, -0.001953125f};
  QuantizedTensor q = quantize(spec("fp8-tensor"), x, 1, 8, GetParam());
  EXPECT_EQ(q.data, (std::vector<std::uint8_t>{0x7E, 0x38, 0x1D, 0x45, 0xF9, 0x76, 0x38, 0x81}));
  EXPECT_EQ(q.tensor_scales, (std::vector<float>{1.0f}));
}

// The signed dynamic map of create_dynamic_map(signed=True): 256 sorted values, -0.99296875 .. 1,
// one zero, the smallest magnitude 0.55e-6 (mean of linspace(0.1, 1, 2) times 1e-6).
TEST(DynamicMap, ShapeOfTheSignedMap) {
  const auto& m = bnb_dynamic_map();
  EXPECT_TRUE(std::is_sorted(m.begin(), m.end()));
  EXPECT_EQ(m[255], 1.0f);
  EXPECT_NEAR(m[0], -(1.0 - 0.9 / 128.0), 1e-7);
  EXPECT_EQ(std::count(m.begin(), m.end(), 0.0f), 1);
  EXPECT_EQ(std::adjacent_find(m.begin(), m.end()), m.end());
  auto zero = std::find(m.begin(), m.end(), 0.0f) - m.begin();
  EXPECT_EQ(zero, 127);
  EXPECT_NEAR(m[128], 0.55e-6, 1e-12);
  EXPECT_NEAR(m[126], -0.55e-6, 1e-12);
}

TEST(DynamicMap, EncodeIsNearestValue) {
  const auto& m = bnb_dynamic_map();
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  for (int i = 0; i < 20000; ++i) {
    float x = u(rng) * (i % 2 ? 1.0f : 0.01f);
    std::uint8_t c = bnb_dynamic_encode(m, x);
    // torch.argmin over |x - v| in float32: the smallest distance, the first index on ties
    for (std::size_t k = 0; k < m.size(); ++k) {
      if (k < c) {
        ASSERT_GT(std::fabs(x - m[k]), std::fabs(x - m[c])) << x;
      }
      ASSERT_LE(std::fabs(x - m[c]), std::fabs(x - m[k])) << x;
    }
  }
  for (std::size_t k = 0; k + 1 < m.size(); ++k) {  // float midpoints of neighbours: ties go low
    float mid = (m[k] + m[k + 1]) / 2;
    std::uint8_t c = bnb_dynamic_encode(m, mid);
    for (std::size_t j = 0; j < m.size(); ++j) {
      if (j < c) {
        ASSERT_GT(std::fabs(mid - m[j]), std::fabs(mid - m[c])) << mid;
      }
      ASSERT_LE(std::fabs(mid - m[c]), std::fabs(mid - m[j])) << mid;
    }
  }
  EXPECT_EQ(bnb_dynamic_encode(m, 0.0f), 127);
  EXPECT_EQ(bnb_dynamic_encode(m, 2.0f), 255);
  EXPECT_EQ(bnb_dynamic_encode(m, -2.0f), 0);
}

}  // namespace
}  // namespace qlab::formats
