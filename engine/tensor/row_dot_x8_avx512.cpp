// ProductMath::Fast on qlab's nvfp4, mxfp4, int4 and int8 groups with the weight rows interleaved by 8
// (row_interleave.h: the copy that ProductMath::Native's x8 kernels read), on AVX-512 F/BW/VL, no
// VNNI: float32 activations against the values the format dequantizes to, as the row-at-a-time float
// kernels (row_dot_impl.h) take them, sixteen rows per 512-bit vector.
//
// Two groups of eight rows are read side by side. The x8 arrangement puts four code bytes of each of a
// group's eight rows in each 32-byte half of a 64-byte vector, all eight rows at the same values, so
// the same half of two groups, loaded as one vector (VINSERTI64X4), holds sixteen rows at the same
// columns, row r in 32-bit lane r. A 4-bit code is brought to the bottom of its lane by a shift and
// read as a float by VPERMPS, which looks up a 16-entry table by a lane's low four bits (E2M1 x 2, or
// the integer codes); an 8-bit code is masked under the bits of 2^23 and read as 2^23 + code. One FMA
// then multiplies sixteen rows' weights by the activation of their column, broadcast from memory: each
// activation load serves sixteen rows, and no row's codes are widened or rearranged on the way. A band
// of 8 mod 16 rows reads its last group as both halves and keeps one.
//
// Per 16 weights: 4-bit codes take a shift (7 in 8), VPERMPS, the FMA and an eighth of a VINSERTI64X4
// (asymmetric int4 groups: VPERMT2PS on code - zero + 16, made by one byte addition per 64 codes);
// 8-bit codes a shift (3 in 4), a VPTERNLOGD, a subtraction and the FMA. The products are the
// dequantized weights' (E2M1 x 2 and code - zero exactly, the scales multiplying a half block's
// (nvfp4), a block's (mxfp4) or a group's (int) sums, as the row kernels' scales do); only the order of
// the float sums differs, and a row's result does not depend on the band it is computed in.
#include <cstdint>

#include "engine/tensor/row_dot.h"

#if defined(__x86_64__) && defined(__AVX512F__) && defined(__AVX512BW__)  // as row_dot_avx512.cpp
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"  // GCC bug 105593, as in row_dot_avx512.cpp
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

namespace qlab::tensor::kernels::avx512 {

namespace {

#include "engine/tensor/row_dot_x8_avx512.h"

// 32 bytes at a, then 32 at b: the same half of two groups' vectors, sixteen rows.
inline __m512i pair_load(const std::uint8_t* a, const std::uint8_t* b) {
  return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(a))),
                            _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b)), 1);
}
// 8 bytes at a, then 8 at b: one byte per row of sixteen.
inline __m128i pair_bytes8(const std::uint8_t* a, const std::uint8_t* b) {
  return _mm_unpacklo_epi64(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(a)),
                            _mm_loadl_epi64(reinterpret_cast<const __m128i*>(b)));
}
inline __m512 bcast(const float* x) { return _mm512_set1_ps(*x); }

// ---- the 32-value blocks of sixteen rows ------------------------------------------------------------

// 4-bit codes (128 bytes per group, q4_0's x8 arrangement): the block's 32-byte half h holds code bytes
// 4h .. 4h + 3 of each row in ggml's order, so nibble m of a lane is value 4h + m / 2 + 16 (m % 2).
// table: the weight factor by code. Products of values 0-15 go to acc[0..1], of 16-31 to acc[2..3].
inline void nibble_block(const std::uint8_t* a, const std::uint8_t* b, const float* x, __m512 table, __m512 acc[4]) {
  for (int h = 0; h < 4; ++h) {
    const __m512i z = pair_load(a + 32 * h, b + 32 * h);
    for (int m = 0; m < 8; ++m) {
      const __m512i idx = m == 0 ? z : _mm512_srli_epi32(z, 4 * m);
      const __m512 w = _mm512_permutexvar_ps(idx, table);
      __m512& s = acc[2 * (m % 2) + (m / 2) % 2];
      s = _mm512_fmadd_ps(w, bcast(x + 4 * h + m / 2 + 16 * (m % 2)), s);
    }
  }
}

