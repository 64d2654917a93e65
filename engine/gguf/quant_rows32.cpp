// Runs of legacy blocks, vectorized. The reference rules are quant_legacy.cpp's (its header comment
// says them); here a block's 32 values sit in four eight-float vectors (elements 8i .. 8i+7 in v[i]),
// and each value goes through the same float operations in the same order -- x * (1/d), then the
// bias added, truncated toward zero; no contraction, as the gguf library builds with
// -ffp-contract=off -- so every code is the reference's. What differs is only how the block's
// extreme value is found (a vector max, then the first element equal to it), which picks the same
// element wherever the values are finite and the extreme is not a zero (a zero's sign reaches the
// stored bytes, and -0 == +0): those blocks, and blocks whose scale or inverse scale is not finite,
// go through the one-block reference.
//
// Byte order of a block: element j in the low nibble of qs[j] and element j + 16 in the high one, so
// bytes 0..7 pair v[0] with v[2] and bytes 8..15 pair v[1] with v[3]; Q5's 5th bits go to bit j of qh.
#include "engine/gguf/quant_rows32.h"

#include <cmath>
#include <cstring>

#include "engine/formats/block_simd.h"
#include "engine/gguf/blocks.h"
#include "engine/gguf/half.h"
#include "engine/gguf/quant_lanes.h"
#include "engine/gguf/quant_legacy.h"
#include "engine/gguf/quant_mxfp4.h"
#include "engine/gguf/quant_search.h"

