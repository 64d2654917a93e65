#pragma once
// Matrix-vector products over half-precision weights, widened on the fly (decoding's hot loop).
//   gemv_bf16   y[r] = sum_k W[r,k] * x[k] for rows [0, rows) of a bf16 matrix, row stride K
//   gemv_f16    the same for IEEE half
// One pass over the weights and nothing else: a slab-widen-then-BLAS product reads every weight,
// writes it back as float32 and reads that again, three times the memory traffic of the stored
// bytes. Plain loops over 16 lanes of partial sums, which compilers vectorize on any target.
#include <cstdint>

namespace qlab::tensor {

void gemv_bf16(const std::uint16_t* W, std::int64_t rows, std::int64_t K, const float* x, float* y);
void gemv_f16(const std::uint16_t* W, std::int64_t rows, std::int64_t K, const float* x, float* y);

}  // namespace qlab::tensor