// Asymmetric int4: code - zero + 16, in [1, 31], made for the low and the high nibbles apart by one
// byte addition each (bias: 16 - zero in every byte of a row's lane), is looked up by VPERMT2PS's five
// index bits in a 32-entry table of j - 16: code - zero exactly, with no subtraction per vector.
constexpr int kNibblesPlanesLast[] = {2, 3, 4, 5, 6, 7, 0, 1};
inline void nibble_block_biased(const std::uint8_t* a, const std::uint8_t* b, const float* x, __m512i bias,
                                __m512 acc[4]) {
  const __m512 below = _mm512_setr_ps(-16, -15, -14, -13, -12, -11, -10, -9, -8, -7, -6, -5, -4, -3, -2, -1);
  const __m512 above = _mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const __m512i low4 = _mm512_set1_epi8(0x0F);
  for (int h = 0; h < 4; ++h) {
    const __m512i z = pair_load(a + 32 * h, b + 32 * h);
    const __m512i plane[2] = {_mm512_add_epi8(_mm512_and_si512(z, low4), bias),
                              _mm512_add_epi8(_mm512_and_si512(_mm512_srli_epi32(z, 4), low4), bias)};
    // nibble m: byte m / 2 of plane m % 2; the unshifted planes last, so VPERMI2PS may overwrite them
    for (int m : kNibblesPlanesLast) {
      const __m512i idx = m < 2 ? plane[m % 2] : _mm512_srli_epi32(plane[m % 2], 8 * (m / 2));
      const __m512 w = _mm512_permutex2var_ps(below, idx, above);
      __m512& s = acc[2 * (m % 2) + (m / 2) % 2];
      s = _mm512_fmadd_ps(w, bcast(x + 4 * h + m / 2 + 16 * (m % 2)), s);
    }
  }
}

// 8-bit codes (256 bytes per group, q8_0's x8 arrangement): the block's 32-byte part i holds values
// 4i .. 4i + 3 of each row, byte m of a lane value 4i + m. A code under the bits of 2^23 reads as
// 2^23 + code, and 2^23 + zero taken off leaves code - zero, exactly.
constexpr int kBytesUnshiftedLast[] = {1, 2, 3, 0};
inline void byte_block(const std::uint8_t* a, const std::uint8_t* b, const float* x, __m512 bias, __m512 acc[4]) {
  const __m512i low8 = _mm512_set1_epi32(0xFF), two23 = _mm512_set1_epi32(0x4B000000);
  for (int i = 0; i < 8; ++i) {
    const __m512i z = pair_load(a + 32 * i, b + 32 * i);
    for (int m : kBytesUnshiftedLast) {  // the unshifted codes last, so VPTERNLOGD may overwrite them
      const __m512i c = m == 0 ? z : _mm512_srli_epi32(z, 8 * m);
      const __m512i f = _mm512_ternarylogic_epi32(c, low8, two23, 0xEA);  // (c & 0xFF) | 2^23's bits
      const __m512 w = _mm512_sub_ps(_mm512_castsi512_ps(f), bias);
      acc[m] = _mm512_fmadd_ps(w, bcast(x + 4 * i + m), acc[m]);
    }
  }
}

inline __m512 sum4(const __m512 acc[4]) {
  return _mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3]));
}

// ---- the formats: a scale group of eight rows is a header, then blocks of 32 values ------------------
// Each has kHead and kBlock (bytes of one group of eight rows), group(args) (values per header),
// Head head(a, b) (two groups' headers as sixteen rows' lanes), block(a, b, x, head, acc) (a block's
// products into four accumulators) and finish(head, acc, total) (the header's scales on the sums),
// row_scale(args) multiplying every row at the end.

// E2M1 x 2 by code: small integers; the scale conversions give the scales halved.
inline __m512 e2m1x2_table() { return _mm512_setr_ps(0, 1, 2, 3, 4, 6, 8, 12, -0.0f, -1, -2, -3, -4, -6, -8, -12); }

