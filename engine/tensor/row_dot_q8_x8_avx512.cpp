// ggml q4_0, q8_0 (Q8_0 activations), Q4_K and Q6_K (Q8_K) with the weight rows interleaved by 8
// (row_interleave.h), on AVX-512 VNNI. q4_0: per block of eight rows, two 64-byte loads give all
// 8 x 32 codes, four 512-bit VPDPBUSD sum them against the activations (each lane one row's 4 codes,
// the activations' matching 4 bytes repeated across the row lanes), the two halves of the sums add to
// one int32 per row, and one conversion of the eight fp16 scales, one multiply and one fused
// multiply-add finish all eight rows. The row-at-a-time kernel (row_dot_q8_impl.h) spends a
// broadcast, a scale lookup, a convert and an add on every row of every block; here that work is
// shared by eight rows, so the product is left waiting on memory rather than on the core.
// Sums are exact int32 per block, as ggml's vec_dot (codes 0..15 unsigned, the offset 8 taken off as
// 8 times the block's activation sum); a block's float work per row is one conversion (exact: |sum|
// < 2^24), the scale product and one fused multiply-add.
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

constexpr std::int64_t kGroupBlockBytes = 8 * 18;  // one block of eight rows: 8 scales, 8 x 16 code bytes

#include "engine/tensor/row_dot_q8_x8_avx512.h"

// Block b of a group of eight rows at p: each row's integer sum, offset taken off.
inline __m256i block_sums(const std::uint8_t* p, const XBlock& x, int offset_sum) {
  __m512i lo, hi;
  nibble_sums<false>(p + 16, x, _mm512_setzero_si512(), lo, hi);
  return _mm256_sub_epi32(fold(_mm512_add_epi32(lo, hi)), _mm256_set1_epi32(offset_sum));
}

inline __m256 block_scales(const std::uint8_t* p, float dx) {
  return _mm256_mul_ps(_mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))), _mm256_set1_ps(dx));
}

}  // namespace

void ggml_q4_0_x8(const RowDotArgs& a, std::int64_t r0, std::int64_t n, float* y) {
  const std::int64_t blocks = a.cols / 32;
  // Two groups at a time: each block's activation vectors serve sixteen rows.
  std::int64_t g = r0;
  for (; g + 16 <= r0 + n; g += 16) {
    const std::uint8_t* p = a.data + g * a.row_bytes;
    const std::uint8_t* q = p + 8 * a.row_bytes;
    __m256 acc_p = _mm256_setzero_ps(), acc_q = _mm256_setzero_ps();
    for (std::int64_t b = 0; b < blocks; ++b, p += kGroupBlockBytes, q += kGroupBlockBytes) {
      prefetch_ahead(p, kGroupBlockBytes);
      prefetch_ahead(q, kGroupBlockBytes);
      const XBlock x = x_block(a.xq + 32 * b);
      const int offset = 8 * (a.xs[2 * b] + a.xs[2 * b + 1]);
      acc_p = _mm256_fmadd_ps(_mm256_cvtepi32_ps(block_sums(p, x, offset)), block_scales(p, a.xd[b]), acc_p);
      acc_q = _mm256_fmadd_ps(_mm256_cvtepi32_ps(block_sums(q, x, offset)), block_scales(q, a.xd[b]), acc_q);
    }
    _mm256_storeu_ps(y + (g - r0), acc_p);
    _mm256_storeu_ps(y + (g - r0) + 8, acc_q);
  }
  for (; g < r0 + n; g += 8) {
    const std::uint8_t* p = a.data + g * a.row_bytes;
    __m256 acc = _mm256_setzero_ps();
    for (std::int64_t b = 0; b < blocks; ++b, p += kGroupBlockBytes) {
      prefetch_ahead(p, kGroupBlockBytes);
      const int offset = 8 * (a.xs[2 * b] + a.xs[2 * b + 1]);
      acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(block_sums(p, x_block(a.xq + 32 * b), offset)), block_scales(p, a.xd[b]),
                            acc);
    }
    _mm256_storeu_ps(y + (g - r0), acc);
  }
}

