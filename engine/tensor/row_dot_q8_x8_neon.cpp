// ggml q4_0, q8_0 (Q8_0 activations), Q4_K and Q6_K (Q8_K) with the weight rows interleaved by 8
// (row_interleave.h), on NEON with the Armv8.2 dot product: the layouts the AVX-512 kernels read
// (row_dot_q8_x8_avx512.cpp), each 16-byte register of codes 4 codes of each of 4 rows, summed by SDOT
// by element against one 32-bit lane of the activations (row_dot_q8_x8_neon.h). q4_0: per block of
// eight rows, two 64-byte loads give all 8 x 32 codes, sixteen SDOT sum them, and one conversion of
// the eight fp16 scales, two multiplies and two fused multiply-adds finish all eight rows; the
// row-at-a-time kernel (row_dot_q8_impl.h) spends a scale load, a conversion, a broadcast and a
// multiply on every row of every block.
// Sums are exact int32 per block, as ggml's vec_dot (codes 0..15, the offset 8 taken off as 8 times
// the block's activation sum, the lanes' starting value); a block's float work per row is one
// conversion (exact: |sum| < 2^24), the scale product and one fused multiply-add.
// Compiled with +dotprod (engine/CMakeLists.txt), called only where the CPU has it (neon_dotprod).
#include <cstdint>

#include "engine/tensor/row_dot.h"

#if defined(__aarch64__) && defined(__ARM_NEON) && defined(__ARM_FEATURE_DOTPROD)
#include <arm_neon.h>

