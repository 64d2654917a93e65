#pragma once
// Four-lane vectors for the block formats' fast paths, written with the GCC/Clang vector
// extension (generic: SSE2 on x86_64, NEON on aarch64, plain code elsewhere; no intrinsics).
//   f4 / i4 / u2        4 x float, 4 x int32, 2 x uint64 in one 16-byte register
//   load_pairs16        16 floats of a block in "pair order", which makes nibble packing cheap
//   amax_bits16         the block's max |x| as float bits (NaN / inf compare largest)
//   e2m1_code4          E2M1 RNE codes of 4 magnitudes by seven compares
//   pack_pairs16        16 four-bit codes in pair order -> 8 bytes, even element in the low nibble
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

}  // namespace qlab::formats::simd