namespace qlab::gguf {

namespace {

using formats::simd::abs_bits8;
using formats::simd::f8;
using formats::simd::hmax8;
using formats::simd::i8v;
using formats::simd::load8;
using formats::simd::max8;
using formats::simd::splat8;
using detail::lanes::splat_int;
using u8x8 = std::uint8_t __attribute__((vector_size(8)));
using s8x8 = std::int8_t __attribute__((vector_size(8)));
using u16x8 = std::uint16_t __attribute__((vector_size(16)));

constexpr int kQK = 32;

QLAB_SIMD_INLINE i8v iota(std::int32_t b) { return i8v{b, b + 1, b + 2, b + 3, b + 4, b + 5, b + 6, b + 7}; }
QLAB_SIMD_INLINE i8v min_i(const i8v& a, const i8v& b) { return a < b ? a : b; }
QLAB_SIMD_INLINE f8 min_f(const f8& a, const f8& b) { return a < b ? a : b; }
QLAB_SIMD_INLINE f8 max_f(const f8& a, const f8& b) { return a > b ? a : b; }

QLAB_SIMD_INLINE std::int32_t hmin_i(const i8v& m) {
  const i8v h = min_i(m, __builtin_shufflevector(m, m, 4, 5, 6, 7, 0, 1, 2, 3));
  const i8v q = min_i(h, __builtin_shufflevector(h, h, 2, 3, 0, 1, 2, 3, 0, 1));
  return q[0] < q[1] ? q[0] : q[1];
}
QLAB_SIMD_INLINE float hmin_f(const f8& m) {
  const f8 h = min_f(m, __builtin_shufflevector(m, m, 4, 5, 6, 7, 0, 1, 2, 3));
  const f8 q = min_f(h, __builtin_shufflevector(h, h, 2, 3, 0, 1, 2, 3, 0, 1));
  return q[0] < q[1] ? q[0] : q[1];
}
QLAB_SIMD_INLINE float hmax_f(const f8& m) {
  const f8 h = max_f(m, __builtin_shufflevector(m, m, 4, 5, 6, 7, 0, 1, 2, 3));
  const f8 q = max_f(h, __builtin_shufflevector(h, h, 2, 3, 0, 1, 2, 3, 0, 1));
  return q[0] > q[1] ? q[0] : q[1];
}
QLAB_SIMD_INLINE std::uint32_t hor(const i8v& m) {
  const i8v h = m | __builtin_shufflevector(m, m, 4, 5, 6, 7, 0, 1, 2, 3);
  const i8v q = h | __builtin_shufflevector(h, h, 2, 3, 0, 1, 2, 3, 0, 1);
  return static_cast<std::uint32_t>(q[0] | q[1]);
}

QLAB_SIMD_INLINE void load32(const float* x, f8 v[4]) {
  for (int i = 0; i < 4; ++i) load8(x + 8 * i, v[i]);
}

// The element of largest |x| with its sign, the first of equals (quant_legacy's signed_absmax);
// false when that magnitude is zero (the reference then keeps +0, and -0 == +0 would let a vector
// pick either).
QLAB_SIMD_INLINE bool signed_absmax32(const float* x, const f8 v[4], float* out) {
  const i8v a0 = abs_bits8(v[0]), a1 = abs_bits8(v[1]), a2 = abs_bits8(v[2]), a3 = abs_bits8(v[3]);
  const std::uint32_t amax = hmax8(max8(max8(a0, a1), max8(a2, a3)));
  if (amax == 0) return false;
  const i8v t = splat_int(static_cast<std::int32_t>(amax)), none = splat_int(kQK);
  const i8v first = min_i(min_i(a0 == t ? iota(0) : none, a1 == t ? iota(8) : none),
                          min_i(a2 == t ? iota(16) : none, a3 == t ? iota(24) : none));
  *out = x[hmin_i(first)];
  return true;
}

// trunc(v * id + bias) per lane (the reference's (int)(x * id + bias), two roundings).
QLAB_SIMD_INLINE i8v trunc_codes(const f8& v, float id, float bias) {
  return __builtin_convertvector(v * splat8(id) + splat8(bias), i8v);
}
QLAB_SIMD_INLINE i8v cap(const i8v& c, std::int32_t hi) { return min_i(c, splat_int(hi)); }

// Four-bit codes (0..15 in each lane) to the 16 bytes of qs.
QLAB_SIMD_INLINE void pack_nibbles32(const i8v c[4], std::uint8_t* qs) {
  const u8x8 lo = __builtin_convertvector((c[0] & 0x0F) | ((c[2] & 0x0F) << 4), u8x8);
  const u8x8 hi = __builtin_convertvector((c[1] & 0x0F) | ((c[3] & 0x0F) << 4), u8x8);
  std::memcpy(qs, &lo, 8);
  std::memcpy(qs + 8, &hi, 8);
}

// Five-bit codes: low nibbles as above, 5th bit of element j to bit j of qh (little-endian u32).
QLAB_SIMD_INLINE void pack_5bit32(const i8v c[4], std::uint8_t* qs, std::uint8_t* qh) {
  pack_nibbles32(c, qs);
  const std::uint32_t h = hor((((c[0] >> 4) & 1) << iota(0)) | (((c[1] >> 4) & 1) << iota(8)) |
                              (((c[2] >> 4) & 1) << iota(16)) | (((c[3] >> 4) & 1) << iota(24)));
  std::memcpy(qh, &h, 4);
}

template <typename Block>
void put(std::byte*& dst, const Block& b) {
  std::memcpy(dst, &b, sizeof b);
  dst += sizeof b;
}

// ---- one block, vectorized; false = use the reference -------------------------------------------

QLAB_SIMD_INLINE bool q_0_block(const float* x, float divisor, float bias, std::int32_t hi, float* d_out, i8v c[4]) {
  f8 v[4];
  load32(x, v);
  float max;
  if (!signed_absmax32(x, v, &max)) return false;
  const float d = max / divisor;
  const float id = 1.0f / d;  // d != 0 here
  if (!std::isfinite(id)) return false;
  for (int i = 0; i < 4; ++i) c[i] = cap(trunc_codes(v[i], id, bias), hi);
  *d_out = d;
  return true;
}

QLAB_SIMD_INLINE bool q_1_block(const float* x, float divisor, float* d_out, float* m_out, i8v c[4], bool capped) {
  f8 v[4];
  load32(x, v);
  const float mn = hmin_f(min_f(min_f(v[0], v[1]), min_f(v[2], v[3])));
  const float mx = hmax_f(max_f(max_f(v[0], v[1]), max_f(v[2], v[3])));
  if (mn == 0.0f || mx == 0.0f) return false;
  const float d = (mx - mn) / divisor;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  if (!std::isfinite(d) || !std::isfinite(id)) return false;
  const f8 m = splat8(mn);
  for (int i = 0; i < 4; ++i) {
    c[i] = trunc_codes(v[i] - m, id, 0.5f);
    if (capped) c[i] = cap(c[i], 15);
  }
  *d_out = d;
  *m_out = mn;
  return true;
}

}  // namespace

// ---- reference rules, vectorized ------------------------------------------------------------------

namespace {

template <int Bits, typename Block>
QLAB_SIMD_INLINE void pack_codes(const i8v c[4], Block& out) {
  if constexpr (Bits == 4) pack_nibbles32(c, out.qs);
  else pack_5bit32(c, out.qs, out.qh);
}

// Q4_0 / Q5_0: d = the extreme element / -2^(Bits-1), codes trunc(x / d + 2^(Bits-1) + 0.5) capped.
template <int Bits, typename Block>
QLAB_SIMD_INLINE void scale_only_blocks(const float* x, std::int64_t nblocks, std::byte* dst,
                                        void (*reference)(const float*, Block&)) {
  constexpr float kHalfRange = 1 << (Bits - 1);
  for (std::int64_t b = 0; b < nblocks; ++b, x += kQK) {
    Block out;
    i8v c[4];
    float d;
    if (q_0_block(x, -kHalfRange, kHalfRange + 0.5f, (1 << Bits) - 1, &d, c)) {
      out.d = fp32_to_fp16(d);
      pack_codes<Bits>(c, out);
    } else {
      reference(x, out);
    }
    put(dst, out);
  }
}

// Q4_1 / Q5_1: d = (max - min) / (2^Bits - 1), m = min, codes trunc((x - min) / d + 0.5); Q4_1 caps
// them at 15, Q5_1 does not (the reference has no cap there).
template <int Bits, typename Block>
QLAB_SIMD_INLINE void scale_min_blocks(const float* x, std::int64_t nblocks, std::byte* dst,
                                       void (*reference)(const float*, Block&)) {
  for (std::int64_t b = 0; b < nblocks; ++b, x += kQK) {
    Block out;
    i8v c[4];
    float d, m;
    if (q_1_block(x, (1 << Bits) - 1, &d, &m, c, Bits == 4)) {
      out.d = fp32_to_fp16(d);
      out.m = fp32_to_fp16(m);
      pack_codes<Bits>(c, out);
    } else {
      reference(x, out);
    }
    put(dst, out);
  }
}

}  // namespace

QLAB_SIMD_KERNEL
void quantize_q4_0_ref_blocks(const float* x, std::int64_t nblocks, std::byte* dst) {
  scale_only_blocks<4, BlockQ4_0>(x, nblocks, dst, quantize_q4_0_ref);
}
QLAB_SIMD_KERNEL
void quantize_q5_0_ref_blocks(const float* x, std::int64_t nblocks, std::byte* dst) {
  scale_only_blocks<5, BlockQ5_0>(x, nblocks, dst, quantize_q5_0_ref);
}
QLAB_SIMD_KERNEL
void quantize_q4_1_ref_blocks(const float* x, std::int64_t nblocks, std::byte* dst) {
  scale_min_blocks<4, BlockQ4_1>(x, nblocks, dst, quantize_q4_1_ref);
}
QLAB_SIMD_KERNEL
void quantize_q5_1_ref_blocks(const float* x, std::int64_t nblocks, std::byte* dst) {
  scale_min_blocks<5, BlockQ5_1>(x, nblocks, dst, quantize_q5_1_ref);
}

// Q8_0 rounds half away from zero (roundf): truncate, then step outward where the exact remainder
// v - trunc(v) reaches +-0.5.
QLAB_SIMD_KERNEL
void quantize_q8_0_ref_blocks(const float* x, std::int64_t nblocks, std::byte* dst) {
  for (std::int64_t b = 0; b < nblocks; ++b, x += kQK) {
    BlockQ8_0 out;
    f8 v[4];
    load32(x, v);
    const std::uint32_t amax_bits =
        hmax8(max8(max8(abs_bits8(v[0]), abs_bits8(v[1])), max8(abs_bits8(v[2]), abs_bits8(v[3]))));
    float amax;
    std::memcpy(&amax, &amax_bits, 4);
    const float d = amax / 127;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    if (!std::isfinite(id)) {
      quantize_q8_0_ref(x, out);
      put(dst, out);
      continue;
    }
    out.d = fp32_to_fp16(d);
    for (int i = 0; i < 4; ++i) {
      const f8 s = v[i] * splat8(id);
      const i8v t = __builtin_convertvector(s, i8v);
      const f8 rem = s - __builtin_convertvector(t, f8);
      const i8v q = t - (rem >= 0.5f) + (rem <= -0.5f);  // a true compare is -1
      const s8x8 bytes = __builtin_convertvector(q, s8x8);
      std::memcpy(out.qs + 8 * i, &bytes, 8);
    }
    put(dst, out);
  }
}

// MXFP4: the block's exponent as the reference computes it, then each value's nearest code among the
// sixteen (|code * d - x|, the first of equals kept: strict <), eight values per vector.
QLAB_SIMD_KERNEL
void quantize_mxfp4_blocks(const float* x, std::int64_t nblocks, std::byte* dst) {
  f8 kv[16];  // the code values (doubled, as ggml keeps them) and the codes, broadcast once
  i8v ki[16];
  for (int k = 0; k < 16; ++k) {
    kv[k] = splat8(static_cast<float>(kMxfp4Doubled[k]));
    ki[k] = splat_int(k);
  }
  for (std::int64_t b = 0; b < nblocks; ++b, x += kQK) {
    BlockMXFP4 out;
    f8 v[4];
    load32(x, v);
    const std::uint32_t amax_bits =
        hmax8(max8(max8(abs_bits8(v[0]), abs_bits8(v[1])), max8(abs_bits8(v[2]), abs_bits8(v[3]))));
    float amax;
    std::memcpy(&amax, &amax_bits, 4);
    out.e = mxfp4_exponent(amax);
    const f8 d = splat8(e8m0_half(out.e));
    // Code by code over the four vectors (four independent chains of compares).
    i8v c[4];
    f8 best_err[4];
    for (int i = 0; i < 4; ++i) {
      c[i] = splat_int(0);
      best_err[i] = (f8)abs_bits8(kv[0] * d - v[i]);
    }
    for (int k = 1; k < 16; ++k) {
      const f8 kd = kv[k] * d;
      for (int i = 0; i < 4; ++i) {
        const f8 err = (f8)abs_bits8(kd - v[i]);
        const i8v better = err < best_err[i];
        c[i] = better ? ki[k] : c[i];
        best_err[i] = better ? err : best_err[i];
      }
    }
    pack_nibbles32(c, out.qs);
    put(dst, out);
  }
}

// fp16 by integer rounding of the float's bits, half.h's fp32_to_fp16 lane by lane: a normal half
// keeps 10 of the 23 mantissa bits of the rebiased value, a subnormal one the top bits of the
// mantissa shifted by the exponent (clamped to 31, which leaves 0 and no round-up below 2^-25); then
// round to nearest even, and inf (|x| >= 65520) or NaN (the reference's 0x7E00) last.
QLAB_SIMD_KERNEL
void fp32_to_fp16_row(const float* x, std::int64_t n, std::byte* dst) {
  std::int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    i8v w;
    std::memcpy(&w, x + i, 32);
    const i8v sign = (w >> 16) & 0x8000, a = w & 0x7FFFFFFF;
    const i8v r = a - (112 << 23);
    i8v shift = 126 - (a >> 23);
    shift = shift < 1 ? splat_int(1) : shift;
    shift = shift > 31 ? splat_int(31) : shift;
    const i8v m = (a & 0x7FFFFF) | 0x800000;
    const i8v normal = a >= 0x38800000;
    i8v q = normal ? r >> 13 : m >> shift;
    const i8v rem = normal ? r & 0x1FFF : m & ((splat_int(1) << shift) - 1);
    const i8v half = normal ? splat_int(0x1000) : splat_int(1) << (shift - 1);
    q -= (rem > half) | ((rem == half) & ((q & 1) != 0));  // a true compare is -1
    i8v h = sign | q;
    h = a >= 0x477FF000 ? (sign | 0x7C00) : h;
    h = a > 0x7F800000 ? (sign | 0x7E00) : h;
    const u16x8 bits = __builtin_convertvector(h, u16x8);
    std::memcpy(dst + 2 * i, &bits, 16);
  }
  for (; i < n; ++i) {
    const std::uint16_t h = fp32_to_fp16(x[i]);
    std::memcpy(dst + 2 * i, &h, 2);
  }
}

