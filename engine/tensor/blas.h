#pragma once
// The one place that talks to the BLAS library.
//   set_blas_threads   how many threads BLAS may use for one call (1 inside pool workers)
//   sgemm              C = alpha * op(A) * op(B) + beta * C, row-major, either operand transposed
//   sgemm_nt           C[M,N] = A[M,K] * B[N,K]^T (+ C when accumulate), row-major, leading dimensions
//   sgemv_n            y[N] = B[N,K] * x[K]
// The engine parallelises with its own pool and keeps BLAS single-threaded (see weights.cpp), so the
// two never oversubscribe the cores; the benchmark raises BLAS threads only to measure BLAS alone.
#include <cstdint>

namespace qlab::tensor {

// No effect on a BLAS without a thread control (reference BLAS is single-threaded anyway).
void set_blas_threads(int n);
// Called once before the engine's first BLAS call: BLAS itself runs on one thread.
void ensure_blas_single_threaded();

// op(A) is [M,K] and op(B) is [K,N]; trans_a / trans_b say the stored matrix is the transpose.
void sgemm(bool trans_a, bool trans_b, std::int64_t M, std::int64_t N, std::int64_t K, float alpha, const float* A,
           std::int64_t lda, const float* B, std::int64_t ldb, float beta, float* C, std::int64_t ldc);

void sgemm_nt(std::int64_t M, std::int64_t N, std::int64_t K, const float* A, std::int64_t lda, const float* B,
              std::int64_t ldb, float* C, std::int64_t ldc, bool accumulate = false);
// C[M,N] = A[M,K] * B[K,N] (B not transposed).
void sgemm_nn(std::int64_t M, std::int64_t N, std::int64_t K, const float* A, std::int64_t lda, const float* B,
              std::int64_t ldb, float* C, std::int64_t ldc);
void sgemv_n(std::int64_t N, std::int64_t K, const float* B, std::int64_t ldb, const float* x, float* y);

}  // namespace qlab::tensor
