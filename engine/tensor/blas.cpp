#include "engine/tensor/blas.h"

#include <cblas.h>

#include <cstddef>
#include <mutex>

// OpenBLAS exports its thread control; other BLAS libraries do not. A weak reference keeps the
// engine linkable against any CBLAS.
extern "C" void openblas_set_num_threads(int num_threads) __attribute__((weak));

// LAPACK's Fortran entry points (column-major; every argument by reference, the character argument's
// hidden length last, as gfortran passes it).
extern "C" {
void spotrf_(const char* uplo, const int* n, float* a, const int* lda, int* info, std::size_t uplo_len);
void spotri_(const char* uplo, const int* n, float* a, const int* lda, int* info, std::size_t uplo_len);
}

namespace qlab::tensor {

void set_blas_threads(int n) {
  if (openblas_set_num_threads) openblas_set_num_threads(n < 1 ? 1 : n);
}

void ensure_blas_single_threaded() {
  static std::once_flag once;
  std::call_once(once, [] { set_blas_threads(1); });
}

void sgemm(bool trans_a, bool trans_b, std::int64_t M, std::int64_t N, std::int64_t K, float alpha, const float* A,
           std::int64_t lda, const float* B, std::int64_t ldb, float beta, float* C, std::int64_t ldc) {
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
              static_cast<int>(M), static_cast<int>(N), static_cast<int>(K), alpha, A, static_cast<int>(lda), B,
              static_cast<int>(ldb), beta, C, static_cast<int>(ldc));
}

void sgemm_nt(std::int64_t M, std::int64_t N, std::int64_t K, const float* A, std::int64_t lda, const float* B,
              std::int64_t ldb, float* C, std::int64_t ldc, bool accumulate) {
  sgemm(false, true, M, N, K, 1.0f, A, lda, B, ldb, accumulate ? 1.0f : 0.0f, C, ldc);
}

void sgemm_nn(std::int64_t M, std::int64_t N, std::int64_t K, const float* A, std::int64_t lda, const float* B,
              std::int64_t ldb, float* C, std::int64_t ldc) {
  sgemm(false, false, M, N, K, 1.0f, A, lda, B, ldb, 0.0f, C, ldc);
}

void sgemv_n(std::int64_t N, std::int64_t K, const float* B, std::int64_t ldb, const float* x, float* y) {
  cblas_sgemv(CblasRowMajor, CblasNoTrans, static_cast<int>(N), static_cast<int>(K), 1.0f, B,
              static_cast<int>(ldb), x, 1, 0.0f, y, 1);
}

}  // namespace qlab::tensor

namespace qlab::tensor {

void ssyrk_tn(std::int64_t N, std::int64_t K, float alpha, const float* A, std::int64_t lda, float beta, float* C,
              std::int64_t ldc) {
  cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, static_cast<int>(N), static_cast<int>(K), alpha, A,
              static_cast<int>(lda), beta, C, static_cast<int>(ldc));
}

// A row-major matrix is its column-major transpose: the row-major upper triangle is the column-major
// lower one, and row-major A = U^T U is column-major A = L L^T with L = U^T.
int spotrf_upper(std::int64_t n, float* A, std::int64_t lda) {
  const char uplo = 'L';
  const int nn = static_cast<int>(n), ld = static_cast<int>(lda);
  int info = 0;
  spotrf_(&uplo, &nn, A, &ld, &info, 1);
  return info;
}

int spotri_upper(std::int64_t n, float* A, std::int64_t lda) {
  const char uplo = 'L';
  const int nn = static_cast<int>(n), ld = static_cast<int>(lda);
  int info = 0;
  spotri_(&uplo, &nn, A, &ld, &info, 1);
  return info;
}

}  // namespace qlab::tensor
