#pragma once
// Row-wise kernels of a transformer block, float32, written as plain loops that vectorize.
//   exp_fast     e^x within 2 ulp for normal results, from arithmetic a vector unit has (libm's expf is
//                one scalar call per element, the largest cost of a small model's prompt pass after
//                the matrix products); 0 below -87, inf above 88.72, NaN kept
//   rmsnorm      out = x / sqrt(mean(x^2) + eps) * w     (float partial sums of <= 1024 squares,
//                totalled in double: rows can be 8k wide)
//   softmax      in place over the first n entries, max-subtracted
//   softmax_exp  softmax without the last step: x = e^(x - max x), returns 1 / sum (so a caller can
//                scale a smaller product instead of the row: attention scales P v, not P)
//   log_sum_exp  log(sum e^x) over n values, max-subtracted (a token's NLL is this minus its logit);
//                -inf for n = 0
//   scale        x *= s
//   silu_mul     g = silu(g) * u                        (SwiGLU's gate times up)
//   add          y += x
#include <cstdint>

namespace qlab::tensor {

float exp_fast(float x);
void rmsnorm(const float* x, const float* w, float eps, std::int64_t n, float* out);
void softmax(float* x, std::int64_t n);
float softmax_exp(float* x, std::int64_t n);
double log_sum_exp(const float* x, std::int64_t n);
void scale(float* x, float s, std::int64_t n);
void silu_mul(float* g, const float* u, std::int64_t n);
void add(float* y, const float* x, std::int64_t n);

}  // namespace qlab::tensor
