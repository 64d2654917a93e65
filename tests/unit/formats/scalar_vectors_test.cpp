// Hand-derived test vectors: every table of the reference note on number formats (FP16, BF16,
// E4M3 with its full decode table, E5M2, E2M1, E8M0, NF4), plus the UE4M3 / INT vectors worked out
// from ggml's and the integer rules by hand.
#include <cmath>
#include <limits>

#include "scalar_test_util.h"

namespace qlab::formats {
namespace {

using test::bits_of;
using test::float_of;
using test::hex;

struct Vec {
  float x;
  std::uint32_t code;
  double decoded;  // NaN: the code must decode to NaN
};

void check(ScalarFormat f, Saturation sat, const std::vector<Vec>& vs) {
  for (const auto& v : vs) {
    SCOPED_TRACE(properties(f).name + (sat == Saturation::Saturate ? " sat" : " nonsat") + " x=" +
                 std::to_string(v.x) + " (" + hex(bits_of(v.x)) + ")");
    EXPECT_EQ(hex(encode(f, v.x, sat)), hex(v.code));
    const float d = decode(f, v.code);
    if (std::isnan(v.decoded)) {
      EXPECT_TRUE(std::isnan(d));
    } else {
      EXPECT_EQ(static_cast<double>(d), v.decoded);
      EXPECT_EQ(std::signbit(d), std::signbit(v.decoded));
    }
  }
}

void check_both(ScalarFormat f, const std::vector<Vec>& vs) {
  check(f, Saturation::Saturate, vs);
  check(f, Saturation::NoSaturate, vs);
}

const double kInf = std::numeric_limits<double>::infinity();
const double kNaN = std::numeric_limits<double>::quiet_NaN();
const float kNaNf = std::numeric_limits<float>::quiet_NaN();

TEST(ScalarVectors, F16) {
  // number-formats.md section 3; all in range, so both modes agree
  check_both(ScalarFormat::F16, {
                                    {1.0f, 0x3C00, 1.0},
                                    {float_of(0x3DCCCCCD), 0x2E66, 0.0999755859375},
                                    {float_of(0x3EAAAAAB), 0x3555, 0.333251953125},
                                    {-2.5f, 0xC100, -2.5},
                                    {65504.0f, 0x7BFF, 65504.0},
                                    {65519.0f, 0x7BFF, 65504.0},
                                    {0x1p-24f, 0x0001, 0x1p-24},
                                    {0x1p-25f, 0x0000, 0.0},
                                    {1.00048828125f, 0x3C00, 1.0},
                                    {1.00146484375f, 0x3C02, 1.001953125},
                                    {4.0f / 127.0f, 0x2808, 0.0314941406250},
                                });
  // overflow: inf when not saturating, 65504 when saturating
  check(ScalarFormat::F16, Saturation::NoSaturate, {{65520.0f, 0x7C00, kInf}, {100000.0f, 0x7C00, kInf}});
  check(ScalarFormat::F16, Saturation::Saturate, {{65520.0f, 0x7BFF, 65504.0}, {100000.0f, 0x7BFF, 65504.0}});
}

TEST(ScalarVectors, BF16) {
  // section 4
  check_both(ScalarFormat::BF16, {
                                     {1.0f, 0x3F80, 1.0},
                                     {float_of(0x3DCCCCCD), 0x3DCD, 0.10009765625},
                                     {float_of(0x3EAAAAAB), 0x3EAB, 0.333984375},
                                     {float_of(0x40490FDB), 0x4049, 3.140625},
                                     {float_of(0x3F808000), 0x3F80, 1.0},
                                     {float_of(0x3F818000), 0x3F82, 1.015625},
                                     {float_of(0xC0200000), 0xC020, -2.5},
                                     {float_of(0x7FC00001), 0x7FC0, kNaN},
                                 });
  check(ScalarFormat::BF16, Saturation::NoSaturate, {{float_of(0x7F7FFFFF), 0x7F80, kInf}});
  // saturating clamps FLT_MAX to the largest bf16 first
  check(ScalarFormat::BF16, Saturation::Saturate, {{float_of(0x7F7FFFFF), 0x7F7F, 3.3895313892515355e38}});
}

TEST(ScalarVectors, E4M3DecodeTable) {
  // section 5: the positive half, 8 codes per row; 0x7F is NaN
  const double t[16][8] = {
      {0, 0.001953125, 0.00390625, 0.005859375, 0.0078125, 0.009765625, 0.01171875, 0.013671875},
      {0.015625, 0.017578125, 0.01953125, 0.021484375, 0.0234375, 0.025390625, 0.02734375, 0.029296875},
      {0.03125, 0.03515625, 0.0390625, 0.04296875, 0.046875, 0.05078125, 0.0546875, 0.05859375},
      {0.0625, 0.0703125, 0.078125, 0.0859375, 0.09375, 0.1015625, 0.109375, 0.1171875},
      {0.125, 0.140625, 0.15625, 0.171875, 0.1875, 0.203125, 0.21875, 0.234375},
      {0.25, 0.28125, 0.3125, 0.34375, 0.375, 0.40625, 0.4375, 0.46875},
      {0.5, 0.5625, 0.625, 0.6875, 0.75, 0.8125, 0.875, 0.9375},
      {1, 1.125, 1.25, 1.375, 1.5, 1.625, 1.75, 1.875},
      {2, 2.25, 2.5, 2.75, 3, 3.25, 3.5, 3.75},
      {4, 4.5, 5, 5.5, 6, 6.5, 7, 7.5},
      {8, 9, 10, 11, 12, 13, 14, 15},
      {16, 18, 20, 22, 24, 26, 28, 30},
      {32, 36, 40, 44, 48, 52, 56, 60},
      {64, 72, 80, 88, 96, 104, 112, 120},
      {128, 144, 160, 176, 192, 208, 224, 240},
      {256, 288, 320, 352, 384, 416, 448, kNaN},
  };
  for (std::uint32_t c = 0; c < 128; ++c) {
    SCOPED_TRACE(hex(c));
    const double want = t[c / 8][c % 8];
    for (std::uint32_t s : {0u, 0x80u}) {
      const float got = decode(ScalarFormat::E4M3, c | s);
      const float fast = e4m3_to_f32(static_cast<std::uint8_t>(c | s));
      if (std::isnan(want)) {
        EXPECT_TRUE(std::isnan(got));
        EXPECT_TRUE(std::isnan(fast));
      } else {
        EXPECT_EQ(got, s ? -want : want);
        EXPECT_EQ(std::signbit(got), s != 0);
        EXPECT_EQ(bits_of(fast), bits_of(got));
      }
    }
  }
}

TEST(ScalarVectors, E4M3Encode) {
  // section 5 (S = saturating result; rows without a note are in range, both modes agree)
  check_both(ScalarFormat::E4M3, {
                                     {1.0f, 0x38, 1.0},
                                     {2.0f, 0x40, 2.0},
                                     {448.0f, 0x7E, 448.0},
                                     {-448.0f, 0xFE, -448.0},
                                     {0.015625f, 0x08, 0.015625},
                                     {0.013671875f, 0x07, 0.013671875},
                                     {0.001953125f, 0x01, 0.001953125},
                                     {0.0009765625f, 0x00, 0.0},
                                     {0.00098f, 0x01, 0.001953125},
                                     {0.00146484375f, 0x01, 0.001953125},
                                     {1.0625f, 0x38, 1.0},
                                     {1.1875f, 0x3A, 1.25},
                                     {0.1f, 0x1D, 0.1015625},
                                     {0.3f, 0x2A, 0.3125},
                                     {3.3f, 0x45, 3.25},
                                     {300.0f, 0x79, 288.0},
                                     {464.0f, 0x7E, 448.0},
                                     {-0.0f, 0x80, -0.0},
                                     {kNaNf, 0x7F, kNaN},
                                 });
  check(ScalarFormat::E4M3, Saturation::Saturate, {{464.5f, 0x7E, 448.0}, {500.0f, 0x7E, 448.0}});
  check(ScalarFormat::E4M3, Saturation::NoSaturate, {{464.5f, 0x7F, kNaN}, {500.0f, 0x7F, kNaN}});
}

TEST(ScalarVectors, E5M2) {
  // section 6
  check_both(ScalarFormat::E5M2, {
                                     {1.0f, 0x3C, 1.0},
                                     {-2.5f, 0xC1, -2.5},
                                     {57344.0f, 0x7B, 57344.0},
                                     {61439.0f, 0x7B, 57344.0},
                                     {6.103515625e-5f, 0x04, 6.103515625e-5},
                                     {1.52587890625e-5f, 0x01, 1.52587890625e-5},
                                     {0.1f, 0x2E, 0.09375},
                                     {0.3f, 0x35, 0.3125},
                                     {300.0f, 0x5D, 320.0},
                                 });
  check(ScalarFormat::E5M2, Saturation::NoSaturate, {{61440.0f, 0x7C, kInf}});
  check(ScalarFormat::E5M2, Saturation::Saturate, {{61440.0f, 0x7B, 57344.0}});
}

TEST(ScalarVectors, E2M1) {
  // section 7: the code table
  const double values[16] = {0, 0.5, 1, 1.5, 2, 3, 4, 6, -0.0, -0.5, -1, -1.5, -2, -3, -4, -6};
  for (std::uint32_t c = 0; c < 16; ++c) {
    EXPECT_EQ(decode(ScalarFormat::E2M1, c), values[c]) << c;
    EXPECT_EQ(std::signbit(decode(ScalarFormat::E2M1, c)), c >= 8) << c;
    EXPECT_EQ(bits_of(e2m1_to_f32(static_cast<std::uint8_t>(c))), bits_of(static_cast<float>(values[c]))) << c;
  }
  // the encode vectors (RNE, saturating), and 7 -> 6 also when not saturating (no inf in e2m1)
  check_both(ScalarFormat::E2M1, {
                                     {0.25f, 0x0, 0.0},
                                     {0.3f, 0x1, 0.5},
                                     {0.75f, 0x2, 1.0},
                                     {1.25f, 0x2, 1.0},
                                     {1.75f, 0x4, 2.0},
                                     {2.5f, 0x4, 2.0},
                                     {2.9f, 0x5, 3.0},
                                     {3.5f, 0x6, 4.0},
                                     {5.0f, 0x6, 4.0},
                                     {7.0f, 0x7, 6.0},
                                     {-2.6f, 0xD, -3.0},
                                     {-0.1f, 0x8, -0.0},
                                 });
}

TEST(ScalarVectors, E8M0) {
  // section 8: 2^X -> X + 127; code 0 is 2^-127 (float32 bits 0x00400000); 0xFF is NaN
  for (int x = -127; x <= 127; ++x) {
    const float v = std::ldexp(1.0f, x);
    EXPECT_EQ(encode(ScalarFormat::E8M0, v), static_cast<std::uint32_t>(x + 127)) << x;
    EXPECT_EQ(encode(ScalarFormat::E8M0, v, Saturation::NoSaturate), static_cast<std::uint32_t>(x + 127)) << x;
    EXPECT_EQ(decode(ScalarFormat::E8M0, static_cast<std::uint32_t>(x + 127)), v) << x;
  }
  EXPECT_EQ(bits_of(decode(ScalarFormat::E8M0, 0)), 0x00400000u);
  EXPECT_TRUE(std::isnan(decode(ScalarFormat::E8M0, 0xFF)));
  // rounding as ml_dtypes: significand to nearest, ties up (linear, not log2)
  check_both(ScalarFormat::E8M0, {{1.45f, 127, 1.0}, {1.5f, 128, 2.0}, {3.0f, 129, 4.0}, {0.74f, 126, 0.5}});
  // no zero, no sign: NaN in both modes
  check_both(ScalarFormat::E8M0, {{0.0f, 0xFF, kNaN}, {-1.0f, 0xFF, kNaN}, {kNaNf, 0xFF, kNaN}});
  // past 2^127: NaN, or the max when saturating
  check(ScalarFormat::E8M0, Saturation::NoSaturate, {{0x1.8p127f, 0xFF, kNaN}});
  check(ScalarFormat::E8M0, Saturation::Saturate, {{0x1.8p127f, 0xFE, 0x1p127}});
}

TEST(ScalarVectors, UE4M3FollowsGgml) {
  // worked by hand from ggml_fp32_to_ue4m3 / ggml_ue4m3_to_fp32 (ggml-impl.h); both modes the same
  check_both(ScalarFormat::UE4M3, {
                                      {1.0f, 0x38, 1.0},
                                      {448.0f, 0x7E, 448.0},
                                      {1000.0f, 0x7E, 448.0},
                                      {240.0f, 0x77, 240.0},
                                      {1.0625f, 0x39, 1.125},  // a tie rounds up (RNE would give 1.0)
                                      {1.1875f, 0x3A, 1.25},
                                      {1.06f, 0x38, 1.0},
                                      {0x1p-9f, 0x01, 0x1p-9},
                                      {0x1p-10f, 0x01, 0x1p-9},  // subnormal tie rounds up
                                      {0.4f * 0x1p-9f, 0x00, 0.0},
                                      {0.015625f, 0x08, 0.015625},
                                  });
  // ggml's edges: every x >= 256 -> 448, [240, 256) can round up to 448 too, and the largest
  // subnormals are capped at 0x07 instead of rounding up to 0x08
  EXPECT_EQ(encode(ScalarFormat::UE4M3, 256.0f), 0x7Eu);
  EXPECT_EQ(encode(ScalarFormat::UE4M3, 300.0f), 0x7Eu);
  EXPECT_EQ(encode(ScalarFormat::UE4M3, 248.0f), 0x7Eu);
  EXPECT_EQ(encode(ScalarFormat::UE4M3, 7.5f / 512.0f), 0x07u);
  // nothing below zero: 0, negatives and NaN -> 0; inf -> 448
  EXPECT_EQ(encode(ScalarFormat::UE4M3, 0.0f), 0u);
  EXPECT_EQ(encode(ScalarFormat::UE4M3, -3.0f), 0u);
  EXPECT_EQ(encode(ScalarFormat::UE4M3, kNaNf), 0u);
  EXPECT_EQ(encode(ScalarFormat::UE4M3, std::numeric_limits<float>::infinity()), 0x7Eu);
  EXPECT_EQ(decode(ScalarFormat::UE4M3, 0x7F), 0.0f);
  EXPECT_EQ(decode(ScalarFormat::UE4M3, 0x78), 256.0f);
}

TEST(ScalarVectors, Integers) {
  check_both(ScalarFormat::INT8, {
                                     {2.5f, 2, 2.0},
                                     {3.5f, 4, 4.0},
                                     {-2.5f, 0xFE, -2.0},
                                     {-0.4f, 0, 0.0},
                                     {126.6f, 127, 127.0},
                                     {200.0f, 127, 127.0},
                                     {-200.0f, 0x80, -128.0},
                                     {-128.0f, 0x80, -128.0},
                                     {kNaNf, 0, 0.0},
                                 });
  check_both(ScalarFormat::INT4, {
                                     {0.5f, 0, 0.0},
                                     {1.5f, 2, 2.0},
                                     {-1.5f, 0xE, -2.0},
                                     {7.6f, 7, 7.0},
                                     {-9.0f, 0x8, -8.0},
                                     {-7.5f, 0x8, -8.0},
                                     {6.5f, 6, 6.0},
                                 });
}

TEST(ScalarVectors, NF4) {
  // section 10: the table as float32 bits
  const std::uint32_t table_bits[16] = {0xBF800000, 0xBF3239B1, 0xBF066B30, 0xBECA32A0, 0xBE91A24D, 0xBE3D353F,
                                        0xBDBA7871, 0x00000000, 0x3DA2FAFF, 0x3E24CAE3, 0x3E7C04DD, 0x3EAD033A,
                                        0x3EE1A4B8, 0x3F1007AB, 0x3F3913B3, 0x3F800000};
  for (std::uint32_t c = 0; c < 16; ++c) EXPECT_EQ(hex(bits_of(decode(ScalarFormat::NF4, c))), hex(table_bits[c]));
  // the kernel's midpoints, to the 7 digits the note prints
  const double mids[15] = {-0.8480964, -0.6106329, -0.4599953, -0.3396794, -0.2346074, -0.1379117, -0.0455250,
                           0.0397901,  0.1202553,  0.2035213,  0.2920138,  0.3893125,  0.5016634,  0.6427869,
                           0.8614784};
  for (int i = 0; i < 15; ++i) EXPECT_NEAR(kNF4Midpoints[i], mids[i], 1e-7) << i;
  // test vectors (absmax = 1)
  const std::pair<float, std::uint32_t> v[] = {{0.5f, 12}, {-0.3f, 4}, {0.03f, 7}, {-0.05f, 6},
                                               {0.9f, 15}, {1.0f, 15}, {-1.0f, 0}};
  for (auto [x, c] : v) EXPECT_EQ(encode(ScalarFormat::NF4, x), c) << x;
  // block example: absmax 2.0
  const float x[8] = {2.0f, -1.0f, 0.5f, -0.25f, 0.0f, 1.5f, -2.0f, 0.1f};
  const std::uint32_t codes[8] = {15, 2, 10, 6, 7, 14, 0, 8};
  const double deq[8] = {2, -1.050146, 0.492225, -0.182100, 0, 1.445914, -2, 0.159161};
  for (int i = 0; i < 8; ++i) {
    const std::uint32_t c = encode(ScalarFormat::NF4, x[i] / 2.0f);
    EXPECT_EQ(c, codes[i]) << i;
    EXPECT_NEAR(decode(ScalarFormat::NF4, c) * 2.0f, deq[i], 1e-6) << i;
  }
  // on a midpoint the lower code wins (strict '>'); one float above it takes the upper code
  for (int i = 0; i < 15; ++i) {
    EXPECT_EQ(encode(ScalarFormat::NF4, kNF4Midpoints[i]), static_cast<std::uint32_t>(i)) << i;
    EXPECT_EQ(encode(ScalarFormat::NF4, std::nextafter(kNF4Midpoints[i], 2.0f)), static_cast<std::uint32_t>(i + 1))
        << i;
  }
  EXPECT_EQ(encode(ScalarFormat::NF4, kNaNf), 0u);
}

TEST(ScalarVectors, F32IsIdentityExceptSaturatedInf) {
  for (std::uint32_t u : {0x3F800000u, 0x80000000u, 0x7F800000u, 0xFF800000u, 0x00000001u, 0x7FC00001u}) {
    const bool inf = (u & 0x7FFFFFFFu) == 0x7F800000u;
    EXPECT_EQ(encode(ScalarFormat::F32, float_of(u), Saturation::NoSaturate), u);
    EXPECT_EQ(encode(ScalarFormat::F32, float_of(u)), inf ? (u & 0x80000000u) | 0x7F7FFFFFu : u);
    EXPECT_EQ(bits_of(decode(ScalarFormat::F32, u)), u);
  }
}

}  // namespace
}  // namespace qlab::formats
