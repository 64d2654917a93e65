#pragma once
// The Gram matrix of a block of rows, the product every second-order quantizer accumulates (GPTQ's
// Hessian H = 2/N X^T X):
//   accumulate_gram_upper   C[cols, cols] upper triangle += X^T X for x [rows, cols], float32 through
//                           BLAS: column tiles of the triangle spread over the thread pool, each tile
//                           one SGEMM (C[0:j1, j0:j1] += X[:, 0:j1]^T X[:, j0:j1]), BLAS single-threaded
//                           inside each worker. The strictly lower part of C is left as it was except
//                           inside the diagonal tiles.
#include <cstdint>

namespace qlab::tensor {

void accumulate_gram_upper(const float* x, std::int64_t rows, std::int64_t cols, float* c);

}  // namespace qlab::tensor
