#pragma once
// The one place that talks to the BLAS library.
//   set_blas_threads   how many threads BLAS may use for one call (1 inside pool workers)
//   sgemm              C = alpha * op(A) * op(B) + beta * C, row-major, either operand transposed
//   sgemm_nt           C[M,N] = A[M,K] * B[N,K]^T (+ C when accumulate), row-major, leading dimensions
//   sgemv_n            y[N] = B[N,K] * x[K]
//   ssyrk_tn           C[N,N] (upper triangle) = alpha * A[K,N]^T * A[K,N] + beta * C: X^T X of activations
//   spotrf_upper / spotri_upper   LAPACK Cholesky factor and inverse of a symmetric positive definite matrix
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

// Upper triangle (row-major: C[i][j], j >= i) of C = alpha * A^T A + beta * C; A is [K, N] row-major
// (K rows of N values, leading dimension lda), C is [N, N] (ldc). The strictly lower part is not touched.
void ssyrk_tn(std::int64_t N, std::int64_t K, float alpha, const float* A, std::int64_t lda, float beta, float* C,
              std::int64_t ldc);

// LAPACK on a symmetric [n, n] row-major matrix, reading and writing its upper triangle (row-major
// A[i][j], j >= i; the strictly lower part is left as it was):
//   spotrf_upper  A = U^T U, U upper triangular, written over the upper triangle
//   spotri_upper  from U (spotrf_upper's output), the upper triangle of A^-1
// Both return LAPACK's info: 0 on success; k > 0 when the leading minor of order k is not positive
// definite (spotrf) or U's k-th diagonal element is 0 (spotri).
int spotrf_upper(std::int64_t n, float* A, std::int64_t lda);
int spotri_upper(std::int64_t n, float* A, std::int64_t lda);

}  // namespace qlab::tensor
