// The integer primitives of row_dot_q8_impl.h on x86, 256 bits wide: included by row_dot_q8_avx512.cpp
// (AVX-512 VNNI's VPDPBUSD, with VL for its 256-bit form) and row_dot_q8_avx2.cpp (VPMADDUBSW, whose
// int16 pair sums stay below 2 x 127 x 128 for the unsigned bytes the kernels pass it, then VPMADDWD),
// inside their namespaces, after <immintrin.h>. 256 bits, not 512: the kernels' blocks are 32 values,
// and the products are bound by memory, not by the width of the multiplies.
struct Isa {
#if defined(__AVX512VNNI__)
  static constexpr int kRows = 4;  // 32 vector registers
  static constexpr bool kUnsigned8 = true;
#else
  static constexpr int kRows = 2;
  static constexpr bool kUnsigned8 = false;
#endif
  using Q = __m256i;
  using S = __m256i;
  using F = __m256;
  static Q load_q(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }
  // The 16 bytes in both halves (a load, no shuffle), the high half's quadwords shifted right by 4.
  static Q ggml_nibbles(const std::uint8_t* p) {
    const __m256i b = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    return _mm256_and_si256(_mm256_srlv_epi64(b, _mm256_setr_epi64x(0, 0, 4, 4)), _mm256_set1_epi8(15));
  }
  // Bytes 0, 2, ..., 30, then 1, 3, ..., 31: each 16-byte half's even then odd bytes (PSHUFB), then the
  // halves' even quadwords before their odd ones (VPERMQ).
  static Q even_odd(Q q) {
    const __m256i split = _mm256_shuffle_epi8(
        q, _mm256_setr_epi8(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15, 0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7,
                            9, 11, 13, 15));
    return _mm256_permute4x64_epi64(split, 0xD8);  // quadwords 0, 2, 1, 3
  }
  static Q and_q(Q a, Q b) { return _mm256_and_si256(a, b); }
  static Q or_q(Q a, Q b) { return _mm256_or_si256(a, b); }
  static Q xor_q(Q a, Q b) { return _mm256_xor_si256(a, b); }
  static Q sub_q(Q a, Q b) { return _mm256_sub_epi8(a, b); }
  static Q splat_q(int v) { return _mm256_set1_epi8(static_cast<char>(v)); }
  static Q shr_q(Q q, int k) {
    return _mm256_and_si256(_mm256_srl_epi16(q, _mm_cvtsi32_si128(k)), _mm256_set1_epi8(static_cast<char>(0xFF >> k)));
  }
  static Q shl_q(Q q, int k) { return _mm256_sll_epi16(q, _mm_cvtsi32_si128(k)); }
  // ggml's bytes_from_bits_32: each byte of u to eight bytes, then each byte tested for its own bit.
  static Q bits_q(std::uint32_t u) {
    const __m256i spread = _mm256_shuffle_epi8(_mm256_set1_epi32(static_cast<int>(u)),
                                               _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202,
                                                                 0x0101010101010101, 0x0000000000000000));
    const __m256i others = _mm256_or_si256(spread, _mm256_set1_epi64x(0x7fbfdfeff7fbfdfe));
    return _mm256_cmpeq_epi8(others, _mm256_set1_epi64x(-1));
  }
  static Q lut_q(const std::int8_t* table, Q idx) {
    return _mm256_shuffle_epi8(_mm256_broadcastsi128_si256(_mm_load_si128(reinterpret_cast<const __m128i*>(table))), idx);
  }
#if defined(__AVX512VNNI__)
  static S dot_us(S acc, Q u, Q s) { return _mm256_dpbusd_epi32(acc, u, s); }
#else
  static S dot_us(S acc, Q u, Q s) {
    return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1)));
  }
#endif
  // a b = |a| (b with a's sign): an unsigned byte times a signed one (b != -128, so -b fits).
  static S dot_ss(S acc, Q a, Q b) { return dot_us(acc, _mm256_sign_epi8(a, a), _mm256_sign_epi8(b, a)); }
  static S zero_s() { return _mm256_setzero_si256(); }
  static S add_s(S a, S b) { return _mm256_add_epi32(a, b); }
  static S mul_s(S a, S b) { return _mm256_mullo_epi32(a, b); }
  static S splat_s(int v) { return _mm256_set1_epi32(v); }
  static S splat2_s(int lo, int hi) { return _mm256_setr_epi32(lo, lo, lo, lo, hi, hi, hi, hi); }
  static S lane0_s(int v) { return _mm256_setr_epi32(v, 0, 0, 0, 0, 0, 0, 0); }
  static F zero_f() { return _mm256_setzero_ps(); }
  static F splat_f(float v) { return _mm256_set1_ps(v); }
  static F mul_f(F a, F b) { return _mm256_mul_ps(a, b); }
  static F splat2_f(float lo, float hi) { return _mm256_setr_ps(lo, lo, lo, lo, hi, hi, hi, hi); }
  static F splat22_f(float lo, float hi) { return _mm256_setr_ps(lo, lo, hi, hi, lo, lo, hi, hi); }
  static F fma_f(F a, F b, F c) { return _mm256_fmadd_ps(a, b, c); }
  static F to_f(S s) { return _mm256_cvtepi32_ps(s); }
  static float sum_f(F x) {
    __m128 q = _mm_add_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));
    q = _mm_add_ps(q, _mm_movehl_ps(q, q));
    q = _mm_add_ss(q, _mm_movehdup_ps(q));
    return _mm_cvtss_f32(q);
  }
  static float half(std::uint16_t h) { return _cvtsh_ss(h); }
  static constexpr bool kHalfTable = true;
};