namespace qlab::tensor::kernels::neon {

namespace {

#include "engine/tensor/row_dot_q8_x8_neon.h"

// ---- q4_0 and q8_0: per block, the eight rows' fp16 d (16 bytes), then their codes ----------------------

template <int Offset, std::int64_t Codes>
struct LegacyX8 {
  static constexpr std::int64_t kValues = 32, kHead = 16, kBlock = Codes;
  static constexpr int kGroupsAtOnce = 2;
  static std::int64_t group(const RowDotArgs&) { return 32; }
  using Acc = Rows8;
  using Head = Rows8;
  static Head head(const std::uint8_t* p) { return halves8(p); }
  using X = X32;
  static X xblock(const RowDotArgs& a, std::int64_t b) { return x32<Offset>(a, b); }
  static float row_scale(const RowDotArgs&) { return 1.0f; }
};

struct Q4_0X8 : LegacyX8<8, 128> {
  static Rows8 block(const RowDotArgs&, const std::uint8_t* p, const Head& d, const X& x, std::int64_t, Rows8 acc) {
    Sums8 s{{x.off, x.off}};
    nibble_dots<false>(p, x.x, vdupq_n_u8(0), s, s);
    return add_scaled(acc, s, d, x.dx);
  }
};

// q8_0: signed codes, SDOT's own operands.
struct Q8_0X8 : LegacyX8<0, 256> {
  static Rows8 block(const RowDotArgs&, const std::uint8_t* p, const Head& d, const X& x, std::int64_t, Rows8 acc) {
    Sums8 s{{x.off, x.off}};  // 0
    byte_dots(p, x.x, 0, s);
    return add_scaled(acc, s, d, x.dx);
  }
};

// ---- the K-quants: one super-block of 256 values per block, no header ---------------------------------

// Eight bytes (one per row) as int32 lanes, rows 0-3 and 4-7; Signed: int8, else uint8.
template <bool Signed>
inline Sums8 row_bytes8(const std::uint8_t* p) {
  if constexpr (Signed) {
    const int16x8_t w = vmovl_s8(vld1_s8(reinterpret_cast<const std::int8_t*>(p)));
    return {{vmovl_s16(vget_low_s16(w)), vmovl_high_s16(w)}};
  } else {
    const uint16x8_t w = vmovl_u8(vld1_u8(p));
    return {{vreinterpretq_s32_u32(vmovl_u16(vget_low_u16(w))), vreinterpretq_s32_u32(vmovl_high_u16(w))}};
  }
}
// s + t x scales, lane by lane.
inline void add_product(Sums8& s, const Sums8& t, const Sums8& scales) {
  for (int q = 0; q < 2; ++q) s.v[q] = vmlaq_s32(s.v[q], t.v[q], scales.v[q]);
}

struct KQuantX8 {
  static constexpr std::int64_t kValues = 256, kHead = 0;
  // One group at a time: a super-block's sub-block sums already take most of the 32 registers.
  static constexpr int kGroupsAtOnce = 1;
  static std::int64_t group(const RowDotArgs&) { return 256; }
  using Acc = Rows8;
  struct Head {};
  static Head head(const std::uint8_t*) { return {}; }
  struct X {};  // each sub-block loads its own activations
  static X xblock(const RowDotArgs&, std::int64_t) { return {}; }
  static float row_scale(const RowDotArgs&) { return 1.0f; }
};

// Q4_K against Q8_K activations (1184 bytes per super-block of eight rows, row_interleave.h). Per
// 64 values i: each 32-value sub-block's sums (sixteen SDOT over 256 code bytes, low nibbles sub-block
// 2i, high ones 2i + 1) times the rows' 6-bit scales, and the rows' mins times the sub-blocks'
// activation sums, both exact int32 (ggml's vec_dot); then d and dmin of the eight rows, converted at
// once, times the block's activation scale.
struct Q4_KX8 : KQuantX8 {
  static constexpr std::int64_t kBlock = 1184;
  static Rows8 block(const RowDotArgs& a, const std::uint8_t* p, const Head&, const X&, std::int64_t b, Rows8 acc) {
    const std::int8_t* xq = a.xq + 256 * b;
    Sums8 isum = splat8(0), msum = splat8(0);
    for (int i = 0; i < 4; ++i) {
      const XBlock xlo = x_block(xq + 64 * i), xhi = x_block(xq + 64 * i + 32);
      Sums8 lo = splat8(0), hi = splat8(0);
      // two 128-byte runs: values 0-15 of both sub-blocks, then 16-31
      for (int run = 0; run < 2; ++run) {
        const XBlock x{{xlo.v[run], xhi.v[run]}};
        nibble_dots<false>(p + 160 + 256 * i + 128 * run, x, vdupq_n_u8(0), lo, hi);
      }
      add_product(isum, lo, row_bytes8<false>(p + 32 + 16 * i));
      add_product(isum, hi, row_bytes8<false>(p + 40 + 16 * i));
    }
    const std::int16_t* xs = a.xs + 16 * b;
    for (int j = 0; j < 8; ++j) {  // mins (< 64) x sub-block j's activation sum (|sum| < 2^12), as int16
      const int16x8_t m = vreinterpretq_s16_u16(vmovl_u8(vld1_u8(p + 96 + 8 * j)));
      const auto xsum = static_cast<std::int16_t>(xs[2 * j] + xs[2 * j + 1]);
      msum.v[0] = vmlal_n_s16(msum.v[0], vget_low_s16(m), xsum);
      msum.v[1] = vmlal_high_n_s16(msum.v[1], m, xsum);
    }
    const Rows8 d = halves8(p), dmin = halves8(p + 16);
    const float dx = a.xd[b];
    for (int q = 0; q < 2; ++q) {
      acc.v[q] = vfmaq_f32(acc.v[q], vcvtq_f32_s32(isum.v[q]), vmulq_n_f32(d.v[q], dx));
      acc.v[q] = vfmsq_f32(acc.v[q], vcvtq_f32_s32(msum.v[q]), vmulq_n_f32(dmin.v[q], dx));
    }
    return acc;
  }
};

// Q6_K against Q8_K activations (1680 bytes per super-block of eight rows). Per half h of 128 values
// and per 128-byte run u (values 16u .. 16u + 15 of each of the half's four 32-value runs k): the
// low-nibble bytes of runs 0 and 1 (ql[0..31], ql[32..63]) and the high bit pairs (qh), each a 128-byte
// run, give the four runs' 6-bit codes, each against its activations by SDOT. The sums of each
// 16-value sub-block start at -32 times its activation sum (the codes' offset) and meet the rows' int8
// scales, all in int32; then d of the eight rows times the activation scale.
struct Q6_KX8 : KQuantX8 {
  static constexpr std::int64_t kBlock = 1680;
  // Register R of the three 128-byte runs (ql[0..31]'s bytes lo, ql[32..63]'s hi, the high bit pairs
  // hb): the four 32-value runs' codes, each against its activations x[k] (dword R / 2 of them, rows
  // 4 (R % 2) ..) into s[k]. code = low nibble | high pair << 4: SLI (shift left and insert) and BSL
  // put the pair beside the nibble, so no operand is needed twice and nothing is copied.
  template <int R>
  static void codes(uint8x16_t lo, uint8x16_t hi, uint8x16_t hb, const int8x16_t* x, Sums8* s) {
    const uint8x16_t low6 = vdupq_n_u8(0x3F), pair = vdupq_n_u8(0x30), hb2 = vshrq_n_u8(hb, 2);
    const uint8x16_t q[4] = {vbslq_u8(pair, hb, vshrq_n_u8(lo, 4)), vbslq_u8(pair, hb2, vshrq_n_u8(hi, 4)),
                             vandq_u8(vsliq_n_u8(lo, hb, 4), low6), vandq_u8(vsliq_n_u8(hi, hb2, 4), low6)};
    constexpr int kRun[4] = {2, 3, 0, 1};  // q's order: the high nibbles first, while lo and hi are whole
    for (int k = 0; k < 4; ++k) {
      int32x4_t& v = s[kRun[k]].v[R % 2];
      v = vdotq_laneq_s32(v, vreinterpretq_s8_u8(q[k]), x[kRun[k]], R / 2);
    }
  }
  // Registers 4H .. 4H + 3 of the three 128-byte runs at run (ql[0..31]'s, ql[32..63]'s at + 256,
  // qh's at + 512). Loaded one register at a time: SLI overwrites its first operand, which GCC 12
  // copies out of a four-register LD1 first.
  template <int H>
  static void quarter(const std::uint8_t* run, const int8x16_t* x, Sums8* s) {
    const std::uint8_t* r = run + 64 * H;
    codes<4 * H>(vld1q_u8(r), vld1q_u8(r + 256), vld1q_u8(r + 512), x, s);
    codes<4 * H + 1>(vld1q_u8(r + 16), vld1q_u8(r + 272), vld1q_u8(r + 528), x, s);
    codes<4 * H + 2>(vld1q_u8(r + 32), vld1q_u8(r + 288), vld1q_u8(r + 544), x, s);
    codes<4 * H + 3>(vld1q_u8(r + 48), vld1q_u8(r + 304), vld1q_u8(r + 560), x, s);
  }
  static Rows8 block(const RowDotArgs& a, const std::uint8_t* p, const Head&, const X&, std::int64_t b, Rows8 acc) {
    const std::int16_t* xs = a.xs + 16 * b;
    Sums8 isum = splat8(0);
    for (int h = 0; h < 2; ++h) {
      const std::int8_t* xq = a.xq + 256 * b + 128 * h;
      for (int u = 0; u < 2; ++u) {
        Sums8 s[4];  // run k's sub-block u (16 values), from -32 x its activation sum
        int8x16_t x[4];
        for (int k = 0; k < 4; ++k) {
          s[k] = splat8(-32 * xs[8 * h + 2 * k + u]);
          x[k] = vld1q_s8(xq + 32 * k + 16 * u);
        }
        quarter<0>(p + 144 + 768 * h + 128 * u, x, s);
        quarter<1>(p + 144 + 768 * h + 128 * u, x, s);
        for (int k = 0; k < 4; ++k) add_product(isum, s[k], row_bytes8<true>(p + 16 + 8 * (8 * h + 2 * k + u)));
      }
    }
    const Rows8 d = halves8(p);
    for (int q = 0; q < 2; ++q) acc.v[q] = vfmaq_f32(acc.v[q], vcvtq_f32_s32(isum.v[q]), vmulq_n_f32(d.v[q], a.xd[b]));
    return acc;
  }
};

}  // namespace

void ggml_q4_0_x8(const RowDotArgs& a, std::int64_t r0, std::int64_t n, float* y) { x8_row_dot<Q4_0X8>(a, r0, n, y); }
void ggml_q8_0_x8(const RowDotArgs& a, std::int64_t r0, std::int64_t n, float* y) { x8_row_dot<Q8_0X8>(a, r0, n, y); }
void ggml_q4_k_x8(const RowDotArgs& a, std::int64_t r0, std::int64_t n, float* y) { x8_row_dot<Q4_KX8>(a, r0, n, y); }
void ggml_q6_k_x8(const RowDotArgs& a, std::int64_t r0, std::int64_t n, float* y) { x8_row_dot<Q6_KX8>(a, r0, n, y); }

}  // namespace qlab::tensor::kernels::neon

#endif
