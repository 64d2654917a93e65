#pragma once
// Four- and eight-lane vectors for the block formats' fast paths, written with the GCC/Clang vector
// extension (generic: SSE2 on x86_64, NEON on aarch64, plain code elsewhere; no intrinsics).
//   f4 / i4 / u2        4 x float, 4 x int32, 2 x uint64 in one 16-byte register
//   load_pairs16        16 floats of a block in "pair order", which makes nibble packing cheap
//   amax_bits16         the block's max |x| as float bits (NaN / inf compare largest)
//   e2m1_code4          E2M1 RNE codes of 4 magnitudes by seven compares
//   pack_pairs16        16 four-bit codes in pair order -> 8 bytes, even element in the low nibble
//   f8 / i8v / u4       the same eight lanes wide: two registers on SSE2 / NEON, one on AVX2
//   load8 / load_pairs32 / pack_pairs32   32 elements in pair order (four contiguous loads and a
//                       transpose) -> 16 bytes
//   splat8, abs_bits8, max8, hmax8   broadcast, |x| as bits, lane-wise and horizontal max
//   e2m1_mag8           E2M1 code of q >= 0 by integer rounding of its bits (f32_to_e2m1_sat's formula)
//   e2m1_code8_from     E2M1 code from |x| bits and per-lane thresholds (the first |x| of each code)
#include <bit>
#include <cstdint>
#include <cstring>

// The row kernels that use these get a second copy built for AVX2 on x86_64 (picked at load time
// by the dynamic linker; same code, so same results): three-operand VEX forms and SSE4.1 integer
// max/blend remove most of the register copies SSE2 needs. Elsewhere they build once.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(QLAB_NO_TARGET_CLONES)
#define QLAB_SIMD_KERNEL __attribute__((target_clones("avx2", "default")))
#else
#define QLAB_SIMD_KERNEL
#endif

