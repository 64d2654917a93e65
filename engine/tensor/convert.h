#pragma once
// Half-precision storage to float32, whole arrays at a time. Branch-free bit manipulation so the
// loops vectorize on any target (no F16C / NEON intrinsics needed); bit-exact for every code,
// subnormals, infinities and NaN included.
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace qlab::tensor {

inline float bits_to_f32(std::uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
inline std::uint32_t f32_to_bits(float f) {
  std::uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

// bf16 is the top half of a float32.
inline void bf16_to_f32(const std::uint16_t* in, float* out, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) out[i] = bits_to_f32(static_cast<std::uint32_t>(in[i]) << 16);
}

// IEEE half: normals by re-biasing the exponent with one multiply (which also maps inf/NaN,
// because 0x1p-112 leaves exponent 255 intact after the +224 offset), subnormals via a magic add.
inline float f16_bits_to_f32(std::uint16_t h) {
  const std::uint32_t w = static_cast<std::uint32_t>(h) << 16;
  const std::uint32_t sign = w & 0x80000000u;
  const std::uint32_t two_w = w + w;
  const float normalized = bits_to_f32((two_w >> 4) + (0xE0u << 23)) * 0x1p-112f;
  const float denormalized = bits_to_f32((two_w >> 17) | (126u << 23)) - 0.5f;
  // Select with a mask from a signed compare (exponent field zero): SSE2 has no unsigned compare,
  // and a conditional stops the loops that call this from vectorizing there.
  const bool subnormal = static_cast<std::int32_t>(h & 0x7FFFu) < 0x400;
  const auto sub = static_cast<std::uint32_t>(-static_cast<std::int32_t>(subnormal));
  const std::uint32_t bits = (f32_to_bits(denormalized) & sub) | (f32_to_bits(normalized) & ~sub);
  return bits_to_f32(sign | bits);
}

inline void f16_to_f32(const std::uint16_t* in, float* out, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) out[i] = f16_bits_to_f32(in[i]);
}

}  // namespace qlab::tensor