// q8_0: signed codes meet the activations as code + 128 (unsigned, VPDPBUSD's first operand) with
// 128 times the block's activation sum taken off, as the row-at-a-time kernel does.
void ggml_q8_0_x8(const RowDotArgs& a, std::int64_t r0, std::int64_t n, float* y) {
  const std::int64_t blocks = a.cols / 32;
  const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x80));
  for (std::int64_t g = r0; g < r0 + n; g += 8) {
    const std::uint8_t* p = a.data + g * a.row_bytes;
    __m256 acc = _mm256_setzero_ps();
    for (std::int64_t b = 0; b < blocks; ++b, p += 8 * 34) {
      prefetch_ahead(p, 8 * 34);
      const __m512i x = x_codes(a.xq + 32 * b);
      __m512i s = _mm512_setzero_si512(), t = _mm512_setzero_si512();
      s = _mm512_dpbusd_epi32(s, _mm512_xor_si512(_mm512_loadu_si512(p + 16), flip), dword_pair(x, 0));
      t = _mm512_dpbusd_epi32(t, _mm512_xor_si512(_mm512_loadu_si512(p + 80), flip), dword_pair(x, 2));
      s = _mm512_dpbusd_epi32(s, _mm512_xor_si512(_mm512_loadu_si512(p + 144), flip), dword_pair(x, 4));
      t = _mm512_dpbusd_epi32(t, _mm512_xor_si512(_mm512_loadu_si512(p + 208), flip), dword_pair(x, 6));
      const __m256i sums =
          _mm256_sub_epi32(fold(_mm512_add_epi32(s, t)), _mm256_set1_epi32(128 * (a.xs[2 * b] + a.xs[2 * b + 1])));
      acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sums), block_scales(p, a.xd[b]), acc);
    }
    _mm256_storeu_ps(y + (g - r0), acc);
  }
}

namespace {

constexpr std::int64_t kQ4_KGroupBytes = 1184;  // row_interleave.h

}  // namespace

// Q4_K against Q8_K activations. Per super-block of eight rows: each 32-value sub-block's integer sums
// (eight 512-bit VPDPBUSD over 64-byte loads, as q4_0's) times the rows' 6-bit scales, and the rows'
// mins times the sub-blocks' activation sums, both exact int32 (ggml's vec_dot); then d and dmin of
// the eight rows, converted at once, times the block's activation scale.
void ggml_q4_k_x8(const RowDotArgs& a, std::int64_t r0, std::int64_t n, float* y) {
  const std::int64_t blocks = a.cols / 256;
  const __m512i low4 = _mm512_set1_epi8(0x0F);
  for (std::int64_t g = r0; g < r0 + n; g += 8) {
    const std::uint8_t* p = a.data + g / 8 * blocks * kQ4_KGroupBytes;
    __m256 acc = _mm256_setzero_ps();
    for (std::int64_t b = 0; b < blocks; ++b, p += kQ4_KGroupBytes) {
      prefetch_ahead(p, kQ4_KGroupBytes);
      __m256i isum = _mm256_setzero_si256(), msum = _mm256_setzero_si256();
      for (int i = 0; i < 4; ++i) {  // sub-blocks 2i (low nibbles) and 2i + 1 (high)
        const __m512i xlo = x_codes(a.xq + 256 * b + 64 * i), xhi = x_codes(a.xq + 256 * b + 64 * i + 32);
        __m512i slo = _mm512_setzero_si512(), shi = _mm512_setzero_si512();
        for (int t = 0; t < 4; ++t) {
          const __m512i z = _mm512_loadu_si512(p + 160 + 256 * i + 64 * t);
          slo = _mm512_dpbusd_epi32(slo, _mm512_and_si512(z, low4), dword_pair(xlo, 2 * t));
          shi = _mm512_dpbusd_epi32(shi, _mm512_and_si512(_mm512_srli_epi16(z, 4), low4), dword_pair(xhi, 2 * t));
        }
        isum = _mm256_add_epi32(isum, _mm256_mullo_epi32(fold(slo), row_bytes8(p + 32 + 16 * i)));
        isum = _mm256_add_epi32(isum, _mm256_mullo_epi32(fold(shi), row_bytes8(p + 40 + 16 * i)));
      }
      const std::int16_t* xs = a.xs + 16 * b;
      for (int j = 0; j < 8; ++j) {
        const __m256i xsum = _mm256_set1_epi32(xs[2 * j] + xs[2 * j + 1]);  // sub-block j's activation codes
        msum = _mm256_add_epi32(msum, _mm256_mullo_epi32(row_bytes8(p + 96 + 8 * j), xsum));
      }
      acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), block_scales(p, a.xd[b]), acc);
      acc = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(msum), block_scales(p + 16, a.xd[b]), acc);
    }
    _mm256_storeu_ps(y + (g - r0), acc);
  }
}

