#pragma once
// Row-wise kernels of a transformer block, float32, written as plain loops that vectorize.
//   rmsnorm      out = x / sqrt(mean(x^2) + eps) * w     (the mean in double: rows can be 8k wide)
//   softmax      in place over the first n entries, max-subtracted
//   silu_mul     g = silu(g) * u                        (SwiGLU's gate times up)
//   add          y += x
#include <cstdint>

namespace qlab::tensor {

void rmsnorm(const float* x, const float* w, float eps, std::int64_t n, float* out);
void softmax(float* x, std::int64_t n);
void silu_mul(float* g, const float* u, std::int64_t n);
void add(float* y, const float* x, std::int64_t n);

}  // namespace qlab::tensor
