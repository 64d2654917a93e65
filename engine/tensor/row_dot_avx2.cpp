// Row-dot kernels (row_dot.h) for AVX2 with FMA and F16C: 16 float lanes as two 8-lane registers,
// the 4-bit table by PSHUFB. Compiled with those flags (engine/CMakeLists.txt) and called only when
// the CPU reports them (cpu_features.h).
#include <cstdint>
#include <cstring>

#include "engine/tensor/row_dot.h"

#if defined(__x86_64__) && defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include <immintrin.h>

namespace qlab::tensor::kernels::avx2 {
namespace {

struct Isa {
  static constexpr int kRows = 2;
  struct V {
    __m256 a, b;
  };
  using B = __m128i;
  static V zero() { return {_mm256_setzero_ps(), _mm256_setzero_ps()}; }
  static V load(const float* p) { return {_mm256_loadu_ps(p), _mm256_loadu_ps(p + 8)}; }
  static V splat(float s) { return {_mm256_set1_ps(s), _mm256_set1_ps(s)}; }
  static V add(const V& x, const V& y) { return {_mm256_add_ps(x.a, y.a), _mm256_add_ps(x.b, y.b)}; }
  static V mul(const V& x, const V& y) { return {_mm256_mul_ps(x.a, y.a), _mm256_mul_ps(x.b, y.b)}; }
  static V fma(const V& x, const V& y, const V& c) {
    return {_mm256_fmadd_ps(x.a, y.a, c.a), _mm256_fmadd_ps(x.b, y.b, c.b)};
  }
  static float sum(const V& x) {
    const __m256 s = _mm256_add_ps(x.a, x.b);
    __m128 q = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
    q = _mm_add_ps(q, _mm_movehl_ps(q, q));
    q = _mm_add_ss(q, _mm_movehdup_ps(q));
    return _mm_cvtss_f32(q);
  }
  static B load_b(const std::uint8_t* p) { return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p)); }
  static B nib_lo(B b) { return _mm_and_si128(b, _mm_set1_epi8(15)); }
  static B nib_hi(B b) { return _mm_and_si128(_mm_srli_epi16(b, 4), _mm_set1_epi8(15)); }
  static B zip_lo(B a, B b) { return _mm_unpacklo_epi8(a, b); }
  static B zip_hi(B a, B b) { return _mm_unpackhi_epi8(a, b); }
  static B lut(B table, B idx) { return _mm_shuffle_epi8(table, idx); }
  static B sub_b(B a, B b) { return _mm_sub_epi8(a, b); }
  static B splat_b(int v) { return _mm_set1_epi8(static_cast<char>(v)); }
  static V from_i8(B b) {
    return {_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(b)), _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(b, 8)))};
  }
  static V from_u8(B b) {
    return {_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(b)), _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(b, 8)))};
  }
  static __m256 bf16x8(const std::uint8_t* p) {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
  }
  static V from_bf16(const std::uint8_t* p) { return {bf16x8(p), bf16x8(p + 16)}; }
  static __m256 f16x8(const std::uint8_t* p) { return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }
  static V from_f16(const std::uint8_t* p) { return {f16x8(p), f16x8(p + 16)}; }
  static __m256 e4m3x8(__m128i b) {
    const __m128i h = _mm_cvtepu8_epi16(b);
    const __m128i sign = _mm_slli_epi16(_mm_and_si128(h, _mm_set1_epi16(0x80)), 8);
    const __m128i mag = _mm_slli_epi16(_mm_and_si128(h, _mm_set1_epi16(0x7F)), 7);
    return _mm256_cvtph_ps(_mm_or_si128(sign, mag));
  }
  static V from_e4m3(B b) { return {e4m3x8(b), e4m3x8(_mm_srli_si128(b, 8))}; }
  static __m256 e5m2x8(__m128i b) { return _mm256_cvtph_ps(_mm_slli_epi16(_mm_cvtepu8_epi16(b), 8)); }
  static V from_e5m2(B b) { return {e5m2x8(b), e5m2x8(_mm_srli_si128(b, 8))}; }
  static float half(std::uint16_t h) { return _cvtsh_ss(h); }

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

}  // namespace qlab::tensor::kernels::avx2

#else

namespace qlab::tensor::kernels::avx2 {
constinit const RowDotSet kRowDots{};
}

#endif
