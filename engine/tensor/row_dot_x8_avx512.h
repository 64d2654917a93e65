// What every x8 kernel (rows interleaved by 8, row_interleave.h) shares on AVX-512 F/BW/VL, with or
// without VNNI: included by row_dot_q8_x8_avx512.h (the integer kernels) and row_dot_x8_avx512.cpp
// (the float kernels) inside their namespace and an unnamed one, after <immintrin.h>.
//   prefetch_ahead   a block's bytes asked for 4 KiB ahead
//   row_bytes8       eight bytes (one per row) as int32 lanes
//   e8m0_half16      sixteen E8M0 scale codes as their values / 2 (e8m0_half: eight)
//   e4m3_half16      sixteen E4M3 scale codes as their values / 2
// The scale conversions give exactly the values of the row-at-a-time kernels' tables (row_dot_table.cpp).

// The hardware prefetcher alone leaves these kernels waiting on memory (bench_row_dot, one thread:
// Q6_K 7.2 against 10.9 GB/s with this): each block's bytes are asked for 4 KiB ahead.
inline void prefetch_ahead(const std::uint8_t* p, int bytes) {
  for (int l = 0; l < bytes; l += 64) _mm_prefetch(reinterpret_cast<const char*>(p + 4096 + l), _MM_HINT_T0);
}

inline __m256i row_bytes8(const std::uint8_t* p) {
  return _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
}

// The code under a float's exponent field is 2^(e - 127) for e in 1 .. 254, halved exactly (2^-127
// a subnormal); e = 0 is 2^-127 (the field would read 0) and e = 255 OCP's NaN (it would read
// infinity), so those two are put in by mask.
inline __m512 e8m0_half16(__m128i codes) {
  const __m512i e = _mm512_cvtepu8_epi32(codes);
  __m512 v = _mm512_mul_ps(_mm512_castsi512_ps(_mm512_slli_epi32(e, 23)), _mm512_set1_ps(0.5f));
  v = _mm512_mask_blend_ps(_mm512_cmpeq_epi32_mask(e, _mm512_setzero_si512()), v,
                           _mm512_castsi512_ps(_mm512_set1_epi32(0x00200000)));  // 2^-128
  return _mm512_mask_blend_ps(_mm512_cmpeq_epi32_mask(e, _mm512_set1_epi32(255)), v,
                              _mm512_castsi512_ps(_mm512_set1_epi32(0x7FC00000)));
}
inline __m256 e8m0_half(const std::uint8_t* p) {
  return _mm512_castps512_ps256(e8m0_half16(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))));
}

// Sign-extended to 32 bits (bit 31 the sign, bits 27-30 copies of it) and shifted left by 20, a code's
// 4-bit exponent and 3-bit fraction sit under a float's exponent field (its low four bits) and
// fraction, the sign at bit 31; with the copies masked off that float is the code's value times
// 2^-120, subnormals (exponent 0) included, so times 2^119 (exact) it is the value / 2. Magnitude 0x7F
// is E4M3's NaN. (IEEE subnormals: the engine never sets flush-to-zero or denormals-are-zero.)
inline __m512 e4m3_half16(__m128i codes) {
  const __m512i c = _mm512_cvtepi8_epi32(codes);
  const __m512i f = _mm512_and_si512(_mm512_slli_epi32(c, 20), _mm512_set1_epi32(static_cast<int>(0x87F00000u)));
  const __m512 v = _mm512_mul_ps(_mm512_castsi512_ps(f), _mm512_set1_ps(0x1p119f));
  const __mmask16 nan = _mm512_cmpeq_epi32_mask(_mm512_and_si512(c, _mm512_set1_epi32(0x7F)), _mm512_set1_epi32(0x7F));
  return _mm512_mask_blend_ps(nan, v, _mm512_castsi512_ps(_mm512_set1_epi32(0x7FC00000)));
}
