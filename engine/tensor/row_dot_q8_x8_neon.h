// What the x8 kernels (rows interleaved by 8, row_interleave.h) share on NEON with the Armv8.2 dot
// product: included by row_dot_q8_x8_neon.cpp (ggml's types) and row_dot_q8_x8_qlab_neon.cpp (qlab's
// formats) inside their namespace and an unnamed one, after <arm_neon.h>.
//   Sums8, Rows8      eight rows' int32 sums / float lanes, rows 0-3 then 4-7
//   XBlock, x_block   32 int8 activation codes as two registers (values 0-15, 16-31)
//   dot4, dot8        a 128-byte run of an x8 layout (or half of it) against 16 activation codes, by
//                     SDOT by element
//   nibble_dots       128 bytes of 4-bit codes (q4_0's x8 arrangement) against an XBlock
//   byte_dots         256 bytes of 8-bit codes (q8_0's x8 arrangement) against an XBlock
//   halves8, add_scaled   eight fp16 scales as floats; a block's sums times scale x dx into the lanes
//   x8_row_dot<Fmt>   the driver (row_dot_q8_x8_driver.h): groups of eight rows, block after block
//
// The layouts were made for AVX-512's 512-bit VPDPBUSD, where 4-byte lane k of a 64-byte vector holds 4
// codes of row k % 8 and the activations are repeated to match. Cut into 16-byte registers, the same
// bytes are what NEON's SDOT by element wants: each register holds 4 codes of each of 4 rows, all of
// them meeting the same 4 activation codes, which SDOT takes from one 32-bit lane of the activation
// register (vdotq_laneq_s32), so the activations are never repeated or shuffled. In every 128-byte run
// (q4_0's codes, each half of q8_0's, each run of the K-quants' 32-byte arrangement), register
// 2i + q holds rows 4q .. 4q + 3 and meets activation dword i (dot8).
// Every sum here is an exact int32. A block's float work per four rows is one conversion, one scale
// product and one fused multiply-add, as in the row-at-a-time kernels (row_dot_q8_impl.h), so a row's
// result differs from theirs only in the order of its float accumulation.

struct Sums8 {
  int32x4_t v[2];  // rows 0-3, rows 4-7
};
struct Rows8 {
  float32x4_t v[2];
};
inline Sums8 splat8(std::int32_t s) { return {{vdupq_n_s32(s), vdupq_n_s32(s)}}; }

struct XBlock {
  int8x16_t v[2];  // activation codes 0-15, 16-31
};
inline XBlock x_block(const std::int8_t* xq) { return {{vld1q_s8(xq), vld1q_s8(xq + 16)}}; }
// Sum of the activation codes of 32-block b.
inline int xsum32(const RowDotArgs& a, std::int64_t b) { return a.xs[2 * b] + a.xs[2 * b + 1]; }
// 32-block b of the activations for weight codes stored with a constant offset (q4_0's 8, 2 x E2M1's
// 12; 0 for none): the codes, -Offset times their sum in every lane (the rows' sums start there, so
// the offset costs the rows nothing), the scale. Made once per block for every group of rows.
struct X32 {
  XBlock x;
  int32x4_t off;
  float dx;
};
template <int Offset>
inline X32 x32(const RowDotArgs& a, std::int64_t b) {
  return {x_block(a.xq + 32 * b), vdupq_n_s32(-Offset * xsum32(a, b)), a.xd[b]};
}

// A 128-byte run as eight registers c (register 2i + q: 4 codes of each of rows 4q .. 4q + 3, those
// that meet activation dword i of x) added to s; dot4<H> takes registers 4H .. 4H + 3 of it alone.
template <int H>
inline void dot4(Sums8& s, const int8x16_t* c, int8x16_t x) {
  for (int q = 0; q < 2; ++q) {
    s.v[q] = vdotq_laneq_s32(s.v[q], c[q], x, 2 * H);
    s.v[q] = vdotq_laneq_s32(s.v[q], c[2 + q], x, 2 * H + 1);
  }
}
inline void dot8(Sums8& s, const int8x16_t* c, int8x16_t x) {
  dot4<0>(s, c, x);
  dot4<1>(s, c + 4, x);
}

