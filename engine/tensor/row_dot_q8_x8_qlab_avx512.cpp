// ProductMath::Native on qlab's nvfp4, mxfp4, int4 and int8 groups with the weight rows interleaved
// by 8 (row_interleave.h), on AVX-512 VNNI: the activations are Q8_0 blocks, as for the row-at-a-time
// Native kernels (row_dot_q8_impl.h), and each 32-value block of eight rows is two 64-byte loads of
// 4-bit codes (four of 8-bit ones) summed by 512-bit VPDPBUSD one row per lane, as ggml q4_0's x8
// kernel does (row_dot_q8_x8_avx512.cpp). A block's scale work (eight scales converted at once, the
// zero points or code offsets taken off all eight rows' sums) is shared by the eight rows.
// Every block's sums are exact int32, offsets included (E2M1 codes as 2 x value + 12 with 12 times
// the activations' sum taken off; an int group's zero z times that sum), as the row-at-a-time
// kernels' are; only the float accumulation runs in another order, so a row's result is the same
// product to float rounding, and does not depend on which band of rows it is computed in.
#include <cstdint>

#include "engine/tensor/row_dot.h"

#if defined(__x86_64__) && defined(__AVX512VNNI__) && defined(__AVX512VL__)
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"  // GCC bug 105593, as in row_dot_q8_avx512.cpp
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

namespace qlab::tensor::kernels::avx512 {

namespace {

#include "engine/tensor/row_dot_q8_x8_avx512.h"

// 2 x E2M1 + 12 by code (row_dot_q8_impl.h's kE2M1x2Plus12), in every 128-bit lane.
inline __m512i e2m1_table() {
  return _mm512_broadcast_i32x4(_mm_setr_epi8(12, 13, 14, 15, 16, 18, 20, 24, 12, 11, 10, 9, 8, 6, 4, 0));
}

// ---- the formats: a scale group of eight rows is a header, then blocks of 32 values --------------------
// (the driver's Fmt, row_dot_q8_x8_driver.h: two groups of eight rows at a time)

constexpr std::int64_t kCodes4 = 128, kCodes8 = 256;  // one block's codes, eight rows

struct Fp4Base {
  static constexpr std::int64_t kValues = 32;
  static constexpr int kGroupsAtOnce = 2;
  static std::int64_t group(const RowDotArgs&) { return 32; }
  using X = XBlock;
  static X xblock(const RowDotArgs& a, std::int64_t b) { return x_block(a.xq + 32 * b); }
};

// nvfp4: per block, the eight rows' E4M3 scales of values 0-15, those of values 16-31, the codes;
// the tensor scale at the end. The two halves of a block meet the activations' two sums of 16 (xs)
// and their own scales side by side in one 512-bit vector (lanes 0-7 values 0-15 of rows 0..7,
// lanes 8-15 values 16-31), so a block's float work is one conversion, one product and one fused
// multiply-add; the driver adds the two halves of each row at the end.
struct Nvfp4X8 : Fp4Base {
  static constexpr std::int64_t kHead = 16, kBlock = kCodes4;
  using Acc = __m512;
  using Head = __m512;
  static Head head(const std::uint8_t* p) { return e4m3_half16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }
  static float row_scale(const RowDotArgs& a) { return a.tensor_scale; }
  static __m512 block(const RowDotArgs& a, const std::uint8_t* p, const Head& h, const X& x, std::int64_t b, __m512 acc) {
    __m512i lo, hi;
    nibble_sums<true>(p, x, e2m1_table(), lo, hi);
    const __m512i halves = _mm512_inserti64x4(_mm512_castsi256_si512(fold(lo)), fold(hi), 1);
    const __m512i offsets = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set1_epi32(12 * a.xs[2 * b])),
                                               _mm256_set1_epi32(12 * a.xs[2 * b + 1]), 1);
    const __m512 s = _mm512_cvtepi32_ps(_mm512_sub_epi32(halves, offsets));
    return _mm512_fmadd_ps(s, _mm512_mul_ps(h, _mm512_set1_ps(a.xd[b])), acc);
  }
};

// mxfp4: per block, the eight rows' E8M0 scales, the codes.
struct Mxfp4X8 : Fp4Base {
  static constexpr std::int64_t kHead = 8, kBlock = kCodes4;
  using Acc = __m256;
  struct Head {
    __m256 scale;
  };
  static Head head(const std::uint8_t* p) { return {e8m0_half(p)}; }
  static float row_scale(const RowDotArgs&) { return 1.0f; }
  static __m256 block(const RowDotArgs& a, const std::uint8_t* p, const Head& h, const X& x, std::int64_t b, __m256 acc) {
    __m512i lo, hi;
    nibble_sums<true>(p, x, e2m1_table(), lo, hi);
    const __m256i s = _mm256_sub_epi32(fold(_mm512_add_epi32(lo, hi)), _mm256_set1_epi32(12 * (a.xs[2 * b] + a.xs[2 * b + 1])));
    return _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_mul_ps(h.scale, _mm256_set1_ps(a.xd[b])), acc);
  }
};

