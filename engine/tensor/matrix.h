#pragma once
// A weight matrix as the runtime holds it, and the product every Linear layer needs.
//   ElemType     the storage type of the elements (computation is always float32)
//   Matrix       [rows, cols] row-major: borrowed from a memory mapping, or owned float32
//   matmul       Y[M, rows] = X[M, cols] * W^T, threaded over output rows
// Half-precision weights stay half precision in memory and are widened a slab of rows at a time
// inside each worker, so a bf16 model never doubles in RAM; float32 weights are used in place.
// A single row of X (decoding) against half-precision weights widens them on the fly instead
// (gemv_half.h): one pass over the stored bytes.
#include <cstdint>
#include <memory>
#include <vector>

namespace qlab::tensor {

enum class ElemType { F32, F16, BF16 };

struct Matrix {
  ElemType type = ElemType::F32;
  const void* data = nullptr;  // rows * cols elements of `type`, row-major
  std::int64_t rows = 0, cols = 0;
  std::shared_ptr<const void> owner;  // set when the matrix owns its storage

  // Widen rows [r0, r0 + n) to float32 into out[n * cols].
  void rows_to_f32(std::int64_t r0, std::int64_t n, float* out) const;
  // Pointer to row r when the storage already is float32, else nullptr.
  const float* f32_row(std::int64_t r) const;
  std::vector<float> to_f32() const;
  // Tell the OS the borrowed (memory-mapped) bytes are not needed now: their pages leave the
  // resident set and are read back from the file if touched again. No effect on owned storage.
  void release_mapped_pages() const;
  // A float32 matrix that owns `values` (rows * cols of them).
  static Matrix owned_f32(std::vector<float> values, std::int64_t rows, std::int64_t cols);
};

// Y[M, W.rows] = X[M, W.cols] * W^T. X and Y are dense row-major. Uses the engine's thread pool;
// BLAS runs single-threaded inside each worker.
void matmul(const float* X, std::int64_t M, const Matrix& W, float* Y);

}  // namespace qlab::tensor