// ---- importance-weighted rows: eight blocks per search ----------------------------------------------

namespace {

constexpr int kGroups = 8;

// The searches' codes as the packers take them: int8 codes 0..31 are the same bytes as uint8.
const std::uint8_t* codes(const std::int8_t* L) { return reinterpret_cast<const std::uint8_t*>(L); }
const std::uint8_t* codes(const std::uint8_t* L) { return L; }

// Symmetric types: codes L (0..2 nmax - 1) and a scale per block; `emit` writes a block.
template <typename Emit, typename One>
void symmetric_row(const float* x, const float* qw, std::int64_t cols, int nmax, std::byte* dst, Emit emit, One one) {
  const float sigma2 = row_sigma2(x, cols);
  const std::int64_t nb = cols / kQK;
  std::int64_t b = 0;
  for (; b + kGroups <= nb; b += kGroups) {
    float w[kGroups * kQK], scales[kGroups];
    std::int8_t L[kGroups * kQK];
    importance_weights(x + b * kQK, qw + b * kQK, sigma2, kGroups * kQK, w);
    detail::search_symmetric_x8(kQK, nmax, x + b * kQK, L, w, scales);
    for (int g = 0; g < kGroups; ++g) emit(L + g * kQK, scales[g], dst);
  }
  for (; b < nb; ++b) one(x + b * kQK, qw + b * kQK, sigma2, dst);
}

template <typename Emit, typename One>
void asymmetric_row(const float* x, const float* qw, std::int64_t cols, int nmax, std::byte* dst, Emit emit, One one) {
  const float sigma2 = row_sigma2(x, cols);
  const std::int64_t nb = cols / kQK;
  std::int64_t b = 0;
  for (; b + kGroups <= nb; b += kGroups) {
    float w[kGroups * kQK], scales[kGroups], neg_min[kGroups];
    std::uint8_t L[kGroups * kQK];
    importance_weights(x + b * kQK, qw + b * kQK, sigma2, kGroups * kQK, w);
    // quant_legacy's quantize_q{4,5}_1_weighted parameters
    detail::search_asymmetric_x8(kQK, nmax, x + b * kQK, w, L, neg_min, scales, -0.9f, 0.05f, 36, false, true);
    for (int g = 0; g < kGroups; ++g) emit(L + g * kQK, scales[g], neg_min[g], dst);
  }
  for (; b < nb; ++b) one(x + b * kQK, qw + b * kQK, sigma2, dst);
}

template <typename Block, typename Fn>
auto one_block(Fn fn) {
  return [fn](const float* x, const float* qw, float sigma2, std::byte*& dst) {
    Block out;
    fn(x, qw, sigma2, out);
    put(dst, out);
  };
}

}  // namespace

