// Row-dot kernels (row_dot.h) for NEON (Armv8-A's baseline, so every aarch64 CPU runs them): 16
// float lanes as four 4-lane registers, the 4-bit table by TBL, half precision by FCVTL.
#include <cstdint>
#include <cstring>

#include "engine/tensor/row_dot.h"

#if defined(__aarch64__) && defined(__ARM_NEON)
#include <arm_neon.h>

namespace qlab::tensor::kernels::neon {
namespace {

struct Isa {
  static constexpr int kRows = 2;
  struct V {
    float32x4_t v[4];
  };
  using B = uint8x16_t;
  static V zero() { return {{vdupq_n_f32(0), vdupq_n_f32(0), vdupq_n_f32(0), vdupq_n_f32(0)}}; }
  static V load(const float* p) { return {{vld1q_f32(p), vld1q_f32(p + 4), vld1q_f32(p + 8), vld1q_f32(p + 12)}}; }
  static V splat(float s) { return {{vdupq_n_f32(s), vdupq_n_f32(s), vdupq_n_f32(s), vdupq_n_f32(s)}}; }
  static V add(const V& x, const V& y) {
    return {{vaddq_f32(x.v[0], y.v[0]), vaddq_f32(x.v[1], y.v[1]), vaddq_f32(x.v[2], y.v[2]), vaddq_f32(x.v[3], y.v[3])}};
  }
  static V mul(const V& x, const V& y) {
    return {{vmulq_f32(x.v[0], y.v[0]), vmulq_f32(x.v[1], y.v[1]), vmulq_f32(x.v[2], y.v[2]), vmulq_f32(x.v[3], y.v[3])}};
  }
  static V fma(const V& x, const V& y, const V& c) {
    return {{vfmaq_f32(c.v[0], x.v[0], y.v[0]), vfmaq_f32(c.v[1], x.v[1], y.v[1]), vfmaq_f32(c.v[2], x.v[2], y.v[2]),
             vfmaq_f32(c.v[3], x.v[3], y.v[3])}};
  }
  static float sum(const V& x) { return vaddvq_f32(vaddq_f32(vaddq_f32(x.v[0], x.v[1]), vaddq_f32(x.v[2], x.v[3]))); }
  static B load_b(const std::uint8_t* p) { return vld1q_u8(p); }
  static B nib_lo(B b) { return vandq_u8(b, vdupq_n_u8(15)); }
  static B nib_hi(B b) { return vshrq_n_u8(b, 4); }
  static B zip_lo(B a, B b) { return vzip1q_u8(a, b); }
  static B zip_hi(B a, B b) { return vzip2q_u8(a, b); }
  static B lut(B table, B idx) { return vqtbl1q_u8(table, idx); }
  static B sub_b(B a, B b) { return vsubq_u8(a, b); }
  static B splat_b(int v) { return vdupq_n_u8(static_cast<std::uint8_t>(v)); }
  static V from_i16(int16x8_t lo, int16x8_t hi) {
    return {{vcvtq_f32_s32(vmovl_s16(vget_low_s16(lo))), vcvtq_f32_s32(vmovl_high_s16(lo)),
             vcvtq_f32_s32(vmovl_s16(vget_low_s16(hi))), vcvtq_f32_s32(vmovl_high_s16(hi))}};
  }
  static V from_i8(B b) {
    const int8x16_t s = vreinterpretq_s8_u8(b);
    return from_i16(vmovl_s8(vget_low_s8(s)), vmovl_high_s8(s));
  }
  static V from_u8(B b) {
    const uint16x8_t lo = vmovl_u8(vget_low_u8(b)), hi = vmovl_high_u8(b);
    return {{vcvtq_f32_u32(vmovl_u16(vget_low_u16(lo))), vcvtq_f32_u32(vmovl_high_u16(lo)),
             vcvtq_f32_u32(vmovl_u16(vget_low_u16(hi))), vcvtq_f32_u32(vmovl_high_u16(hi))}};
  }
  static uint16x8_t load_u16x8(const std::uint8_t* p) { return vreinterpretq_u16_u8(vld1q_u8(p)); }
  static V from_bf16(const std::uint8_t* p) {
    const uint16x8_t a = load_u16x8(p), b = load_u16x8(p + 16);
    return {{vreinterpretq_f32_u32(vshll_n_u16(vget_low_u16(a), 16)), vreinterpretq_f32_u32(vshll_high_n_u16(a, 16)),
             vreinterpretq_f32_u32(vshll_n_u16(vget_low_u16(b), 16)), vreinterpretq_f32_u32(vshll_high_n_u16(b, 16))}};
  }
  static V from_half_bits(uint16x8_t a, uint16x8_t b) {
    const float16x8_t ha = vreinterpretq_f16_u16(a), hb = vreinterpretq_f16_u16(b);
    return {{vcvt_f32_f16(vget_low_f16(ha)), vcvt_high_f32_f16(ha), vcvt_f32_f16(vget_low_f16(hb)), vcvt_high_f32_f16(hb)}};
  }
  static V from_f16(const std::uint8_t* p) { return from_half_bits(load_u16x8(p), load_u16x8(p + 16)); }
  static uint16x8_t e4m3_bits(uint16x8_t h) {
    return vorrq_u16(vshlq_n_u16(vandq_u16(h, vdupq_n_u16(0x80)), 8), vshlq_n_u16(vandq_u16(h, vdupq_n_u16(0x7F)), 7));
  }
  static V from_e4m3(B b) { return from_half_bits(e4m3_bits(vmovl_u8(vget_low_u8(b))), e4m3_bits(vmovl_high_u8(b))); }
  static V from_e5m2(B b) { return from_half_bits(vshll_n_u8(vget_low_u8(b), 8), vshll_high_n_u8(b, 8)); }
  static float half(std::uint16_t h) { return vgetq_lane_f32(vcvt_f32_f16(vreinterpret_f16_u16(vdup_n_u16(h))), 0); }

  // The 16-entry table path (kTable16) is AVX-512's: declared only, for the formats' discarded branches.
  static constexpr bool kTable16 = false;
  static void deinterleave(V& x0, V& x1);
  static void nibble_lut(B b, V table, V& lo, V& hi);
  static V splat2(float a, float b);
  static V iota();
};

#include "engine/tensor/row_dot_impl.h"

}  // namespace

constinit const RowDotSet kRowDots = make_row_dots();

}  // namespace qlab::tensor::kernels::neon

#else

namespace qlab::tensor::kernels::neon {
constinit const RowDotSet kRowDots{};
}

#endif
