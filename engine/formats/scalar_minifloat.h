#pragma once
// One parameterised codec for every binary float narrower than float32 (f16, bf16, e4m3, e5m2,
// e2m1, e8m0): the reference the fast paths are checked against.
//   MiniFloat              exponent/mantissa bits, bias, sign, and the inf/NaN convention
//   minifloat_encode       float32 -> code, round to nearest even, the ml_dtypes rules
//   minifloat_encode_sat   clamp to +-max finite first (NaN stays NaN), then encode
//   minifloat_decode       code -> float32 (exact: every value of these formats is a float32)
// Everything is constexpr so the fast paths can hold compile-time decode tables.
//
// The encoder mirrors ml_dtypes' ConvertImpl (float8.h) step for step, because "non-saturating"
// means "what ml_dtypes does", including its corner cases:
//   - inf -> the type's infinity(), NaN -> its quiet_NaN(), both with the input's sign applied by
//     the type's negation (e2m1 has neither: inf -> +-6, NaN -> 0x8 (-0) and -NaN -> 0x0);
//   - overflow after rounding -> infinity() (e4m3: NaN 0x7F, e5m2: inf, e2m1: max, e8m0: NaN);
//   - e8m0 has no zero: 0 -> NaN, negative -> NaN; below 2^-127 everything rounds to code 0, and
//     the rounding treats code 0 as if it were zero (so (2^-127, 1.5*2^-126) -> code 1).
#include <algorithm>
#include <bit>
#include <cstdint>

namespace qlab::formats::detail {

struct MiniFloat {
  int exp_bits;
  int man_bits;
  int bias;
  bool is_signed;
  bool has_zero;            // false for e8m0: code 0 is 2^-127
  std::uint32_t max_code;   // magnitude code of the largest finite value
  std::uint32_t inf_code;   // what +inf and overflow encode to (ml_dtypes infinity())
  std::uint32_t nan_code;   // what +NaN encodes to (ml_dtypes quiet_NaN())
  enum class Special { IEEE, AllOnesNaN, None, AllOnesNaNUnsigned } special;