void quantize_q4_0_weighted_row(const float* x, const float* qw, std::int64_t cols, std::byte* dst) {
  symmetric_row(x, qw, cols, 8, dst, [](const std::int8_t* L, float d, std::byte*& out) {
    BlockQ4_0 b;
    b.d = fp32_to_fp16(d);
    pack_nibbles(codes(L), b.qs);
    put(out, b);
  }, one_block<BlockQ4_0>(quantize_q4_0_weighted));
}

void quantize_q5_0_weighted_row(const float* x, const float* qw, std::int64_t cols, std::byte* dst) {
  symmetric_row(x, qw, cols, 16, dst, [](const std::int8_t* L, float d, std::byte*& out) {
    BlockQ5_0 b;
    b.d = fp32_to_fp16(d);
    pack_5bit(codes(L), b.qs, b.qh);
    put(out, b);
  }, one_block<BlockQ5_0>(quantize_q5_0_weighted));
}

void quantize_q4_1_weighted_row(const float* x, const float* qw, std::int64_t cols, std::byte* dst) {
  asymmetric_row(x, qw, cols, 15, dst, [](const std::uint8_t* L, float d, float neg_min, std::byte*& out) {
    BlockQ4_1 b;
    b.d = fp32_to_fp16(d);
    b.m = fp32_to_fp16(-neg_min);
    pack_nibbles(codes(L), b.qs);
    put(out, b);
  }, one_block<BlockQ4_1>(quantize_q4_1_weighted));
}

void quantize_q5_1_weighted_row(const float* x, const float* qw, std::int64_t cols, std::byte* dst) {
  asymmetric_row(x, qw, cols, 31, dst, [](const std::uint8_t* L, float d, float neg_min, std::byte*& out) {
    BlockQ5_1 b;
    b.d = fp32_to_fp16(d);
    b.m = fp32_to_fp16(-neg_min);
    pack_5bit(codes(L), b.qs, b.qh);
    put(out, b);
  }, one_block<BlockQ5_1>(quantize_q5_1_weighted));
}

}  // namespace qlab::gguf
