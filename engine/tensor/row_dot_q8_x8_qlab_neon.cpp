// ProductMath::Native on qlab's nvfp4, mxfp4, int4 and int8 groups with the weight rows interleaved
// by 8 (row_interleave.h), on NEON with the Armv8.2 dot product: the layouts the AVX-512 kernels read
// (row_dot_q8_x8_qlab_avx512.cpp). The activations are Q8_0 blocks, as for the row-at-a-time Native
// kernels (row_dot_q8_impl.h); each 32-value block of eight rows is 128 bytes of 4-bit codes (256 of
// 8-bit ones) summed by SDOT by element, four rows per instruction, with ggml q4_0's x8 loop
// (row_dot_q8_x8_neon.h). A block's scale work (eight scales converted at once, the zero points or
// code offsets taken off all eight rows' sums) is shared by the eight rows.
// Every block's sums are exact int32, offsets included (E2M1 codes as 2 x value + 12 with 12 times
// the activations' sum taken off; an int group's zero z times that sum), as the row-at-a-time
// kernels' are; only the float accumulation runs in another order, so a row's result is the same
// product to float rounding, and does not depend on which band of rows it is computed in.
// Compiled with +dotprod (engine/CMakeLists.txt), called only where the CPU has it (neon_dotprod).
#include <cstdint>

#include "engine/tensor/row_dot.h"

#if defined(__aarch64__) && defined(__ARM_NEON) && defined(__ARM_FEATURE_DOTPROD)
#include <arm_neon.h>

