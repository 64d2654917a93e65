// What the x8 kernels (rows interleaved by 8, row_interleave.h) share on AVX-512 VNNI: included by
// row_dot_q8_x8_avx512.cpp (ggml's types) and row_dot_q8_x8_qlab_avx512.cpp (qlab's formats) inside
// their namespace and an unnamed one, after <immintrin.h>.
//   XBlock / x_block   a 32-value block of int8 activations as four vectors matching the 4-bit codes'
//                      x8 arrangement (q4_0's: two 64-byte loads, low and high nibbles)
//   x_codes, dword_pair   the activations' 32 codes; dword lo in lanes 0-7 and lo + 1 in lanes 8-15
//   (and row_dot_x8_avx512.h: prefetch_ahead, the scale conversions)
//   fold               16 int32 lanes (lane k: row k % 8) to eight rows' sums
//   nibble_sums        128 code bytes of eight rows against an XBlock: values 0-15 and 16-31 apart
// Every sum here is an exact int32.

#include "engine/tensor/row_dot_x8_avx512.h"

// The 32 activation codes of a block as four 64-byte vectors, each matching one nibble half of one
// 64-byte code load: lanes 0-7 the activation dword the first half's rows need, lanes 8-15 the next.
// (Low nibbles of code bytes 0 .. 63 are values 0-3 then 4-7 of each row, their high nibbles 16-19
// then 20-23; bytes 64 .. 127 likewise 8-11, 12-15, 24-27, 28-31.)
struct XBlock {
  __m512i v[4];
};
// 32 activation codes (in the low 256 bits).
inline __m512i x_codes(const std::int8_t* xq) {
  return _mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(xq)));
}
// Dword lo of x in lanes 0-7, dword lo + 1 in lanes 8-15.
inline __m512i dword_pair(__m512i x, int lo) {
  return _mm512_permutexvar_epi32(_mm512_set_epi32(lo + 1, lo + 1, lo + 1, lo + 1, lo + 1, lo + 1, lo + 1, lo + 1, lo,
                                                   lo, lo, lo, lo, lo, lo, lo),
                                  x);
}
inline XBlock x_block(const std::int8_t* xq) {
  const __m512i x = x_codes(xq);
  return {{dword_pair(x, 0), dword_pair(x, 4), dword_pair(x, 2), dword_pair(x, 6)}};
}

// 16 int32 lanes (lane k: row k % 8) to the eight rows' sums.
inline __m256i fold(__m512i s) { return _mm256_add_epi32(_mm512_castsi512_si256(s), _mm512_extracti64x4_epi64(s, 1)); }

// 128 code bytes of a block of eight rows at p (q4_0's x8 arrangement: value j of a row in the low
// nibble for j < 16, the high one of the same byte for j + 16) against x: lo sums values 0-15, hi
// values 16-31, per lane. Table: each code first becomes table's byte at that index (VPSHUFB, the
// 16 bytes repeated in every 128-bit lane), for codes that are not their own value (FP4's E2M1).
template <bool Table>
inline void nibble_sums(const std::uint8_t* p, const XBlock& x, __m512i table, __m512i& lo, __m512i& hi) {
  const __m512i low4 = _mm512_set1_epi8(0x0F);
  const __m512i z0 = _mm512_loadu_si512(p), z1 = _mm512_loadu_si512(p + 64);
  __m512i c[4] = {_mm512_and_si512(z0, low4), _mm512_and_si512(z1, low4), _mm512_and_si512(_mm512_srli_epi16(z0, 4), low4),
                  _mm512_and_si512(_mm512_srli_epi16(z1, 4), low4)};
  if constexpr (Table)
    for (auto& v : c) v = _mm512_shuffle_epi8(table, v);
  lo = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), c[0], x.v[0]), c[1], x.v[2]);
  hi = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), c[2], x.v[1]), c[3], x.v[3]);
}
