// The bf16 GEMM of gemm_bf16.h with AVX512-BF16 (VDPBF16PS: 16 lanes, each adding the products of
// one pair of bf16 values). Compiled with AVX-512 F/BW/VL/DQ + BF16 flags (engine/CMakeLists.txt)
// and called only when the CPU has them (cpu_features.h).
#include <cstdint>

#include "engine/tensor/gemm_bf16.h"

#if defined(__x86_64__) && defined(__AVX512BF16__)
// GCC 12's AVX-512 headers trip its own -Wuninitialized (see row_dot_avx512.cpp).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

namespace qlab::tensor::kernels::avx512 {
namespace {

constexpr int kMR = 4, kNR = 6;
// Weight rows per cache block: 64 rows of K = 4096 bf16 are 512 KiB, within a core's L2.
constexpr std::int64_t kBlockBytes = 512 * 1024;

inline __m512bh load_pairs(const std::uint16_t* p) {
  return reinterpret_cast<__m512bh>(_mm512_loadu_si512(reinterpret_cast<const void*>(p)));
}

// One tile: MR activation rows x NR weight rows, the whole of K.
template <int MR, int NR>
void tile(const std::uint16_t* X, std::int64_t K, const std::uint16_t* W, float* Y, std::int64_t ldy) {
  __m512 acc[MR][NR];
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NR; ++j) acc[i][j] = _mm512_setzero_ps();
  for (std::int64_t k = 0; k < K; k += 32) {
    __m512bh x[MR];
    for (int i = 0; i < MR; ++i) x[i] = load_pairs(X + i * K + k);
    for (int j = 0; j < NR; ++j) {
      const __m512bh w = load_pairs(W + j * K + k);
      for (int i = 0; i < MR; ++i) acc[i][j] = _mm512_dpbf16_ps(acc[i][j], x[i], w);
    }
  }
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NR; ++j) Y[i * ldy + j] = _mm512_reduce_add_ps(acc[i][j]);
}

template <int MR>
void tile_rows(const std::uint16_t* X, std::int64_t K, const std::uint16_t* W, int nr, float* Y, std::int64_t ldy) {
  switch (nr) {
    case 6: tile<MR, 6>(X, K, W, Y, ldy); break;
    case 5: tile<MR, 5>(X, K, W, Y, ldy); break;
    case 4: tile<MR, 4>(X, K, W, Y, ldy); break;
    case 3: tile<MR, 3>(X, K, W, Y, ldy); break;
    case 2: tile<MR, 2>(X, K, W, Y, ldy); break;
    default: tile<MR, 1>(X, K, W, Y, ldy); break;
  }
}

void gemm(const std::uint16_t* Xb, std::int64_t M, const std::uint16_t* W, std::int64_t n0, std::int64_t n1,
          std::int64_t K, float* Y, std::int64_t ldy) {
  const std::int64_t block = kBlockBytes / (2 * K) / kNR * kNR > kNR ? kBlockBytes / (2 * K) / kNR * kNR : kNR;
  for (std::int64_t b0 = n0; b0 < n1; b0 += block) {
    const std::int64_t b1 = b0 + block < n1 ? b0 + block : n1;
    for (std::int64_t m = 0; m < M; m += kMR) {
      const std::int64_t mr = M - m < kMR ? M - m : kMR;
      for (std::int64_t n = b0; n < b1; n += kNR) {
        const int nr = static_cast<int>(b1 - n < kNR ? b1 - n : kNR);
        const std::uint16_t* x = Xb + m * K;
        const std::uint16_t* w = W + n * K;
        float* y = Y + m * ldy + n;
        switch (mr) {
          case 4: tile_rows<4>(x, K, w, nr, y, ldy); break;
          case 3: tile_rows<3>(x, K, w, nr, y, ldy); break;
          case 2: tile_rows<2>(x, K, w, nr, y, ldy); break;
          default: tile_rows<1>(x, K, w, nr, y, ldy); break;
        }
      }
    }
  }
}

}  // namespace

constinit const Bf16Gemm kBf16Gemm = gemm;

}  // namespace qlab::tensor::kernels::avx512

#else

namespace qlab::tensor::kernels::avx512 {
constinit const Bf16Gemm kBf16Gemm = nullptr;
}

#endif
