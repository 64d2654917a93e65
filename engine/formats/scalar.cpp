// encode / decode for every scalar format: a switch onto the fast paths (scalar_fast.h) and the
// parameterised codec (scalar_minifloat.h). The rules are written down in scalar.h.
#include "engine/formats/scalar.h"

#include <cmath>
#include <cstdint>

namespace qlab::formats {

namespace {

using detail::bitsf;
using detail::fbits;

// Clamp to [-m, m]; NaN passes through (both comparisons are false).
float clamp_abs(float x, float m) {
  if (x > m) return m;
  if (x < -m) return -m;
  return x;
}

std::int32_t round_int(float x, std::int32_t lo, std::int32_t hi) {
  if (std::isnan(x)) return 0;
  float c = x < static_cast<float>(lo) ? static_cast<float>(lo) : x;
  c = c > static_cast<float>(hi) ? static_cast<float>(hi) : c;
  return static_cast<std::int32_t>(std::nearbyint(c));  // default rounding mode: ties to even
}

constexpr float kF16Max = 65504.0f;
const float kBF16Max = bitsf(0x7F7F0000u);

}  // namespace

std::uint32_t encode(ScalarFormat f, float x, Saturation sat) {
  const bool s = sat == Saturation::Saturate;
  switch (f) {
    case ScalarFormat::F32:
      return fbits(s ? clamp_abs(x, bitsf(0x7F7FFFFFu)) : x);
    case ScalarFormat::F16:
      return f32_to_f16(s ? clamp_abs(x, kF16Max) : x);
    case ScalarFormat::BF16:
      return f32_to_bf16(s ? clamp_abs(x, kBF16Max) : x);
    case ScalarFormat::E4M3:
      return s ? f32_to_e4m3_sat(x) : detail::minifloat_encode(detail::kE4M3, x);
    case ScalarFormat::E5M2:
      return s ? f32_to_e5m2_sat(x) : detail::minifloat_encode(detail::kE5M2, x);
    case ScalarFormat::E2M1:
      return s ? f32_to_e2m1_sat(x) : detail::minifloat_encode(detail::kE2M1, x);
    case ScalarFormat::E8M0:
      return s ? detail::minifloat_encode_sat(detail::kE8M0, x) : detail::minifloat_encode(detail::kE8M0, x);
    case ScalarFormat::UE4M3:
      return f32_to_ue4m3(x);
    case ScalarFormat::INT8:
      return static_cast<std::uint32_t>(round_int(x, -128, 127)) & 0xFFu;
    case ScalarFormat::INT4:
      return static_cast<std::uint32_t>(round_int(x, -8, 7)) & 0xFu;
    case ScalarFormat::NF4:
      return f32_to_nf4(x);
  }
  return 0;
}

float decode(ScalarFormat f, std::uint32_t code) {
  switch (f) {
    case ScalarFormat::F32:
      return bitsf(code);
    case ScalarFormat::F16:
      return f16_to_f32(static_cast<std::uint16_t>(code));
    case ScalarFormat::BF16:
      return bf16_to_f32(static_cast<std::uint16_t>(code));
    case ScalarFormat::E4M3:
      return e4m3_to_f32(static_cast<std::uint8_t>(code));
    case ScalarFormat::E5M2:
      return e5m2_to_f32(static_cast<std::uint8_t>(code));
    case ScalarFormat::E2M1:
      return e2m1_to_f32(static_cast<std::uint8_t>(code & 0xFu));
    case ScalarFormat::E8M0:
      return e8m0_to_f32(static_cast<std::uint8_t>(code));
    case ScalarFormat::UE4M3:
      return ue4m3_to_f32(static_cast<std::uint8_t>(code));
    case ScalarFormat::INT8:
      return static_cast<float>(static_cast<std::int32_t>(code & 0xFFu) - static_cast<std::int32_t>((code & 0x80u) << 1));
    case ScalarFormat::INT4:
      return static_cast<float>(static_cast<std::int32_t>(code & 0xFu) - static_cast<std::int32_t>((code & 0x8u) << 1));
    case ScalarFormat::NF4:
      return nf4_to_f32(static_cast<std::uint8_t>(code & 0xFu));
  }
  return 0.0f;
}

bool is_nan_code(ScalarFormat f, std::uint32_t code) {
  switch (f) {
    case ScalarFormat::F32:
      return (code & 0x7FFFFFFFu) > 0x7F800000u;
    case ScalarFormat::F16:
      return detail::kF16.is_nan(code & 0xFFFFu);
    case ScalarFormat::BF16:
      return detail::kBF16.is_nan(code & 0xFFFFu);
    case ScalarFormat::E4M3:
      return detail::kE4M3.is_nan(code & 0xFFu);
    case ScalarFormat::E5M2:
      return detail::kE5M2.is_nan(code & 0xFFu);
    case ScalarFormat::E8M0:
      return (code & 0xFFu) == 0xFFu;
    default:
      return false;
  }
}

}  // namespace qlab::formats