namespace qlab::tensor::kernels::neon {

namespace {

#include "engine/tensor/row_dot_q8_x8_neon.h"

// Sixteen E4M3 scale codes as their values / 256 (lo: the first eight bytes, rows 0..7; hi: the next
// eight): sign and the seven other bits moved under an IEEE half's sign, exponent (4 of 5 bits) and
// fraction, then widened exactly (subnormals too); the exponent biases differ by 8. Magnitude 0x7F
// is E4M3's NaN: its half is made all ones, a NaN.
struct E4M3x16 {
  Rows8 lo, hi;
};
inline Rows8 e4m3_rows8(uint16x8_t shifted, uint16x8_t nan) {
  // shifted = code << 8 (sign at bit 15, magnitude at 8 .. 14); an arithmetic >> 1 puts the magnitude
  // at 7 .. 13 and copies the sign into bit 14, which is cleared
  const int16x8_t moved = vshrq_n_s16(vreinterpretq_s16_u16(shifted), 1);
  const uint16x8_t h = vbicq_u16(vreinterpretq_u16_s16(moved), vdupq_n_u16(0x4000));
  const float16x8_t f = vreinterpretq_f16_u16(vorrq_u16(h, nan));
  return {{vcvt_f32_f16(vget_low_f16(f)), vcvt_high_f32_f16(f)}};
}
inline E4M3x16 e4m3_x16(const std::uint8_t* p) {
  const uint8x16_t c = vld1q_u8(p);
  const int8x16_t nan = vreinterpretq_s8_u8(vceqq_u8(vorrq_u8(c, vdupq_n_u8(0x80)), vdupq_n_u8(0xFF)));
  return {e4m3_rows8(vshll_n_u8(vget_low_u8(c), 8), vreinterpretq_u16_s16(vmovl_s8(vget_low_s8(nan)))),
          e4m3_rows8(vshll_high_n_u8(c, 8), vreinterpretq_u16_s16(vmovl_high_s8(nan)))};
}

// Eight E8M0 scale codes as their values 2^(e - 127): e under a float's exponent field; e = 0 (2^-127:
// the field would read 0) and e = 255 (OCP's NaN: it would read infinity) get fraction bit 22 too,
// which makes exactly those two.
inline Rows8 e8m0_rows8(const std::uint8_t* p) {
  const uint8x8_t e = vld1_u8(p);
  const uint8x8_t special = vcle_u8(vadd_u8(e, vdup_n_u8(1)), vdup_n_u8(1));  // e + 1 wraps: 255 and 0
  const uint16x8_t top = vaddw_u8(vshll_n_u8(e, 7), vand_u8(special, vdup_n_u8(0x40)));  // the floats' top halves
  return {{vreinterpretq_f32_u32(vshll_n_u16(vget_low_u16(top), 16)),
           vreinterpretq_f32_u32(vshll_high_n_u16(top, 16))}};
}

// 2 x E2M1 + 12 by code (row_dot_q8_impl.h's kE2M1x2Plus12).
inline uint8x16_t e2m1_table() {
  constexpr std::uint8_t kTable[16] = {12, 13, 14, 15, 16, 18, 20, 24, 12, 11, 10, 9, 8, 6, 4, 0};
  return vld1q_u8(kTable);
}

// ---- the formats: a scale group of eight rows is a header, then blocks of 32 values --------------------
// (the driver's Fmt, row_dot_q8_x8_driver.h)

constexpr std::int64_t kCodes4 = 128, kCodes8 = 256;  // one block's codes, eight rows

struct Fp4Base {
  static constexpr std::int64_t kValues = 32, kBlock = kCodes4;
  static constexpr int kGroupsAtOnce = 2;
  static std::int64_t group(const RowDotArgs&) { return 32; }
  using Acc = Rows8;
};

// nvfp4: per block, the eight rows' E4M3 scales of values 0-15, those of values 16-31, the codes; the
// tensor scale at the end. The two halves of a block are summed apart, each times its own scales.
struct Nvfp4X8 : Fp4Base {
  static constexpr std::int64_t kHead = 16;
  using Head = E4M3x16;
  static Head head(const std::uint8_t* p) { return e4m3_x16(p); }
  struct X {
    XBlock x;
    int32x4_t off_lo, off_hi;  // -12 x the activation sums of values 0-15 and 16-31
    float dx;
  };
  static X xblock(const RowDotArgs& a, std::int64_t b) {
    return {x_block(a.xq + 32 * b), vdupq_n_s32(-12 * a.xs[2 * b]), vdupq_n_s32(-12 * a.xs[2 * b + 1]), a.xd[b]};
  }
  static float row_scale(const RowDotArgs& a) { return a.tensor_scale; }
  static Rows8 block(const RowDotArgs&, const std::uint8_t* p, const Head& h, const X& x, std::int64_t, Rows8 acc) {
    Sums8 lo{{x.off_lo, x.off_lo}}, hi{{x.off_hi, x.off_hi}};
    nibble_dots<true>(p, x.x, e2m1_table(), lo, hi);
    // the scales are values / 256; the row kernels' table holds values / 2 (the codes are 2 x E2M1)
    return add_scaled(add_scaled(acc, lo, h.lo, x.dx * 128.0f), hi, h.hi, x.dx * 128.0f);
  }
};

// mxfp4: per block, the eight rows' E8M0 scales, the codes.
struct Mxfp4X8 : Fp4Base {
  static constexpr std::int64_t kHead = 8;
  using Head = Rows8;
  static Head head(const std::uint8_t* p) { return e8m0_rows8(p); }
  using X = X32;
  static X xblock(const RowDotArgs& a, std::int64_t b) { return x32<12>(a, b); }
  static float row_scale(const RowDotArgs&) { return 1.0f; }
  static Rows8 block(const RowDotArgs&, const std::uint8_t* p, const Head& h, const X& x, std::int64_t, Rows8 acc) {
    Sums8 s{{x.off, x.off}};
    nibble_dots<true>(p, x.x, e2m1_table(), s, s);
    return add_scaled(acc, s, h, x.dx * 0.5f);  // values / 2, as the row kernels' table (exact: a power of 2)
  }
};

// Int groups: per group of args.group values, the eight rows' fp16 scales and their zero points (one
// byte each), then the blocks; w = scale (code - zero), the zero taken off as zero times the block's
// activation sum, the lanes' starting value. 8-bit codes (0 .. 255) meet SDOT's signed bytes as
// code - 128 (Flip), so their offset is zero - 128.
struct IntHead {
  Rows8 scale;
  int16x8_t offset;  // zero - Flip, rows 0..7
};
struct IntX {
  XBlock x;
  std::int16_t neg_sum;  // -(the block's activation sum): |sum| <= 32 x 127
  float dx;
};
template <int Flip, std::int64_t Codes>
struct IntX8 {
  static constexpr std::int64_t kValues = 32, kHead = 24, kBlock = Codes;
  static constexpr int kGroupsAtOnce = 2;
  static std::int64_t group(const RowDotArgs& a) { return a.group; }
  using Acc = Rows8;
  using Head = IntHead;
  static Head head(const std::uint8_t* p) {
    const int16x8_t zero = vreinterpretq_s16_u16(vmovl_u8(vld1_u8(p + 16)));
    return {halves8(p), vsubq_s16(zero, vdupq_n_s16(Flip))};
  }
  using X = IntX;
  static X xblock(const RowDotArgs& a, std::int64_t b) {
    return {x_block(a.xq + 32 * b), static_cast<std::int16_t>(-xsum32(a, b)), a.xd[b]};
  }
  static float row_scale(const RowDotArgs&) { return 1.0f; }
  static Rows8 block(const RowDotArgs&, const std::uint8_t* p, const Head& h, const X& x, std::int64_t, Rows8 acc) {
    Sums8 s{{vmull_n_s16(vget_low_s16(h.offset), x.neg_sum), vmull_high_n_s16(h.offset, x.neg_sum)}};
    if constexpr (Codes == kCodes4) nibble_dots<false>(p, x.x, vdupq_n_u8(0), s, s);
    else byte_dots(p, x.x, Flip, s);
    return add_scaled(acc, s, h.scale, x.dx);
  }
};
using Int4X8 = IntX8<0, kCodes4>;
using Int8X8 = IntX8<128, kCodes8>;

}  // namespace

void nvfp4_x8(const RowDotArgs& a, std::int64_t r0, std::int64_t n, float* y) { x8_row_dot<Nvfp4X8>(a, r0, n, y); }
void mxfp4_x8(const RowDotArgs& a, std::int64_t r0, std::int64_t n, float* y) { x8_row_dot<Mxfp4X8>(a, r0, n, y); }
void int4_x8(const RowDotArgs& a, std::int64_t r0, std::int64_t n, float* y) { x8_row_dot<Int4X8>(a, r0, n, y); }
void int8_x8(const RowDotArgs& a, std::int64_t r0, std::int64_t n, float* y) { x8_row_dot<Int8X8>(a, r0, n, y); }

}  // namespace qlab::tensor::kernels::neon

#endif