namespace qlab::formats::simd {

static_assert(std::endian::native == std::endian::little, "the packed layouts assume a little-endian host");

using f4 = float __attribute__((vector_size(16)));
using i4 = std::int32_t __attribute__((vector_size(16)));
using u2 = std::uint64_t __attribute__((vector_size(16)));

// Pair order: vector j holds elements 2j, 2j+1, 8+2j, 9+2j of the 16 (two 8-byte loads). After
// coding, the 64-bit lanes then hold (code[2j], code[2j+1]) and (code[8+2j], code[9+2j]).
inline void load_pairs16(const float* w, f4 v[4]) {
  for (int j = 0; j < 4; ++j) {
    std::uint64_t lo, hi;
    std::memcpy(&lo, w + 2 * j, 8);
    std::memcpy(&hi, w + 8 + 2 * j, 8);
    u2 t = {lo, hi};
    v[j] = (f4)t;  // same-size vector cast: a bit cast
  }
}

inline i4 abs_bits(f4 v) { return (i4)v & 0x7FFFFFFF; }
inline f4 abs4(f4 v) {
  return (f4)abs_bits(v);
}
inline i4 max4(i4 a, i4 b) { return a > b ? a : b; }
inline std::uint32_t hmax(i4 m) {
  std::int32_t a = m[0] > m[1] ? m[0] : m[1], b = m[2] > m[3] ? m[2] : m[3];
  return static_cast<std::uint32_t>(a > b ? a : b);
}

inline std::uint32_t amax_bits16(const f4 v[4]) {
  return hmax(max4(max4(abs_bits(v[0]), abs_bits(v[1])), max4(abs_bits(v[2]), abs_bits(v[3]))));
}

// Magnitude code 0..7: ties at 0.25, 1.25, 2.5, 5 go down, at 0.75, 1.75, 3.5 up (to the even code).
inline i4 e2m1_code4(f4 a) {
  i4 s = (a > 0.25f) + (a >= 0.75f) + (a > 1.25f) + (a >= 1.75f) + (a > 2.5f) + (a >= 3.5f) + (a > 5.0f);
  return -s;  // each true compare is -1
}

inline void pack_pairs16(const i4 c[4], std::uint8_t* out) {
  u2 q = {0, 0};
  for (int j = 0; j < 4; ++j) {
    u2 p = (u2)c[j];
    p = (p | (p >> 28)) & 0xFF;
    q |= p << (8 * j);
  }
  std::uint32_t lo = static_cast<std::uint32_t>(q[0]), hi = static_cast<std::uint32_t>(q[1]);
  std::memcpy(out, &lo, 4);
  std::memcpy(out + 4, &hi, 4);
}

// ---- eight lanes ----------------------------------------------------------------------------
// Helpers are always inlined, so no 32-byte vector crosses a call (whose ABI would differ between
// the AVX2 and the default build). GCC and Clang still warn about such signatures and expressions, so the
// warning is off for the files that include this header (the block-format kernels only).
#define QLAB_SIMD_INLINE [[gnu::always_inline]] inline
#if defined(__clang__)
#if __has_warning("-Wpsabi")
#pragma clang diagnostic ignored "-Wpsabi"
#endif
#elif defined(__GNUC__)
#pragma GCC diagnostic ignored "-Wpsabi"
#endif

using f8 = float __attribute__((vector_size(32)));
using i8v = std::int32_t __attribute__((vector_size(32)));
using u4 = std::uint64_t __attribute__((vector_size(32)));

QLAB_SIMD_INLINE void load8(const float* p, f8& v) { std::memcpy(&v, p, 32); }
QLAB_SIMD_INLINE f8 splat8(float x) { return f8{x, x, x, x, x, x, x, x}; }

// Pair order over 32 elements: vector j holds pairs (2j, 2j+1) of each group of eight, i.e.
// elements 2j, 2j+1, 8+2j, 9+2j, 16+2j, 17+2j, 24+2j, 25+2j. Contiguous loads hold the 64-bit
// pairs P[4m .. 4m+3]; the pair order is their 4 x 4 transpose.
QLAB_SIMD_INLINE void load_pairs32(const float* w, f8 v[4]) {
  u4 c0, c1, c2, c3;
  std::memcpy(&c0, w, 32);
  std::memcpy(&c1, w + 8, 32);
  std::memcpy(&c2, w + 16, 32);
  std::memcpy(&c3, w + 24, 32);
  const u4 t0 = __builtin_shufflevector(c0, c1, 0, 4, 2, 6), t1 = __builtin_shufflevector(c0, c1, 1, 5, 3, 7);
  const u4 t2 = __builtin_shufflevector(c2, c3, 0, 4, 2, 6), t3 = __builtin_shufflevector(c2, c3, 1, 5, 3, 7);
  v[0] = (f8)__builtin_shufflevector(t0, t2, 0, 1, 4, 5);
  v[1] = (f8)__builtin_shufflevector(t1, t3, 0, 1, 4, 5);
  v[2] = (f8)__builtin_shufflevector(t0, t2, 2, 3, 6, 7);
  v[3] = (f8)__builtin_shufflevector(t1, t3, 2, 3, 6, 7);
}

QLAB_SIMD_INLINE i8v abs_bits8(const f8& v) { return (i8v)v & 0x7FFFFFFF; }
QLAB_SIMD_INLINE i8v max8(const i8v& a, const i8v& b) { return a > b ? a : b; }
QLAB_SIMD_INLINE std::uint32_t hmax8(const i8v& m) {
  const i8v h = max8(m, __builtin_shufflevector(m, m, 4, 5, 6, 7, 0, 1, 2, 3));
  const i8v q = max8(h, __builtin_shufflevector(h, h, 2, 3, 0, 1, 2, 3, 0, 1));
  return static_cast<std::uint32_t>(q[0] > q[1] ? q[0] : q[1]);
}

// E2M1 magnitude code of finite q >= 0 by f32_to_e2m1_sat's integer rounding (scalar_fast.h), the
// same formula lane by lane, so the same codes: clamp to 6, then round the mantissa to one bit
// (q >= 1) or add 2^22, whose ulp is E2M1's subnormal step 0.5 (q < 1). Ten operations where a
// seven-compare chain takes fifteen.
QLAB_SIMD_INLINE i8v e2m1_mag8(const f8& q) {
  const i8v u = (i8v)q;
  const i8v a = u < 0x40C00000 ? u : 0x40C00000;
  const i8v normal = (a + (0x1FFFFF - 0x3F000000) + ((a >> 22) & 1)) >> 22;
  const i8v sub = (i8v)((f8)a + 4194304.0f) - 0x4A800000;
  return a < 0x3F800000 ? sub : normal;
}

// Magnitude code = how many thresholds |x| reaches; above[i] holds (first |x| bits of code i+1) - 1,
// so one signed compare per threshold (|x| bits are non-negative, and so is every threshold).
QLAB_SIMD_INLINE i8v e2m1_code8_from(const i8v& abits, const i8v above[7]) {
  return -((abits > above[0]) + (abits > above[1]) + (abits > above[2]) + (abits > above[3]) +
           (abits > above[4]) + (abits > above[5]) + (abits > above[6]));
}

// Codes of 32 elements in pair order -> 16 bytes: each 64-bit lane of vector j gives the byte of
// its pair; lane k then gathers bytes 4k .. 4k+3 of the output in its low 32 bits.
QLAB_SIMD_INLINE void pack_pairs32(const i8v c[4], std::uint8_t* out) {
  u4 q = {0, 0, 0, 0};
  for (int j = 0; j < 4; ++j) {
    u4 p = (u4)c[j];
    p = (p | (p >> 28)) & 0xFF;
    q |= p << (8 * j);
  }
  const i8v w = (i8v)q;
  using i4x = std::int32_t __attribute__((vector_size(16)));
  const i4x lo = __builtin_shufflevector(w, w, 0, 2, 4, 6);
  std::memcpy(out, &lo, 16);
}

}  // namespace qlab::formats::simd
