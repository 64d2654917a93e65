#pragma once
// Eight-lane forms of the scalar helpers ggml's quantizers use (internal to engine/gguf), for the
// fast paths that must give their bytes bit for bit: each does lane by lane what its scalar
// counterpart in quant_search.h does.
//   splat, splat_int     broadcast a float / an int
//   nearest8             nearest_int: add 1.5 * 2^23, read the low mantissa bits
//   clamp8, to_float, abs8, pick (lane select by a compare's mask)
// Include after engine/formats/block_simd.h, inside no namespace.
#include "engine/formats/block_simd.h"

namespace qlab::gguf::detail::lanes {

using formats::simd::f8;
using formats::simd::i8v;

QLAB_SIMD_INLINE f8 splat(float v) { return f8{v, v, v, v, v, v, v, v}; }
QLAB_SIMD_INLINE i8v splat_int(int v) { return i8v{v, v, v, v, v, v, v, v}; }

QLAB_SIMD_INLINE i8v nearest8(f8 v) {
  const f8 shifted = v + splat(12582912.0f);
  return ((i8v)shifted & 0x007FFFFF) - 0x00400000;
}
QLAB_SIMD_INLINE i8v clamp8(i8v v, int lo, int hi) {
  const i8v l = splat_int(lo), h = splat_int(hi);
  v = v < l ? l : v;
  return v > h ? h : v;
}
QLAB_SIMD_INLINE f8 to_float(i8v v) { return __builtin_convertvector(v, f8); }
QLAB_SIMD_INLINE f8 abs8(f8 v) { return (f8)((i8v)v & 0x7FFFFFFF); }
QLAB_SIMD_INLINE f8 pick(i8v mask, f8 a, f8 b) { return mask ? a : b; }
QLAB_SIMD_INLINE i8v pick(i8v mask, i8v a, i8v b) { return mask ? a : b; }

}  // namespace qlab::gguf::detail::lanes
