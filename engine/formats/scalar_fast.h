#pragma once
// Fast scalar codecs for the block formats' hot loops: inline, branch-light (selects, no tables
// larger than 256 entries), same results as encode()/decode() in scalar.h, which the unit tests
// check over every code and millions of inputs.
//   f32 <-> f16, bf16        integer rounding; NaN handled with a select
//   f32 -> e4m3/e5m2/e2m1    saturating: clamp |x| to max finite, then round to nearest even
//   e4m3/e5m2/e2m1/ue4m3 -> f32   256/16-entry tables built at compile time
//   e8m0 -> f32              exponent bits straight into a float
//   f32 -> ue4m3             ggml's encoder (half-up, unsigned), line for line
//   nf4                      bitsandbytes' table and strict '>' midpoint rule
//
// Rounding trick used below for the subnormal ranges: adding a power of two P whose float32 ulp
// equals the target's subnormal step makes the FPU round |x| to that step with ties to even;
// bits(|x| + P) - bits(P) is then the code, and a round-up into the smallest normal carries into
// the exponent field by itself. (Relies on IEEE float arithmetic: no -ffast-math.)
#include <array>
#include <bit>
#include <cstdint>

#include "engine/formats/scalar_minifloat.h"

namespace qlab::formats {

namespace detail {

inline std::uint32_t fbits(float x) { return std::bit_cast<std::uint32_t>(x); }
inline float bitsf(std::uint32_t u) { return std::bit_cast<float>(u); }
// c ? a : b as mask arithmetic. A plain ?: whose arm holds a float add stays a branch under GCC's
// default -ftrapping-math, and a branch stops the loop from vectorizing.
inline std::uint32_t select(bool c, std::uint32_t a, std::uint32_t b) {
  const std::uint32_t m = 0u - static_cast<std::uint32_t>(c);
  return (a & m) | (b & ~m);
}

template <std::size_t N>
constexpr std::array<float, N> minifloat_table(const MiniFloat& f) {
  std::array<float, N> t{};
  for (std::size_t c = 0; c < N; ++c) t[c] = minifloat_decode(f, static_cast<std::uint32_t>(c));
  return t;
}

inline constexpr std::array<float, 256> kE4M3ToF32 = minifloat_table<256>(kE4M3);
inline constexpr std::array<float, 256> kE5M2ToF32 = minifloat_table<256>(kE5M2);
inline constexpr std::array<float, 16> kE2M1ToF32 = minifloat_table<16>(kE2M1);

// UE4M3 as ggml decodes it (ggml_ue4m3_to_fp32, without its factor 1/2): exponent (c >> 3) & 0xF,
// mantissa c & 7, bit 7 ignored, except that the bytes 0x00 and 0x7F are zero.
inline constexpr MiniFloat kUE4M3Layout{4, 3, 7, false, true, 0x7E, 0x7E, 0x7E, MiniFloat::Special::None};
constexpr std::array<float, 256> make_ue4m3_table() {
  std::array<float, 256> t{};
  for (std::uint32_t c = 0; c < 256; ++c) t[c] = c == 0x7F ? 0.0f : minifloat_decode(kUE4M3Layout, c & 0x7Fu);
  return t;
}
inline constexpr std::array<float, 256> kUE4M3ToF32 = make_ue4m3_table();

}  // namespace detail

// ---- f16 / bf16 -------------------------------------------------------------------------------

// Round to nearest even, overflow (|x| >= 65520) -> inf, NaN -> quiet NaN keeping the sign and the
// top payload bits (what x86 F16C and Arm FCVT do).
inline std::uint16_t f32_to_f16(float x) {
  const std::uint32_t u = detail::fbits(x);
  const std::uint32_t sign = (u >> 16) & 0x8000u;
  const std::uint32_t a = u & 0x7FFFFFFFu;
  // rebias 127 -> 15 and round away the 13 low bits; a carry walks into the exponent
  const std::uint32_t normal = (a - 0x38000000u + 0x0FFFu + ((a >> 13) & 1u)) >> 13;
  // |x| < 2^-14: 0.5f has ulp 2^-24, the f16 subnormal step
  const std::uint32_t sub = detail::fbits(detail::bitsf(a) + 0.5f) - 0x3F000000u;
  std::uint32_t h = detail::select(a < 0x38800000u, sub, normal);
  h = detail::select(a >= 0x477FF000u, 0x7C00u, h);
  h = detail::select(a > 0x7F800000u, 0x7E00u | ((a >> 13) & 0x3FFu), h);
  return static_cast<std::uint16_t>(sign | h);
}

inline float f16_to_f32(std::uint16_t h) {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  const std::uint32_t mag = h & 0x7FFFu;
  const std::uint32_t e = mag >> 10;
  std::uint32_t normal = (mag << 13) + 0x38000000u;    // exponent + (127 - 15)
  normal = detail::select(e == 31, normal + 0x38000000u, normal);  // inf / NaN: exponent all ones
  const std::uint32_t sub = detail::fbits(static_cast<float>(mag) * 0x1p-24f);  // e == 0
  return detail::bitsf(sign | detail::select(e == 0, sub, normal));
}

// Round to nearest even by the integer trick (ggml, Google Brain); NaN -> sign | 0x7FC0 (Eigen,
// which ml_dtypes uses). FLT_MAX rounds to inf.
inline std::uint16_t f32_to_bf16(float x) {
  const std::uint32_t u = detail::fbits(x);
  const std::uint32_t r = (u + 0x7FFFu + ((u >> 16) & 1u)) >> 16;
  const std::uint32_t nan = ((u >> 16) & 0x8000u) | 0x7FC0u;
  return static_cast<std::uint16_t>(detail::select((u & 0x7FFFFFFFu) > 0x7F800000u, nan, r));
}

inline float bf16_to_f32(std::uint16_t b) { return detail::bitsf(static_cast<std::uint32_t>(b) << 16); }

// ---- FP8 ---------------------------------------------------------------------------------------

// Clamp |x| to 448, round to nearest even; the sign bit follows x (so -0.0 -> 0x80); NaN -> 0x7F
// with x's sign.
inline std::uint8_t f32_to_e4m3_sat(float x) {
  const std::uint32_t u = detail::fbits(x);
  const std::uint32_t sign = (u >> 24) & 0x80u;
  const std::uint32_t au = u & 0x7FFFFFFFu;
  const std::uint32_t a = au < 0x43E00000u ? au : 0x43E00000u;  // |x| clamped to 448 (as bits)
  const std::uint32_t normal = (a - 0x3C000000u + 0x7FFFFu + ((a >> 20) & 1u)) >> 20;
  const std::uint32_t sub = detail::fbits(detail::bitsf(a) + 16384.0f) - 0x46800000u;  // step 2^-9
  std::uint32_t mag = detail::select(a < 0x3C800000u, sub, normal);
  mag = detail::select(au > 0x7F800000u, 0x7Fu, mag);
  return static_cast<std::uint8_t>(sign | mag);
}

inline float e4m3_to_f32(std::uint8_t c) { return detail::kE4M3ToF32[c]; }

// Clamp |x| to 57344, round to nearest even; NaN -> 0x7E with x's sign.
inline std::uint8_t f32_to_e5m2_sat(float x) {
  const std::uint32_t u = detail::fbits(x);
  const std::uint32_t sign = (u >> 24) & 0x80u;
  const std::uint32_t au = u & 0x7FFFFFFFu;
  const std::uint32_t a = au < 0x47600000u ? au : 0x47600000u;  // |x| clamped to 57344 (as bits)
  const std::uint32_t normal = (a - 0x38000000u + 0xFFFFFu + ((a >> 21) & 1u)) >> 21;
  const std::uint32_t sub = detail::fbits(detail::bitsf(a) + 128.0f) - 0x43000000u;  // step 2^-16
  std::uint32_t mag = detail::select(a < 0x38800000u, sub, normal);
  mag = detail::select(au > 0x7F800000u, 0x7Eu, mag);
  return static_cast<std::uint8_t>(sign | mag);
}

inline float e5m2_to_f32(std::uint8_t c) { return detail::kE5M2ToF32[c]; }

// ---- FP4 E2M1 ----------------------------------------------------------------------------------

// Clamp |x| to 6, round to nearest even (ties to the even code: 0.25->0, 0.75->1, 2.5->2, 5->4);
// the sign bit follows x, so -0.1 -> 0x8. NaN -> 0x8 (-NaN -> 0x0): ml_dtypes' quiet_NaN() of
// float4_e2m1fn is the -0 pattern.
inline std::uint8_t f32_to_e2m1_sat(float x) {
  const std::uint32_t u = detail::fbits(x);
  const std::uint32_t sign = (u >> 28) & 0x8u;
  const std::uint32_t au = u & 0x7FFFFFFFu;
  const std::uint32_t a = au < 0x40C00000u ? au : 0x40C00000u;  // |x| clamped to 6 (as bits)
  const std::uint32_t normal = (a - 0x3F000000u + 0x1FFFFFu + ((a >> 22) & 1u)) >> 22;
  const std::uint32_t sub = detail::fbits(detail::bitsf(a) + 4194304.0f) - 0x4A800000u;  // step 0.5
  const std::uint32_t mag = detail::select(a < 0x3F800000u, sub, normal);
  return static_cast<std::uint8_t>(detail::select(au > 0x7F800000u, sign ^ 0x8u, sign | mag));
}

inline float e2m1_to_f32(std::uint8_t c) { return detail::kE2M1ToF32[c & 0xFu]; }

// ---- scales: E8M0, UE4M3 -----------------------------------------------------------------------

// 2^(c - 127); code 0 is the float32 subnormal 2^-127; 0xFF is NaN.
inline float e8m0_to_f32(std::uint8_t c) {
  const std::uint32_t b = detail::select(c == 0, 0x00400000u, static_cast<std::uint32_t>(c) << 23);
  return detail::bitsf(detail::select(c == 0xFF, detail::kF32QuietNaN, b));
}

// ggml_fp32_to_ue4m3, line for line: not RNE. x <= 0 or NaN -> 0; the first dropped mantissa
// bit rounds half up; below 2^-6 the code is (int)(x * 512 + 0.5) capped at 7; and every x >= 256
// (and [240, 256) after rounding) becomes 0x7E = 448, so codes 0x78..0x7D are never produced.
inline std::uint8_t f32_to_ue4m3(float x) {
  if (!(x > 0.0f)) return 0;
  if (x > 448.0f) x = 448.0f;
  const std::uint32_t bits = detail::fbits(x);
  const int fp32_exp = static_cast<int>((bits >> 23) & 0xFFu) - 127;
  const int fp32_man = static_cast<int>((bits >> 20) & 0x7u);
  int exp = fp32_exp + 7;
  if (exp <= 0) {
    int man = static_cast<int>(x * 512.0f + 0.5f);
    if (man > 7) man = 7;
    return man < 1 ? 0 : static_cast<std::uint8_t>(man);
  }
  if (exp >= 15) return 0x7E;
  int man = fp32_man + static_cast<int>((bits >> 19) & 1u);
  if (man > 7) {
    man = 0;
    if (++exp >= 15) return 0x7E;
  }
  return static_cast<std::uint8_t>((exp << 3) | man);
}

// The UE4M3 value (ggml's ggml_ue4m3_to_fp32 returns half of this, for its doubled E2M1 table).
inline float ue4m3_to_f32(std::uint8_t c) { return detail::kUE4M3ToF32[c]; }

// ---- NF4 ---------------------------------------------------------------------------------------

// bitsandbytes' NF4 levels (get_4bit_type("nf4")), as float32.
inline constexpr float kNF4Levels[16] = {
    -1.0f,
    -0.6961928009986877f,
    -0.5250730514526367f,
    -0.39491748809814453f,
    -0.28444138169288635f,
    -0.18477343022823334f,
    -0.09105003625154495f,
    0.0f,
    0.07958029955625534f,
    0.16093020141124725f,
    0.24611230194568634f,
    0.33791524171829224f,
    0.44070982933044434f,
    0.5626170039176941f,
    0.7229568362236023f,
    1.0f,
};

// The midpoints as written in bitsandbytes' dQuantizeNF4 (csrc/kernels.cu), ascending.
inline constexpr float kNF4Midpoints[15] = {
    -0.8480964004993439f,  -0.6106329262256622f, -0.4599952697753906f, -0.33967943489551544f,
    -0.23460740596055984f, -0.13791173323988914f, -0.045525018125772476f, 0.03979014977812767f,
    0.1202552504837513f,   0.2035212516784668f,  0.2920137718319893f,  0.3893125355243683f,
    0.5016634166240692f,   0.6427869200706482f,  0.8614784181118011f,
};

// x already divided by the block absmax. The code is the number of midpoints strictly below x,
// which is what bitsandbytes' comparison tree computes (a value on a midpoint takes the lower
// code; NaN -> 0; beyond +-1 -> 15 / 0).
inline std::uint8_t f32_to_nf4(float x) {
  std::uint32_t c = 0;
  for (float m : kNF4Midpoints) c += x > m ? 1u : 0u;
  return static_cast<std::uint8_t>(c);
}

inline float nf4_to_f32(std::uint8_t c) { return kNF4Levels[c & 0xFu]; }

}  // namespace qlab::formats