// 128 bytes of 4-bit codes of eight rows at p (q4_0's x8 arrangement: value j of a row in the low
// nibble for j < 16, the high one of the same byte for j + 16) against x: values 0-15 added to lo,
// 16-31 to hi (lo and hi may be the same object: one sum of all 32 values). Table: each code first
// becomes table's byte at that index (TBL), for codes that are not their own value (FP4's E2M1).
template <bool Table>
inline void nibble_dots(const std::uint8_t* p, const XBlock& x, uint8x16_t table, Sums8& lo, Sums8& hi) {
  const uint8x16_t low4 = vdupq_n_u8(15);
  for (int half = 0; half < 2; ++half) {  // registers 4 half .. 4 half + 3 (dot4<half>)
    const uint8x16x4_t z = vld1q_u8_x4(p + 64 * half);
    int8x16_t l[4], h[4];
    for (int k = 0; k < 4; ++k) {
      uint8x16_t a = vandq_u8(z.val[k], low4), b = vshrq_n_u8(z.val[k], 4);
      if constexpr (Table) {
        a = vqtbl1q_u8(table, a);
        b = vqtbl1q_u8(table, b);
      }
      l[k] = vreinterpretq_s8_u8(a);
      h[k] = vreinterpretq_s8_u8(b);
    }
    if (half == 0) {
      dot4<0>(lo, l, x.v[0]);
      dot4<0>(hi, h, x.v[1]);
    } else {
      dot4<1>(lo, l, x.v[0]);
      dot4<1>(hi, h, x.v[1]);
    }
  }
}

// 256 bytes of int8 codes of eight rows at p (q8_0's x8 arrangement: two 128-byte runs, values 0-15
// then 16-31), each byte first XORed with flip (0x80: unsigned codes as code - 128), against x.
inline void byte_dots(const std::uint8_t* p, const XBlock& x, std::uint8_t flip, Sums8& s) {
  const uint8x16_t f = vdupq_n_u8(flip);
  for (int run = 0; run < 2; ++run) {
    const uint8x16x4_t z0 = vld1q_u8_x4(p + 128 * run), z1 = vld1q_u8_x4(p + 128 * run + 64);
    int8x16_t c[8];
    for (int k = 0; k < 4; ++k) {
      c[k] = vreinterpretq_s8_u8(veorq_u8(z0.val[k], f));
      c[4 + k] = vreinterpretq_s8_u8(veorq_u8(z1.val[k], f));
    }
    dot8(s, c, x.v[run]);
  }
}

// Eight IEEE half scales (rows 0..7) as floats.
inline Rows8 halves8(const std::uint8_t* p) {
  const float16x8_t h = vreinterpretq_f16_u8(vld1q_u8(p));
  return {{vcvt_f32_f16(vget_low_f16(h)), vcvt_high_f32_f16(h)}};
}

// acc + s x (scale x dx), lane by lane: the row-at-a-time kernels' fma(to_f(sum), scale * dx, acc).
inline Rows8 add_scaled(Rows8 acc, const Sums8& s, const Rows8& scale, float dx) {
  for (int q = 0; q < 2; ++q) acc.v[q] = vfmaq_f32(acc.v[q], vcvtq_f32_s32(s.v[q]), vmulq_n_f32(scale.v[q], dx));
  return acc;
}

// Each block's bytes asked for 4 KiB ahead, as the AVX-512 kernels do (row_dot_q8_x8_avx512.h), one
// PRFM per 64-byte line: unrolled, or a K-quant super-block's 19 to 27 lines cost 4 instructions each.
inline void prefetch_ahead(const std::uint8_t* p, std::int64_t bytes) {
#pragma GCC unroll 32
  for (std::int64_t l = 0; l < bytes; l += 64) __builtin_prefetch(p + 4096 + l);
}

// The driver's results (row_dot_q8_x8_driver.h): eight rows' lanes times scale.
inline void store8(float* y, const Rows8& acc, float scale) {
  vst1q_f32(y, vmulq_n_f32(acc.v[0], scale));
  vst1q_f32(y + 4, vmulq_n_f32(acc.v[1], scale));
}

#include "engine/tensor/row_dot_q8_x8_driver.h"
