#pragma once
// Launchers of the hand-written kernels, one per operation no library does (products go through
// cuBLAS in backend.cpp). Each enqueues on `s` and checks the launch; shapes as in backend.h:
// row-major, `rows` rows of `n`. The .cu files that define them:
//   ops.cu        rmsnorm, residual_rmsnorm, bias_rope, swiglu, residual_add, to_bf16, nll, kl_rows
//   attention.cu  causal GQA attention: a tiled kernel (FlashAttention's online softmax) whose query
//                 tiles pack the heads of one KV group, split along the keys when the queries alone
//                 do not fill the GPU (decoding), with a combine step
//   gemv.cu       y = x W^T for a few rows of x (decoding): one pass over the stored weights
//   gemv_packed.cu  the same over a packed weight, dequantized in registers
//   dequant.cu    rows of a weight (a slab, or gathered: the embedding) widened from f16/bf16 or
//                 dequantized from a block format, to f32 or bf16
//   gptq.cu       GPTQ's column loop inside a block (model/gptq_solver.h), its row ranges, and the
//                 transposes between W's columns and the block's row-contiguous copy
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "engine/cuda/device_weight.h"

namespace qlab::cuda::kernels {

// ---- ops.cu ----------------------------------------------------------------------------------------
void rmsnorm(const float* x, const float* w, float eps, std::int64_t rows, std::int64_t n, float* out, cudaStream_t s);
// x += h, then out = rmsnorm(x); out may be h.
void residual_rmsnorm(float* x, const float* h, const float* w, float eps, std::int64_t rows, std::int64_t n,
                      float* out, cudaStream_t s);
struct RopeArgs {
  float *q = nullptr, *k = nullptr, *v = nullptr;            // [rows, nh*hd], [rows, nkv*hd] x2
  const float *bq = nullptr, *bk = nullptr, *bv = nullptr;  // biases or null
  const float *cs = nullptr, *sn = nullptr;                 // [n_pos, hd/2] each
  std::int64_t rows = 0, T = 0;
  bool same_start = true;  // row r's angles at table row r % T, else r
  int nh = 0, nkv = 0, hd = 0;
};
void bias_rope(const RopeArgs& a, cudaStream_t s);
// gate16, when given, also receives the result rounded to bfloat16 (down_proj's input in bf16 math).
void swiglu(float* gate, const float* up, std::int64_t n, cudaStream_t s, __nv_bfloat16* gate16 = nullptr);
void residual_add(float* x, const float* h, std::int64_t n, cudaStream_t s);
void to_bf16(const float* x, std::int64_t n, __nv_bfloat16* out, cudaStream_t s);
// out[i] = logsumexp(row i) - row i [targets[i]] (float exps, double sums).
void nll(const float* logits, std::int64_t rows, std::int64_t vocab, const std::int32_t* targets, double* out,
         cudaStream_t s);
struct KLRow {
  double kld, nll_base, nll_test, delta_p;
  int same_top;
  int pad;
};
void kl_rows(const float* base, const float* test, std::int64_t rows, std::int64_t vocab, const std::int32_t* targets,
             KLRow* out, cudaStream_t s);

// ---- attention.cu ----------------------------------------------------------------------------------
struct AttentionArgs {
  const float* q = nullptr;          // [B*T, nh*hd]
  float* out = nullptr;              // [B*T, nh*hd]
  const float* const* k = nullptr;   // per sequence: its cache's keys of this layer, [capacity, nkv*hd]
  const float* const* v = nullptr;   // per sequence: values, the same layout
  const std::int64_t* pos0 = nullptr;  // per sequence: position of its first new row (keys before it cached)
  int B = 0, T = 0, nh = 0, nkv = 0, hd = 0;
  float scale = 1;
  std::int64_t max_pos0 = 0;  // the largest pos0 (sizes the key range)
  float* workspace = nullptr;  // attention_workspace_floats() floats when splitting
};
// Floats of workspace a call may need on a GPU of `sm_count` multiprocessors (0 when it will not split).
std::int64_t attention_workspace_floats(const AttentionArgs& a, int sm_count);
// max_smem: the device's opt-in shared memory per block (the tiled kernel's need decides its use).
void attention(const AttentionArgs& a, int sm_count, int max_smem, cudaStream_t s);

// ---- gemv.cu ---------------------------------------------------------------------------------------
// y[m, row0 + i] = sum_k x[m, k] w[row0 + i, k], for m < M (<= kGemvMaxRows), i < n, float32
// arithmetic; w F32 / F16 / BF16 with `cols` = K; y's rows ldy apart.
inline constexpr int kGemvMaxRows = 8;
void gemv(const DeviceWeight& w, std::int64_t row0, std::int64_t n, const float* x, int M, float* y,
          std::int64_t ldy, cudaStream_t s);
// Several matrices of one type and width K against the same x, in one launch: part p's rows are
// global rows [start[p], start[p + 1]), its weights w[p] (16-byte aligned for the fast path), its
// outputs y[p][m * ldy[p] + row].
inline constexpr int kGemvMaxParts = 4;
struct GemvBatch {
  const void* w[kGemvMaxParts] = {};
  float* y[kGemvMaxParts] = {};
  std::int64_t ldy[kGemvMaxParts] = {};
  std::int64_t start[kGemvMaxParts + 1] = {};
  int count = 0;
};
void gemv(const GemvBatch& b, WeightType type, std::int64_t K, const float* x, int M, cudaStream_t s);

// ---- gemv_packed.cu --------------------------------------------------------------------------------
// y[m * ldy + r] = sum_k x[m, k] w[r, k] for every row r of a packed weight, m < M (<= kGemvMaxRows);
// each weight its codec's value (dequant.cu's), float32 products and sums.
void gemv_packed(const DeviceWeight& w, const DecodeTables* t, const float* x, int M, float* y, std::int64_t ldy,
                 cudaStream_t s);

// ---- dequant.cu ------------------------------------------------------------------------------------
// Rows of w (ids[i], or row0 + i when ids is null; i < n) as float32 / bfloat16 into out[n, cols]:
// F16 / BF16 / F32 widened or narrowed, packed ones dequantized exactly as their CPU codec.
void rows_to_f32(const DeviceWeight& w, const DecodeTables* t, const std::int32_t* ids, std::int64_t row0,
                 std::int64_t n, float* out, cudaStream_t s);
void rows_to_bf16(const DeviceWeight& w, const DecodeTables* t, const std::int32_t* ids, std::int64_t row0,
                  std::int64_t n, __nv_bfloat16* out, cudaStream_t s);

// ---- gptq.cu ---------------------------------------------------------------------------------------
// Row-major W [rows, cols]; the block's copy [count, rows] (column i's rows contiguous).
struct GptqBlockArgs {
  float* w1 = nullptr;                // [count, rows]: the block's columns in, q out
  float* err = nullptr;               // [count, rows]: (w - q) / U[c][c]
  std::uint8_t* codes1 = nullptr;     // [count, rows]
  const float* u = nullptr;           // [cols, cols] row-major, upper triangle used
  const std::int32_t* slot = nullptr;  // [cols]: each column's parameter set
  const float4* params = nullptr;     // [slots, rows]: scale, zero, lo, hi
  double* loss = nullptr;             // += sum of (w - q)^2 / U[c][c]^2
  std::int64_t rows = 0, cols = 0, i1 = 0;
  int count = 0;
};
void gptq_block(const GptqBlockArgs& a, cudaStream_t s);
// out[r] = {min(0, min), max(0, max), max |.|} of w[r][c .. c + n).
void gptq_ranges(const float* w, std::int64_t rows, std::int64_t cols, std::int64_t c, std::int64_t n, float* out,
                 cudaStream_t s);
// w1[i][r] = w[r][i1 + i] (gather), or the reverse (scatter), i < count; the same for codes.
void gptq_gather(const float* w, std::int64_t rows, std::int64_t cols, std::int64_t i1, int count, float* w1,
                 cudaStream_t s);
void gptq_scatter(const float* w1, const std::uint8_t* codes1, std::int64_t rows, std::int64_t cols, std::int64_t i1,
                  int count, float* w, std::uint8_t* codes, cudaStream_t s);
// a[j][j] += add, j < n (row stride n).
void add_diagonal(float* a, std::int64_t n, float add, cudaStream_t s);

}  // namespace qlab::cuda::kernels
