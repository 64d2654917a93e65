// Row-dot kernels (row_dot.h) for AVX-512 (F, BW, VL, DQ) with F16C: 16 float lanes per register,
// the 4-bit table by PSHUFB, widening by VPMOVSX/ZX and VCVTPH2PS. Compiled with those flags
// (engine/CMakeLists.txt) and called only when the CPU reports them (cpu_features.h).
#include <cstdint>
#include <cstring>

#include "engine/tensor/row_dot.h"

#if defined(__x86_64__) && defined(__AVX512F__) && defined(__AVX512BW__)
// GCC 12's AVX-512 headers initialise their "undefined" vectors from themselves, which its own
// -Wuninitialized then reports wherever a reduction or conversion is inlined (GCC bug 105593).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

namespace qlab::tensor::kernels::avx512 {
namespace {

struct Isa {
  static constexpr int kRows = 4;
  using V = __m512;
  using B = __m128i;
  static V zero() { return _mm512_setzero_ps(); }
  static V load(const float* p) { return _mm512_loadu_ps(p); }
  static V splat(float s) { return _mm512_set1_ps(s); }
  static V add(V a, V b) { return _mm512_add_ps(a, b); }
  static V mul(V a, V b) { return _mm512_mul_ps(a, b); }
  static V fma(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  static float sum(V a) { return _mm512_reduce_add_ps(a); }
  static B load_b(const std::uint8_t* p) { return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p)); }
  static B nib_lo(B b) { return _mm_and_si128(b, _mm_set1_epi8(15)); }
  static B nib_hi(B b) { return _mm_and_si128(_mm_srli_epi16(b, 4), _mm_set1_epi8(15)); }
  static B zip_lo(B a, B b) { return _mm_unpacklo_epi8(a, b); }
  static B zip_hi(B a, B b) { return _mm_unpackhi_epi8(a, b); }
  static B lut(B table, B idx) { return _mm_shuffle_epi8(table, idx); }
  static B sub_b(B a, B b) { return _mm_sub_epi8(a, b); }
  static B splat_b(int v) { return _mm_set1_epi8(static_cast<char>(v)); }
  static V from_i8(B b) { return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(b)); }
  static V from_u8(B b) { return _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(b)); }
  static V from_bf16(const std::uint8_t* p) {
    const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
  }
  static V from_f16(const std::uint8_t* p) {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  }
  static V from_e4m3(B b) {
    const __m256i h = _mm256_cvtepu8_epi16(b);
    const __m256i sign = _mm256_slli_epi16(_mm256_and_si256(h, _mm256_set1_epi16(0x80)), 8);
    const __m256i mag = _mm256_slli_epi16(_mm256_and_si256(h, _mm256_set1_epi16(0x7F)), 7);
    return _mm512_cvtph_ps(_mm256_or_si256(sign, mag));
  }
  static V from_e5m2(B b) { return _mm512_cvtph_ps(_mm256_slli_epi16(_mm256_cvtepu8_epi16(b), 8)); }
  static float half(std::uint16_t h) { return _cvtsh_ss(h); }

  static constexpr bool kTable16 = true;
  static void deinterleave(V& x0, V& x1) {
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    const V e = _mm512_permutex2var_ps(x0, even, x1), o = _mm512_permutex2var_ps(x0, odd, x1);
    x0 = e;
    x1 = o;
  }
  // VPERMPS reads the low four bits of each index: the byte itself for the low nibble.
  static void nibble_lut(B b, V table, V& lo, V& hi) {
    const __m512i d = _mm512_cvtepu8_epi32(b);
    lo = _mm512_permutexvar_ps(d, table);
    hi = _mm512_permutexvar_ps(_mm512_srli_epi32(d, 4), table);
  }
  static V splat2(float a, float b) { return _mm512_insertf32x8(_mm512_set1_ps(a), _mm256_set1_ps(b), 1); }
  static V iota() { return _mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15); }
};

#include "engine/tensor/row_dot_impl.h"

}  // namespace

// The row-at-a-time kernels, and those that read rows interleaved by 8 (row_dot_x8_avx512.cpp).
constinit const RowDotSet kRowDots = [] {
  RowDotSet s = make_row_dots();
  s.nvfp4_float_x8 = nvfp4_float_x8;
  s.mxfp4_float_x8 = mxfp4_float_x8;
  s.int4_float_x8 = int4_float_x8;
  s.int8_float_x8 = int8_float_x8;
  return s;
}();

}  // namespace qlab::tensor::kernels::avx512

#else

namespace qlab::tensor::kernels::avx512 {
constinit const RowDotSet kRowDots{};
}

#endif