// nvfp4: per block, the eight rows' E4M3 scales of values 0-15, those of values 16-31, the codes; the
// tensor scale at the end.
struct Nvfp4 {
  static constexpr std::int64_t kHead = 16, kBlock = 128;
  struct Head {
    __m512 lo, hi;
  };
  static std::int64_t group(const RowDotArgs&) { return 32; }
  static float row_scale(const RowDotArgs& a) { return a.tensor_scale; }
  static Head head(const std::uint8_t* a, const std::uint8_t* b) {
    const __m128i sa = _mm_loadu_si128(reinterpret_cast<const __m128i*>(a));
    const __m128i sb = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b));
    return {e4m3_half16(_mm_unpacklo_epi64(sa, sb)), e4m3_half16(_mm_unpackhi_epi64(sa, sb))};
  }
  static void block(const std::uint8_t* a, const std::uint8_t* b, const float* x, const Head&, __m512 acc[4]) {
    nibble_block(a, b, x, e2m1x2_table(), acc);
  }
  static __m512 finish(const Head& h, const __m512 acc[4], __m512 total) {
    total = _mm512_fmadd_ps(_mm512_add_ps(acc[0], acc[1]), h.lo, total);
    return _mm512_fmadd_ps(_mm512_add_ps(acc[2], acc[3]), h.hi, total);
  }
};

// mxfp4: per block, the eight rows' E8M0 scales, the codes.
struct Mxfp4 {
  static constexpr std::int64_t kHead = 8, kBlock = 128;
  struct Head {
    __m512 scale;
  };
  static std::int64_t group(const RowDotArgs&) { return 32; }
  static float row_scale(const RowDotArgs&) { return 1.0f; }
  static Head head(const std::uint8_t* a, const std::uint8_t* b) { return {e8m0_half16(pair_bytes8(a, b))}; }
  static void block(const std::uint8_t* a, const std::uint8_t* b, const float* x, const Head&, __m512 acc[4]) {
    nibble_block(a, b, x, e2m1x2_table(), acc);
  }
  static __m512 finish(const Head& h, const __m512 acc[4], __m512 total) {
    return _mm512_fmadd_ps(sum4(acc), h.scale, total);
  }
};

// Int groups: per group of args.group values, the eight rows' fp16 scales and zero points (a byte each;
// the symmetric formats' 2^(B-1)), then the blocks; w = scale (code - zero).
struct IntGroups {
  static constexpr std::int64_t kHead = 24;
  struct Head {
    __m512 scale;
    __m512i zero;
  };
  static std::int64_t group(const RowDotArgs& a) { return a.group; }
  static float row_scale(const RowDotArgs&) { return 1.0f; }
  static Head head(const std::uint8_t* a, const std::uint8_t* b) {
    const __m256i halves = _mm256_inserti128_si256(
        _mm256_castsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(a))),
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(b)), 1);
    return {_mm512_cvtph_ps(halves), _mm512_cvtepu8_epi32(pair_bytes8(a + 16, b + 16))};
  }
  static __m512 finish(const Head& h, const __m512 acc[4], __m512 total) {
    return _mm512_fmadd_ps(sum4(acc), h.scale, total);
  }
};

// 4-bit codes: a symmetric format's weight factor is code - 8, a table's entry; an asymmetric one's
// code - zero, by nibble_block_biased.
template <bool Symmetric>
struct Int4 : IntGroups {
  static constexpr std::int64_t kBlock = 128;
  static void block(const std::uint8_t* a, const std::uint8_t* b, const float* x, const Head& h, __m512 acc[4]) {
    if constexpr (Symmetric) {
      nibble_block(a, b, x, _mm512_setr_ps(-8, -7, -6, -5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 6, 7), acc);
    } else {
      const __m512i bias =  // 16 - zero in each byte of a row's lane
          _mm512_mullo_epi32(_mm512_sub_epi32(_mm512_set1_epi32(16), h.zero), _mm512_set1_epi32(0x01010101));
      nibble_block_biased(a, b, x, bias, acc);
    }
  }
};