// Int groups: per group of args.group values, the eight rows' fp16 scales and their zero points (one
// byte each), then the blocks; w = scale (code - zero), the zero taken off as zero times the block's
// activation sum.
struct IntHead {
  __m256 scale;
  __m256i zero;
};
struct IntBase {
  static constexpr std::int64_t kValues = 32, kHead = 24;
  static constexpr int kGroupsAtOnce = 2;
  using Acc = __m256;
  static std::int64_t group(const RowDotArgs& a) { return a.group; }
  using Head = IntHead;
  static Head head(const std::uint8_t* p) {
    return {_mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))), row_bytes8(p + 16)};
  }
  static float row_scale(const RowDotArgs&) { return 1.0f; }
  static __m256 finish(const RowDotArgs& a, __m512i sums, const Head& h, std::int64_t b, __m256 acc) {
    const __m256i xsum = _mm256_set1_epi32(a.xs[2 * b] + a.xs[2 * b + 1]);  // |sum| <= 32 x 127: an int16
    // zero x sum exactly by VPMADDWD: the zero (< 256) is a lane's low int16, its high one 0
    const __m256i s = _mm256_sub_epi32(fold(sums), _mm256_madd_epi16(h.zero, xsum));
    return _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_mul_ps(h.scale, _mm256_set1_ps(a.xd[b])), acc);
  }
};

struct Int4X8 : IntBase {
  static constexpr std::int64_t kBlock = kCodes4;
  using X = XBlock;
  static X xblock(const RowDotArgs& a, std::int64_t b) { return x_block(a.xq + 32 * b); }
  static __m256 block(const RowDotArgs& a, const std::uint8_t* p, const Head& h, const X& x, std::int64_t b, __m256 acc) {
    __m512i lo, hi;
    nibble_sums<false>(p, x, _mm512_setzero_si512(), lo, hi);
    return finish(a, _mm512_add_epi32(lo, hi), h, b, acc);
  }
};

// 8-bit codes (0 .. 255, unsigned: VPDPBUSD's first operand as they are) in q8_0's x8 arrangement:
// vector t's lane k holds values 8t + 4 (k / 8) .. + 3 of row k % 8.
struct Int8X8 : IntBase {
  static constexpr std::int64_t kBlock = kCodes8;
  struct X {
    __m512i v[4];
  };
  static X xblock(const RowDotArgs& a, std::int64_t b) {
    const __m512i x = x_codes(a.xq + 32 * b);
    return {{dword_pair(x, 0), dword_pair(x, 2), dword_pair(x, 4), dword_pair(x, 6)}};
  }
  static __m256 block(const RowDotArgs& a, const std::uint8_t* p, const Head& h, const X& x, std::int64_t b, __m256 acc) {
    __m512i s = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_loadu_si512(p), x.v[0]);
    __m512i t = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_loadu_si512(p + 64), x.v[1]);
    s = _mm512_dpbusd_epi32(s, _mm512_loadu_si512(p + 128), x.v[2]);
    t = _mm512_dpbusd_epi32(t, _mm512_loadu_si512(p + 192), x.v[3]);
    return finish(a, _mm512_add_epi32(s, t), h, b, acc);
  }
};

// The driver's results (row_dot_q8_x8_driver.h): a format's float lanes to its eight rows (nvfp4's 16
// lanes: the two halves of each row added), times scale.
inline void store8(float* y, __m256 acc, float scale) {
  _mm256_storeu_ps(y, _mm256_mul_ps(acc, _mm256_set1_ps(scale)));
}
inline void store8(float* y, __m512 acc, float scale) {
  const __m256 high = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(acc), 1));
  store8(y, _mm256_add_ps(_mm512_castps512_ps256(acc), high), scale);
}

#include "engine/tensor/row_dot_q8_x8_driver.h"

}  // namespace

void nvfp4_x8(const RowDotArgs& a, std::int64_t r0, std::int64_t n, float* y) { x8_row_dot<Nvfp4X8>(a, r0, n, y); }
void mxfp4_x8(const RowDotArgs& a, std::int64_t r0, std::int64_t n, float* y) { x8_row_dot<Mxfp4X8>(a, r0, n, y); }
void int4_x8(const RowDotArgs& a, std::int64_t r0, std::int64_t n, float* y) { x8_row_dot<Int4X8>(a, r0, n, y); }
void int8_x8(const RowDotArgs& a, std::int64_t r0, std::int64_t n, float* y) { x8_row_dot<Int8X8>(a, r0, n, y); }

}  // namespace qlab::tensor::kernels::avx512

#endif