  constexpr int bits() const { return exp_bits + man_bits + (is_signed ? 1 : 0); }
  constexpr std::uint32_t sign_bit() const { return is_signed ? 1u << (exp_bits + man_bits) : 0u; }
  constexpr std::uint32_t magnitude_mask() const { return (1u << (exp_bits + man_bits)) - 1u; }
  constexpr std::uint32_t exp_all_ones() const { return (1u << exp_bits) - 1u; }
  constexpr bool is_nan(std::uint32_t code) const {
    std::uint32_t mag = code & magnitude_mask();
    switch (special) {
      case Special::IEEE:
        return (mag >> man_bits) == exp_all_ones() && (mag & ((1u << man_bits) - 1u)) != 0;
      case Special::AllOnesNaN:
      case Special::AllOnesNaNUnsigned:
        return mag == magnitude_mask();
      case Special::None:
        return false;
    }
    return false;
  }
  constexpr bool is_inf(std::uint32_t code) const {
    return special == Special::IEEE && (code & magnitude_mask()) == (exp_all_ones() << man_bits);
  }
  // The type's negation, as ml_dtypes defines it: flip the sign bit; unsigned types -> NaN.
  constexpr std::uint32_t negate(std::uint32_t code) const {
    return is_signed ? code ^ sign_bit() : nan_code;
  }
};

inline constexpr MiniFloat kF16{5, 10, 15, true, true, 0x7BFF, 0x7C00, 0x7E00, MiniFloat::Special::IEEE};
inline constexpr MiniFloat kBF16{8, 7, 127, true, true, 0x7F7F, 0x7F80, 0x7FC0, MiniFloat::Special::IEEE};
inline constexpr MiniFloat kE4M3{4, 3, 7, true, true, 0x7E, 0x7F, 0x7F, MiniFloat::Special::AllOnesNaN};
inline constexpr MiniFloat kE5M2{5, 2, 15, true, true, 0x7B, 0x7C, 0x7E, MiniFloat::Special::IEEE};
inline constexpr MiniFloat kE2M1{2, 1, 1, true, true, 0x7, 0x7, 0x8, MiniFloat::Special::None};
inline constexpr MiniFloat kE8M0{8, 0, 127, false, false, 0xFE, 0xFF, 0xFF,
                                 MiniFloat::Special::AllOnesNaNUnsigned};

inline constexpr std::uint32_t kF32QuietNaN = 0x7FC00000u;

// Float32 value sig * 2^exp2 as bits, for results that are exact in float32 (all of ours are).
constexpr std::uint32_t exact_f32_bits(std::uint64_t sig, int exp2) {
  if (sig == 0) return 0;
  // normalise sig to [2^23, 2^24)
  int width = 64 - std::countl_zero(sig);
  int shift = width - 24;
  int e = exp2 + shift + 23;  // unbiased exponent of the leading bit
  if (e >= -126) {
    std::uint64_t s = shift >= 0 ? sig >> shift : sig << -shift;
    return static_cast<std::uint32_t>((static_cast<std::uint64_t>(e + 127) << 23) | (s & 0x7FFFFF));
  }
  // float32 subnormal: value = m * 2^-149
  int sh = exp2 + 149;
  std::uint64_t m = sh >= 0 ? sig << sh : sig >> -sh;
  return static_cast<std::uint32_t>(m);
}

constexpr float minifloat_decode(const MiniFloat& f, std::uint32_t code) {
  const std::uint32_t sign = (f.sign_bit() && (code & f.sign_bit())) ? 0x80000000u : 0u;
  if (f.is_nan(code)) return std::bit_cast<float>(sign | kF32QuietNaN);
  if (f.is_inf(code)) return std::bit_cast<float>(sign | 0x7F800000u);
  const std::uint32_t mag = code & f.magnitude_mask();
  const std::uint32_t e = mag >> f.man_bits;
  const std::uint32_t m = mag & ((1u << f.man_bits) - 1u);
  std::uint64_t sig;
  int exp2;
  if (e == 0 && f.has_zero) {  // subnormal (or zero)
    sig = m;
    exp2 = 1 - f.bias - f.man_bits;
  } else {
    sig = (1ull << f.man_bits) | m;
    exp2 = static_cast<int>(e) - f.bias - f.man_bits;
  }
  return std::bit_cast<float>(sign | exact_f32_bits(sig, exp2));
}

constexpr std::uint32_t minifloat_encode(const MiniFloat& f, float x) {
  const std::uint32_t u = std::bit_cast<std::uint32_t>(x);
  const bool neg = (u >> 31) != 0;
  const std::uint32_t a = u & 0x7FFFFFFFu;
  auto with_sign = [&](std::uint32_t c) { return neg ? f.negate(c) : c; };
  if (a == 0x7F800000u) return with_sign(f.inf_code);
  if (a > 0x7F800000u) return with_sign(f.nan_code);
  if (a == 0) return f.has_zero ? (neg ? f.sign_bit() : 0u) : f.nan_code;
  if (neg && !f.is_signed) return f.nan_code;

  // Normalise to a 24-bit significand with the leading one at bit 23.
  int e;
  std::uint64_t sig;
  if (a >> 23) {
    e = static_cast<int>(a >> 23) - 127;
    sig = (1u << 23) | (a & 0x7FFFFFu);
  } else {
    int shift = std::countl_zero(a) - 8;
    sig = static_cast<std::uint64_t>(a) << shift;
    e = -126 - shift;
  }
  // base = biased exponent - 1: the leading one of the rounded significand adds the missing 1
  // when the two are summed below, and a rounding carry walks into the exponent by itself.
  const int base = e + f.bias - 1;
  const int denormal = std::max(0, -base);
  const int shift = std::min(23 - f.man_bits + denormal, 25);
  sig += ((sig >> shift) & 1u) + (1ull << (shift - 1)) - 1u;  // round to nearest, ties to even
  sig >>= shift;
  const std::uint64_t r = sig + (static_cast<std::uint64_t>(std::max(0, base)) << f.man_bits);
  const std::uint32_t mag = r > f.max_code ? f.inf_code : static_cast<std::uint32_t>(r);
  return with_sign(mag);
}

constexpr std::uint32_t minifloat_encode_sat(const MiniFloat& f, float x) {
  const float mx = minifloat_decode(f, f.max_code);
  if (x > mx) x = mx;
  if (x < -mx) x = -mx;
  return minifloat_encode(f, x);
}

}  // namespace qlab::formats::detail
