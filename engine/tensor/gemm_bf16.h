#pragma once
// Products on bf16 weights (prompts, and decoding's single row) with the CPU's bf16 dot products
// (ProductMath::Native): AVX512-BF16's VDPBF16PS, or Armv8.6 BF16's BFDOT. The activations are rounded to bf16 first (round to nearest
// even), as llama.cpp's CPU backend rounds them for a bf16 model; each instruction multiplies pairs
// of bf16 values and adds them to float32 sums. That rounding (a relative 2^-9 per activation at most),
// denormals flushed to zero by the instructions and the order of the sums are the differences from
// ProductMath::Exact, which widens the weights and multiplies float32 activations with BLAS.
//   Bf16Gemm   Y[m, n] (row stride ldy) = sum_k Xb[m, k] * W[n, k] for m < M and n0 <= n < n1;
//              Xb [M, K] and W [N, K] bf16, row-major, K a multiple of 32
// Register tiles of 4 activation rows x 6 weight rows (AVX-512) or 4 x 4 (NEON) step along K,
// one vector of pairs at a time; each thread takes blocks of weight rows small enough to stay in
// its L2 cache while every activation row streams past them.
#include <cstdint>

namespace qlab::tensor::kernels {

inline constexpr std::int64_t kBf16GemmK = 32;

using Bf16Gemm = void (*)(const std::uint16_t* Xb, std::int64_t M, const std::uint16_t* W, std::int64_t n0,
                          std::int64_t n1, std::int64_t K, float* Y, std::int64_t ldy);

namespace avx512 {
extern const Bf16Gemm kBf16Gemm;  // nullptr where not built
}
namespace neon {
extern const Bf16Gemm kBf16Gemm;
}

}  // namespace qlab::tensor::kernels
