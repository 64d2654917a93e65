#pragma once
// The inner step of the matrix-vector kernels (gemv.cu, gemv_packed.cu): a lane's widened or decoded
// weights against the same columns of every row of x, accumulated in float32.
#include "engine/cuda/kernels.h"

namespace qlab::cuda::kernels {

// acc[m] += sum over j < N of v[j] * x[m][c0 + j], m < M; x's rows K apart, 16-byte aligned at c0.
template <int N>
__device__ inline void dot_rows(const float (&v)[N], const float* x, std::int64_t K, std::int64_t c0, int M,
                                float (&acc)[kGemvMaxRows]) {
  for (int m = 0; m < kGemvMaxRows; ++m) {
    if (m >= M) break;
    const float4* xv = reinterpret_cast<const float4*>(x + m * K + c0);
#pragma unroll
    for (int q = 0; q < N / 4; ++q) {
      const float4 xx = __ldg(xv + q);
      acc[m] = fmaf(v[4 * q], xx.x, acc[m]);
      acc[m] = fmaf(v[4 * q + 1], xx.y, acc[m]);
      acc[m] = fmaf(v[4 * q + 2], xx.z, acc[m]);
      acc[m] = fmaf(v[4 * q + 3], xx.w, acc[m]);
    }
  }
}

}  // namespace qlab::cuda::kernels