// Q6_K against Q8_K activations. Per half of a super-block of eight rows and per t: three 64-byte
// loads (the low nibbles of two runs' bytes, the high bit pairs) give four runs' 6-bit codes, each
// against its activations by VPDPBUSD; vectors t = 0, 1 hold a run's first 16 values and t = 2, 3 its
// last 16, so each 16-value sub-block's sums fold to eight rows, lose 32 times the sub-block's
// activation sum (the codes' offset), and meet the rows' int8 scales, all in int32; then d of the eight
// rows times the activation scale.
void ggml_q6_k_x8(const RowDotArgs& a, std::int64_t r0, std::int64_t n, float* y) {
  const std::int64_t blocks = a.cols / 256;
  const __m512i low4 = _mm512_set1_epi8(0x0F), bits45 = _mm512_set1_epi8(0x30);
  for (std::int64_t g = r0; g < r0 + n; g += 8) {
    const std::uint8_t* p = a.data + g * a.row_bytes;
    __m256 acc = _mm256_setzero_ps();
    for (std::int64_t b = 0; b < blocks; ++b, p += 8 * 210) {
      const std::int16_t* xs = a.xs + 16 * b;
      prefetch_ahead(p, 8 * 210);
      __m256i isum = _mm256_setzero_si256();
      for (int h = 0; h < 2; ++h) {
        const std::uint8_t* half = p + 144 + 768 * h;
        __m512i x[4], s[8];  // x: runs k = 0..3 of the half; s[2k + u]: run k's 16-value sub-block u
        for (int k = 0; k < 4; ++k) x[k] = x_codes(a.xq + 256 * b + 128 * h + 32 * k);
        for (auto& v : s) v = _mm512_setzero_si512();
        for (int t = 0; t < 4; ++t) {
          const __m512i l0 = _mm512_loadu_si512(half + 64 * t), l1 = _mm512_loadu_si512(half + 256 + 64 * t);
          const __m512i qh = _mm512_loadu_si512(half + 512 + 64 * t);
          const __m512i q[4] = {
              _mm512_or_si512(_mm512_and_si512(l0, low4), _mm512_and_si512(_mm512_slli_epi16(qh, 4), bits45)),
              _mm512_or_si512(_mm512_and_si512(l1, low4), _mm512_and_si512(_mm512_slli_epi16(qh, 2), bits45)),
              _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(l0, 4), low4), _mm512_and_si512(qh, bits45)),
              _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(l1, 4), low4),
                              _mm512_and_si512(_mm512_srli_epi16(qh, 2), bits45))};
          for (int k = 0; k < 4; ++k)
            s[2 * k + t / 2] = _mm512_dpbusd_epi32(s[2 * k + t / 2], q[k], dword_pair(x[k], 2 * t));
        }
        for (int k = 0; k < 4; ++k) {
          for (int u = 0; u < 2; ++u) {
            const int sub = 8 * h + 2 * k + u;  // the scale's index, 16 values each
            const __m256i sums = _mm256_sub_epi32(fold(s[2 * k + u]), _mm256_set1_epi32(32 * xs[sub]));
            const __m256i sc =
                _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p + 16 + 8 * sub)));
            isum = _mm256_add_epi32(isum, _mm256_mullo_epi32(sums, sc));
          }
        }
      }
      acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), block_scales(p, a.xd[b]), acc);
    }
    _mm256_storeu_ps(y + (g - r0), acc);
  }
}

}  // namespace qlab::tensor::kernels::avx512

#endif
