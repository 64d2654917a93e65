#pragma once
// float32 <-> IEEE half and bfloat16, bit-exact to ggml's portable conversions:
//   fp32_to_fp16   round to nearest, ties to even; overflow (|x| >= 65520) -> inf; NaN -> 0x7E00 with
//                  the sign kept (payload dropped), as ggml's software path does
//   fp16_to_fp32   exact; a NaN comes back quiet with its payload (what ggml's arithmetic path gives)
//   fp32_to_bf16   round to nearest, ties to even on the dropped 16 bits; NaN -> its top half with
//                  the quiet bit set (ggml_compute_fp32_to_bf16)
//   bf16_to_fp32   the bits shifted up
// Source: ggml-impl.h (ggml_compute_fp32_to_fp16 and friends), re-derived from IEEE 754 rounding.
#include <bit>
#include <cstdint>

namespace qlab::gguf {

constexpr std::uint16_t fp32_to_fp16(float f) {
  const std::uint32_t w = std::bit_cast<std::uint32_t>(f);
  const std::uint32_t sign = (w >> 16) & 0x8000u;
  const std::uint32_t a = w & 0x7FFFFFFFu;
  if (a > 0x7F800000u) return static_cast<std::uint16_t>(sign | 0x7E00u);  // NaN
  if (a >= 0x477FF000u) return static_cast<std::uint16_t>(sign | 0x7C00u); // >= 65520 (a tie that goes up) and inf
  std::uint32_t q, rem, half;
  if (a >= 0x38800000u) {  // normal half: rebias the exponent (127 -> 15), keep 10 of 23 mantissa bits
    const std::uint32_t r = a - (112u << 23);
    q = r >> 13;
    rem = r & 0x1FFFu;
    half = 0x1000u;
  } else {                 // subnormal half (or zero): units of 2^-24
    const std::uint32_t e = a >> 23;
    if (e < 102) return static_cast<std::uint16_t>(sign);  // below 2^-25: rounds to zero
    const std::uint32_t m = (a & 0x7FFFFFu) | 0x800000u;
    const std::uint32_t shift = 126u - e;  // 14 .. 24
    q = m >> shift;
    rem = m & ((1u << shift) - 1u);
    half = 1u << (shift - 1u);
  }
  if (rem > half || (rem == half && (q & 1u))) ++q;  // a carry may move into the exponent: still right
  return static_cast<std::uint16_t>(sign | q);
}

constexpr float fp16_to_fp32(std::uint16_t h) {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  const std::uint32_t exp = (h >> 10) & 0x1Fu;
  std::uint32_t mant = h & 0x3FFu;
  if (exp == 0x1F) return std::bit_cast<float>(sign | 0x7F800000u | (mant << 13) | (mant ? 0x400000u : 0u));
  if (exp != 0) return std::bit_cast<float>(sign | ((exp + 112u) << 23) | (mant << 13));
  if (mant == 0) return std::bit_cast<float>(sign);
  int e = 113;  // normalise the subnormal: value = mant * 2^-24
  while (!(mant & 0x400u)) {
    mant <<= 1;
    --e;
  }
  return std::bit_cast<float>(sign | (static_cast<std::uint32_t>(e) << 23) | ((mant & 0x3FFu) << 13));
}

constexpr std::uint16_t fp32_to_bf16(float f) {
  const std::uint32_t u = std::bit_cast<std::uint32_t>(f);
  if ((u & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<std::uint16_t>((u >> 16) | 64u);
  return static_cast<std::uint16_t>((u + (0x7FFFu + ((u >> 16) & 1u))) >> 16);
}

constexpr float bf16_to_fp32(std::uint16_t b) { return std::bit_cast<float>(static_cast<std::uint32_t>(b) << 16); }

}  // namespace qlab::gguf