struct Int8 : IntGroups {
  static constexpr std::int64_t kBlock = 256;
  static void block(const std::uint8_t* a, const std::uint8_t* b, const float* x, const Head& h, __m512 acc[4]) {
    const __m512 bias = _mm512_castsi512_ps(_mm512_or_si512(h.zero, _mm512_set1_epi32(0x4B000000)));  // 2^23 + zero
    byte_block(a, b, x, bias, acc);
  }
};

// ---- the driver: sixteen rows at a time ---------------------------------------------------------------

// A stream's bytes 4 KiB ahead, as prefetch_ahead, except that past the end of its group of eight rows
// the same place in the next pair's (`skip` bytes further: the pair's other group lies between), so a
// pair's second stream does not start cold.
inline void prefetch_stream(const std::uint8_t* p, const std::uint8_t* end, std::int64_t skip, int bytes) {
  prefetch_ahead(p + 4096 >= end ? p + skip : p, bytes);
}

// Rows of the groups at a and b (b = a: one group, its eight rows stored) -> y. eight_rows: a group's
// bytes.
template <class Fmt>
void sixteen_rows(const RowDotArgs& a, const std::uint8_t* pa, const std::uint8_t* pb, bool two,
                  std::int64_t eight_rows, float* y) {
  const std::int64_t per_group = Fmt::group(a) / 32, groups = a.cols / Fmt::group(a);
  const std::uint8_t *end_a = pa + eight_rows, *end_b = pb + eight_rows;
  const float* x = a.x;
  __m512 total = _mm512_setzero_ps();
  for (std::int64_t j = 0; j < groups; ++j) {
    const typename Fmt::Head h = Fmt::head(pa, pb);
    pa += Fmt::kHead;
    pb += Fmt::kHead;
    __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
    for (std::int64_t b = 0; b < per_group; ++b, x += 32) {
      prefetch_stream(pa, end_a, eight_rows, Fmt::kBlock);
      prefetch_stream(pb, end_b, eight_rows, Fmt::kBlock);
      Fmt::block(pa, pb, x, h, acc);
      pa += Fmt::kBlock;
      pb += Fmt::kBlock;
    }
    total = Fmt::finish(h, acc, total);
  }
  total = _mm512_mul_ps(total, _mm512_set1_ps(Fmt::row_scale(a)));
  if (two) _mm512_storeu_ps(y, total);
  else _mm256_storeu_ps(y, _mm512_castps512_ps256(total));
}

template <class Fmt>
void x8_float(const RowDotArgs& a, std::int64_t r0, std::int64_t n, float* y) {
  const std::int64_t per_group = Fmt::group(a) / 32, groups = a.cols / Fmt::group(a);
  const std::int64_t eight_rows = groups * (Fmt::kHead + per_group * Fmt::kBlock);  // bytes of eight rows
  for (std::int64_t g = r0; g < r0 + n; g += 16) {
    const std::uint8_t* p = a.data + g / 8 * eight_rows;
    const bool two = g + 16 <= r0 + n;
    sixteen_rows<Fmt>(a, p, two ? p + eight_rows : p, two, eight_rows, y + (g - r0));
  }
}

}  // namespace

void nvfp4_float_x8(const RowDotArgs& a, std::int64_t r0, std::int64_t n, float* y) { x8_float<Nvfp4>(a, r0, n, y); }
void mxfp4_float_x8(const RowDotArgs& a, std::int64_t r0, std::int64_t n, float* y) { x8_float<Mxfp4>(a, r0, n, y); }
void int4_float_x8(const RowDotArgs& a, std::int64_t r0, std::int64_t n, float* y) {
  if (a.zeros) x8_float<Int4<false>>(a, r0, n, y);
  else x8_float<Int4<true>>(a, r0, n, y);
}
void int8_float_x8(const RowDotArgs& a, std::int64_t r0, std::int64_t n, float* y) { x8_float<Int8>(a, r0, n, y); }

}  // namespace qlab::tensor::kernels::avx512

#endif
