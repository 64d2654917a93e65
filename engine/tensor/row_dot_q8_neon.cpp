// Integer row-dot kernels (row_dot.h, row_dot_q8_impl.h) for NEON with the Armv8.2 dot product
// (SDOT, vdotq_s32; every Armv8.4+ CPU, the Neoverse and Cortex-X cores of the Spark among them):
// 32 bytes as two 16-byte registers. Compiled with +dotprod (engine/CMakeLists.txt) and called only
// when the CPU reports it (cpu_features.h: neon_dotprod). SDOT multiplies signed bytes: the
// unsigned codes the kernels pass are at most 127, the same bytes read as signed.
#include <cstdint>
#include <cstring>

#include "engine/tensor/row_dot.h"

#if defined(__aarch64__) && defined(__ARM_NEON) && defined(__ARM_FEATURE_DOTPROD)
#include <arm_neon.h>

namespace qlab::tensor::kernels::neon {
namespace {

struct Isa {
  static constexpr int kRows = 2;
  static constexpr bool kUnsigned8 = false;  // SDOT: signed bytes
  struct Q {
    int8x16_t a, b;
  };
  struct S {
    int32x4_t a, b;
  };
  struct F {
    float32x4_t a, b;
  };
  static Q load_q(const void* p) {
    const auto* b = static_cast<const std::int8_t*>(p);
    return {vld1q_s8(b), vld1q_s8(b + 16)};
  }
  static Q ggml_nibbles(const std::uint8_t* p) {
    const uint8x16_t b = vld1q_u8(p);
    return {vreinterpretq_s8_u8(vandq_u8(b, vdupq_n_u8(15))), vreinterpretq_s8_u8(vshrq_n_u8(b, 4))};
  }
  static Q even_odd(Q q) { return {vuzp1q_s8(q.a, q.b), vuzp2q_s8(q.a, q.b)}; }
  static Q and_q(Q x, Q y) { return {vandq_s8(x.a, y.a), vandq_s8(x.b, y.b)}; }
  static Q or_q(Q x, Q y) { return {vorrq_s8(x.a, y.a), vorrq_s8(x.b, y.b)}; }
  static Q xor_q(Q x, Q y) { return {veorq_s8(x.a, y.a), veorq_s8(x.b, y.b)}; }
  static Q sub_q(Q x, Q y) { return {vsubq_s8(x.a, y.a), vsubq_s8(x.b, y.b)}; }
  static Q splat_q(int v) { return {vdupq_n_s8(static_cast<std::int8_t>(v)), vdupq_n_s8(static_cast<std::int8_t>(v))}; }
  static int8x16_t ushift(int8x16_t x, int k) {  // unsigned shift by k (right where k < 0)
    return vreinterpretq_s8_u8(vshlq_u8(vreinterpretq_u8_s8(x), vdupq_n_s8(static_cast<std::int8_t>(k))));
  }
  static Q shr_q(Q q, int k) { return {ushift(q.a, -k), ushift(q.b, -k)}; }
  static Q shl_q(Q q, int k) { return {ushift(q.a, k), ushift(q.b, k)}; }
  static int8x16_t bits16(std::uint32_t u) {  // bytes 0-7 test bits 0-7 of u's byte 0, 8-15 of byte 1
    const uint8x16_t spread = vcombine_u8(vdup_n_u8(static_cast<std::uint8_t>(u)), vdup_n_u8(static_cast<std::uint8_t>(u >> 8)));
    const uint8x16_t bit = vreinterpretq_u8_u64(vdupq_n_u64(0x8040201008040201ull));
    return vreinterpretq_s8_u8(vtstq_u8(spread, bit));
  }
  static Q bits_q(std::uint32_t u) { return {bits16(u), bits16(u >> 16)}; }
  static Q lut_q(const std::int8_t* table, Q idx) {
    const int8x16_t t = vld1q_s8(table);
    return {vqtbl1q_s8(t, vreinterpretq_u8_s8(idx.a)), vqtbl1q_s8(t, vreinterpretq_u8_s8(idx.b))};
  }
  static S dot_us(S acc, Q u, Q s) { return {vdotq_s32(acc.a, u.a, s.a), vdotq_s32(acc.b, u.b, s.b)}; }
  static S dot_ss(S acc, Q x, Q y) { return dot_us(acc, x, y); }
  static S zero_s() { return {vdupq_n_s32(0), vdupq_n_s32(0)}; }
  static S add_s(S x, S y) { return {vaddq_s32(x.a, y.a), vaddq_s32(x.b, y.b)}; }
  static S mul_s(S x, S y) { return {vmulq_s32(x.a, y.a), vmulq_s32(x.b, y.b)}; }
  static S splat_s(int v) { return {vdupq_n_s32(v), vdupq_n_s32(v)}; }
  static S splat2_s(int lo, int hi) { return {vdupq_n_s32(lo), vdupq_n_s32(hi)}; }
  static S lane0_s(int v) { return {vsetq_lane_s32(v, vdupq_n_s32(0), 0), vdupq_n_s32(0)}; }
  static F zero_f() { return {vdupq_n_f32(0), vdupq_n_f32(0)}; }
  static F splat_f(float v) { return {vdupq_n_f32(v), vdupq_n_f32(v)}; }
  static F mul_f(F x, F y) { return {vmulq_f32(x.a, y.a), vmulq_f32(x.b, y.b)}; }
  static F splat2_f(float lo, float hi) { return {vdupq_n_f32(lo), vdupq_n_f32(hi)}; }
  static F splat22_f(float lo, float hi) {
    const float32x4_t v = vcombine_f32(vdup_n_f32(lo), vdup_n_f32(hi));
    return {v, v};
  }
  static F fma_f(F x, F y, F c) { return {vfmaq_f32(c.a, x.a, y.a), vfmaq_f32(c.b, x.b, y.b)}; }
  static F to_f(S s) { return {vcvtq_f32_s32(s.a), vcvtq_f32_s32(s.b)}; }
  static float sum_f(F x) { return vaddvq_f32(vaddq_f32(x.a, x.b)); }
  static float half(std::uint16_t h) { return vgetq_lane_f32(vcvt_f32_f16(vreinterpret_f16_u16(vdup_n_u16(h))), 0); }
  static constexpr bool kHalfTable = false;  // FCVT converts from a general register's value directly
};

#include "engine/tensor/row_dot_q8_impl.h"

}  // namespace

constinit const RowDotSet kIntRowDots = with_interleaved(make_int_row_dots());

}  // namespace qlab::tensor::kernels::neon

#else

namespace qlab::tensor::kernels::neon {
constinit const RowDotSet kIntRowDots{};
}

#endif
