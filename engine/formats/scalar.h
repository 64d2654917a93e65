#pragma once
// Scalar number formats: encode (round to nearest, ties to even) and decode, bit-exact.
//   ScalarFormat        the enum of scalar formats
//   ScalarProperties    what the tutor shows: bits, exponent/mantissa, bias, max, min normal, ...
//   encode / decode     one value <-> one code (code in the low bits of a uint32)
//   representable_values  every finite value, ascending (the number-line chart)
//   fast paths          inline codecs for hot loops (scalar_fast.h, included at the end)
//
// Two encode modes:
//   Saturate    clamp x to [-max finite, +max finite] first (NaN stays NaN), then round: what
//               quantizers use. Rounding cannot leave the range, so this never yields inf.
//   NoSaturate  exactly what ml_dtypes' cast does (numpy for f16): past the rounding boundary
//               e4m3 gives NaN (0x7F / 0xFF), e5m2/f16/bf16 give inf, e2m1 gives +-6 (it has no
//               inf or NaN), e8m0 gives NaN (0xFF).
// NaN inputs follow ml_dtypes in both modes: e4m3 0x7F (0xFF for -NaN), e5m2 0x7E / 0xFE,
// bf16 0x7FC0 / 0xFFC0, f16 0x7E00 | payload with the sign, e8m0 0xFF, and e2m1 -- which has no
// NaN -- 0x8 for +NaN and 0x0 for -NaN (ml_dtypes' quiet_NaN() is the -0 pattern, negated by
// flipping the sign bit).
// The sign of x is kept even when the magnitude rounds to zero (-1e-9 -> -0 in every signed float).
//
// Format notes:
//   E8M0  value 2^(c-127), no zero, no sign, 0xFF = NaN. Rounding follows ml_dtypes
//         (float8_e8m0fnu): round the significand to nearest, ties up, so [1.5, 2)*2^k -> 2^(k+1);
//         in linear terms, not in log2 (1.45 -> 1, 1.5 -> 2). 0 and negative x -> NaN (there is
//         nothing to round to), also when saturating; below 2^-127 everything gives code 0.
//   UE4M3 ggml's unsigned E4M3 for its NVFP4 sub-block scales (ggml_fp32_to_ue4m3): NOT RNE --
//         half-up on the first dropped bit, x <= 0 or NaN -> 0, x >= 256 -> 0x7E (448), so codes
//         0x78..0x7D are never produced. Decode gives the full value (ggml's decoder halves it
//         for its doubled E2M1 table) and reads 0x7F as 0. Both modes are the same.
//   INT8/INT4  x rounded to nearest even and clamped to [-128, 127] / [-8, 7] in both modes (an
//         integer has nothing else to overflow to); NaN -> 0. Code = two's complement in the low
//         8 / 4 bits.
//   NF4   x taken as already divided by the block absmax; the bitsandbytes rule: code = number of
//         midpoints strictly below x (a value on a midpoint takes the lower code; NaN -> 0).
//   F32   encode is the identity on the bits.
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
  bool is_float;             // binary floating point (f32 … ue4m3)
  bool has_inf, has_nan, is_signed;
  double max_finite;         // largest finite value
  double min_normal;         // smallest positive normal (0 where it does not apply; e8m0: 2^-127)
  double min_subnormal;      // smallest positive value (for int: 1; for nf4: smallest |level|)
  double epsilon;            // machine epsilon: distance from 1 to the next value (0 where meaningless)
  std::uint64_t finite_count;  // number of distinct finite values (+0 and -0 count once)
};

const std::vector<ScalarFormat>& all_scalar_formats();
const ScalarProperties& properties(ScalarFormat f);
// Parses a CLI name ("f16", "bf16", "e4m3", ...); nullopt if unknown.
std::optional<ScalarFormat> scalar_format_from_name(std::string_view name);
// "f32 f16 bf16 ..." — for error messages.
std::string scalar_format_names();

// Encode x into the format's code (low `bits` bits of the result). See the notes above.
std::uint32_t encode(ScalarFormat f, float x, Saturation sat = Saturation::Saturate);
float decode(ScalarFormat f, std::uint32_t code);
// Whether a code decodes to NaN (false for formats without NaN).
bool is_nan_code(ScalarFormat f, std::uint32_t code);

// Every finite value of the format, ascending, -0 omitted (f32 is refused: too many).
std::vector<double> representable_values(ScalarFormat f);

// Fast paths used inside the block formats (same results as encode/decode; defined inline in
// scalar_fast.h): f32_to_f16, f16_to_f32, f32_to_bf16, bf16_to_f32, f32_to_e4m3_sat, e4m3_to_f32,
// f32_to_e5m2_sat, e5m2_to_f32, f32_to_e2m1_sat, e2m1_to_f32, e8m0_to_f32, f32_to_ue4m3,
// ue4m3_to_f32, f32_to_nf4, nf4_to_f32, kNF4Levels.

}  // namespace qlab::formats

#include "engine/formats/scalar_fast.h"
