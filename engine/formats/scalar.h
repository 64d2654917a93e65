#pragma once
// Scalar number formats: encode (round to nearest, ties to even) and decode, bit-exact.
//   ScalarFormat        the enum of scalar formats
//   ScalarProperties    what the tutor shows: bits, exponent/mantissa, bias, max, min normal, ...
//   encode / decode     one value <-> one code (code in the low bits of a uint32)
//   representable_values  every finite value, ascending (the number-line chart)
// Saturating encode clamps out-of-range values to +-max finite (what quantizers use);
// non-saturating encode matches ml_dtypes exactly (NaN for e4m3/e2m1-style "fn" types past the
// rounding boundary, inf for types that have it). See shared reference number-formats.md.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace qlab::formats {

enum class ScalarFormat { F32, F16, BF16, E4M3, E5M2, E2M1, E8M0, UE4M3, INT8, INT4, NF4 };

enum class Saturation { Saturate, NoSaturate };

struct ScalarProperties {
  ScalarFormat format;
  std::string name;          // "e4m3" — the CLI name
  std::string long_name;     // "FP8 E4M3 (fn: finite, NaN-only)"
  int bits;                  // storage bits per value
  int exponent_bits;         // 0 for int / nf4
  int mantissa_bits;         // explicit fraction bits; 0 for int / nf4 / e8m0
  int bias;                  // exponent bias; 0 where it does not apply
  bool is_float;             // binary floating point (f32 … e8m0)
  bool has_inf, has_nan, is_signed;
  double max_finite;         // largest finite value
  double min_normal;         // smallest positive normal (0 where it does not apply)
  double min_subnormal;      // smallest positive value (for int: 1; for nf4: smallest |level|)
  double epsilon;            // machine epsilon: distance from 1 to the next value (0 where meaningless)
  std::uint64_t finite_count;  // number of distinct finite values (+0 and -0 count once)
};

const std::vector<ScalarFormat>& all_scalar_formats();
const ScalarProperties& properties(ScalarFormat f);
// Parses a CLI name ("f16", "bf16", "e4m3", ...); nullopt if unknown.
std::optional<ScalarFormat> scalar_format_from_name(std::string_view name);

// Encode x into the format's code (low `bits` bits of the result).
// INT8/INT4: x is rounded (RNE) and clamped to the integer range (NoSaturate: out of range -> error value
//   is not representable, so ints always saturate). NF4: x is taken as already scaled to [-1, 1]
//   (bitsandbytes rule: strict '>' against midpoints). E8M0: nearest power of two in log space
//   (round log2 to nearest, ties to even exponent), NaN/inf/<=0 -> 0xFF (NaN) unless saturating.
std::uint32_t encode(ScalarFormat f, float x, Saturation sat = Saturation::Saturate);
float decode(ScalarFormat f, std::uint32_t code);

// Every finite value of the format, ascending, -0 omitted (f32 is refused: too many).
std::vector<double> representable_values(ScalarFormat f);

// Fast paths used inside the block formats (same results as encode/decode).
std::uint16_t f32_to_f16(float x);   // RNE, overflow -> inf
float f16_to_f32(std::uint16_t h);
std::uint16_t f32_to_bf16(float x);  // RNE, NaN kept quiet
float bf16_to_f32(std::uint16_t b);
std::uint8_t f32_to_e4m3_sat(float x);   // clamp to +-448 then RNE; NaN -> 0x7F
float e4m3_to_f32(std::uint8_t c);
std::uint8_t f32_to_e2m1_sat(float x);   // RNE, |x| > 6 -> 6, sign bit set for any x < 0
float e2m1_to_f32(std::uint8_t c);

}  // namespace qlab::formats
