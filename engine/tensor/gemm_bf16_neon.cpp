// The bf16 GEMM of gemm_bf16.h with Armv8.6 BF16 (BFDOT: 4 lanes, each adding the products of one
// pair of bf16 values). Compiled with +bf16 (engine/CMakeLists.txt) and called only when the CPU
// reports BF16 (cpu_features.h): the Spark's Cortex-X925 / A725 cores do.
#include <cstdint>

#include "engine/tensor/gemm_bf16.h"

#if defined(__aarch64__) && defined(__ARM_FEATURE_BF16_VECTOR_ARITHMETIC)
#include <arm_neon.h>

namespace qlab::tensor::kernels::neon {
namespace {

constexpr int kMR = 4, kNR = 4;
constexpr std::int64_t kBlockBytes = 512 * 1024;

inline bfloat16x8_t load_pairs(const std::uint16_t* p) { return vld1q_bf16(reinterpret_cast<const bfloat16_t*>(p)); }

template <int MR, int NR>
void tile(const std::uint16_t* X, std::int64_t K, const std::uint16_t* W, float* Y, std::int64_t ldy) {
  float32x4_t acc[MR][NR];
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NR; ++j) acc[i][j] = vdupq_n_f32(0);
  for (std::int64_t k = 0; k < K; k += 8) {
    bfloat16x8_t x[MR];
    for (int i = 0; i < MR; ++i) x[i] = load_pairs(X + i * K + k);
    for (int j = 0; j < NR; ++j) {
      const bfloat16x8_t w = load_pairs(W + j * K + k);
      for (int i = 0; i < MR; ++i) acc[i][j] = vbfdotq_f32(acc[i][j], x[i], w);
    }
  }
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NR; ++j) Y[i * ldy + j] = vaddvq_f32(acc[i][j]);
}

template <int MR>
void tile_rows(const std::uint16_t* X, std::int64_t K, const std::uint16_t* W, int nr, float* Y, std::int64_t ldy) {
  switch (nr) {
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

}  // namespace qlab::tensor::kernels::neon

#else

namespace qlab::tensor::kernels::neon {
constinit const Bf16Gemm kBf16Gemm = nullptr;
}

#endif
