#pragma once
// The trainer's building blocks, forward and backward side by side (row-major float32, N rows).
//   matmul_nt / matmul_nn / matmul_tn_acc   the three products a Linear needs (threaded over rows,
//                                           BLAS single-threaded inside each worker)
//   rmsnorm_*     y = x / sqrt(mean(x^2) + eps) * w
//   rope_*        rotate-half RoPE (transformers' Llama layout: pairs (i, i + head_dim/2))
//   attention_*   causal grouped-query softmax attention; P (probabilities) kept for backward
//   swiglu_*      a = silu(g) * u
//   cross_entropy logits -> mean NLL over rows with target >= 0; writes dlogits in place
#include <cstdint>
#include <vector>

namespace qlab::train {

// C[M,N] = A[M,K] * B[N,K]^T
void matmul_nt(std::int64_t M, std::int64_t N, std::int64_t K, const float* A, const float* B, float* C);
// C[M,N] (+)= A[M,N'=K] * B[K,N]   (dx = dy * W)
void matmul_nn(std::int64_t M, std::int64_t N, std::int64_t K, const float* A, const float* B, float* C,
               bool accumulate);
// C[N,K] += A[M,N]^T * B[M,K]        (dW += dy^T * x)
void matmul_tn_acc(std::int64_t M, std::int64_t N, std::int64_t K, const float* A, const float* B, float* C);

void rmsnorm_forward(std::int64_t N, std::int64_t H, const float* x, const float* w, float eps, float* y,
                     float* rstd);
// dx (+)= ..., dw += ...
void rmsnorm_backward(std::int64_t N, std::int64_t H, const float* x, const float* w, const float* rstd,
                      const float* dy, float* dx, float* dw, bool accumulate_dx);

struct RopeTable {
  std::int64_t T = 0, half = 0;
  std::vector<float> cos, sin;  // [T, half]
  RopeTable(std::int64_t T, std::int64_t head_dim, double theta);
};
// x [B*T, heads*head_dim]; position = row % T. inverse: the backward (rotation by -angle).
void rope_apply(const RopeTable& r, std::int64_t N, std::int64_t T, std::int64_t heads, float* x, bool inverse);

struct AttnShape {
  std::int64_t B, T, n_head, n_kv, hd;
};
// q [B*T, n_head*hd], k/v [B*T, n_kv*hd] -> out [B*T, n_head*hd]; P [B, n_head, T, T].
void attention_forward(const AttnShape& s, const float* q, const float* k, const float* v, float* P, float* out);
// dq, dk, dv overwritten.
void attention_backward(const AttnShape& s, const float* q, const float* k, const float* v, const float* P,
                        const float* dout, float* dq, float* dk, float* dv);

void swiglu_forward(std::size_t n, const float* g, const float* u, float* a);
void swiglu_backward(std::size_t n, const float* g, const float* u, const float* da, float* dg, float* du);

// logits [N, V] become dlogits = (softmax - onehot) * grad_scale for rows with target >= 0 (0 for
// the others) when want_grad; returns the sum of NLL and the number of rows counted.
double cross_entropy(std::int64_t N, std::int64_t V, float* logits, const std::int32_t* targets, bool want_grad,
                     float grad_scale, std::int64_t& counted, std::vector<double>* nll_per_row = nullptr);

}  // namespace qlab::train
