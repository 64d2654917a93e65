#pragma once
// The seam between the forward pass and the hardware that runs it (ggml_backend, llm.c's kernels):
// a few coarse operations, each over every row of a pass at once, plus the memory they work in.
// forward.cpp and decoder_layer.cpp say *what* is computed, in order; a Backend says *how* and
// *where*. The CPU backend (backend_cpu.cpp, cpu_backend()) is the reference every other backend is
// tested against; a CUDA backend adds its own implementation and keeps its buffers on the device.
//
//   memory      new_kv_storage (a KVCache's buffers), begin_pass (a pass's activations and per-pass
//               tables, reused between passes: per thread on the CPU), upload / download, alloc
//               (a buffer that outlives passes), logits_buffer (where a pass's logits go before
//               they are copied to the host, on a backend whose memory is not the host's)
//   operations  embed, rmsnorm, matmul, bias_rope, new_kv / store_kv, attention, residual_rmsnorm,
//               swiglu, residual_add, accumulate_gram (calibration's X^T X), nll (log-sum-exp minus the target's logit, for perplexity),
//               kl_rows (KL-divergence of two models' logit rows): logits never leave the backend
//   calibration gptq_solver: GPTQ's factorisations and column loop where the backend has dense
//               linear algebra of its own (gptq_solver.h); none on the CPU, where quant/gptq.cpp
//               solves on the thread pool
// Every pointer an operation takes is in the backend's memory (host memory for the CPU) unless its
// comment says host; weights are tensor::Matrix in host memory (a device backend mirrors the ones
// it uses, and keeps them in their stored type).
#include <cstdint>
#include <memory>
#include <span>

#include "engine/model/gptq_solver.h"
#include "engine/model/kv_cache.h"
#include "engine/model/model.h"

namespace qlab::model {

// One forward pass over B sequences of T new tokens each (R = B * T rows), sequence b's rows at
// positions caches[b]->size() ... Row-major activations, in the backend's memory:
struct Pass {
  const Model* model = nullptr;
  std::span<KVCache* const> caches;
  std::int64_t B = 0, T = 0, R = 0;
  float* x = nullptr;     // [R, H]      the residual stream
  float* h = nullptr;     // [R, H]      normed input of a Linear, or a Linear's output
  float* q = nullptr;     // [R, nh*hd]  queries
  float* att = nullptr;   // [R, nh*hd]  attention output (o_proj's input)
  float* gate = nullptr;  // [R, I]      gate_proj's output, then SwiGLU's (down_proj's input)
  float* up = nullptr;    // [R, I]      up_proj's output
};

// Where one layer's new keys and values are written ([R, nkv*hd] each) before store_kv takes them
// into the caches: staging rows, or (when the layout allows) the cache rows themselves.
struct NewKV {
  float* k = nullptr;
  float* v = nullptr;
};

// What kl_rows gives per scored token (eval/perplexity.h's KL-divergence mode).
struct TokenKL {
  double kld = 0;       // KL(base || test) over the vocabulary, clamped at 0
  double nll_base = 0;  // -log p_base(target), as nll computes it
  double nll_test = 0;
  double delta_p = 0;   // p_test(target) - p_base(target)
  bool same_top = false;  // both rows' argmax (first on ties) agree
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual const char* name() const = 0;

  // ---- memory ------------------------------------------------------------------------------------
  virtual std::unique_ptr<KVStorage> new_kv_storage(const io::ModelConfig& c, int layers, std::int64_t capacity) = 0;
  // The buffers of a pass of T new tokens per cache (and its positions' RoPE angles), valid until the
  // next begin_pass on the same thread. The caches are checked (check_caches) by the caller.
  virtual Pass& begin_pass(const Model& m, std::span<KVCache* const> caches, std::int64_t T) = 0;
  // How many sequences of T tokens are worth one pass (the CPU: one per thread when each sequence's
  // products are too small to share among threads).
  virtual std::int64_t sequences_per_batch(const io::ModelConfig& c, std::int64_t T) const = 0;
  // Whether forward_batch runs such a batch one sequence per thread (each a pass of its own) rather
  // than as one pass over all rows.
  virtual bool runs_sequences_on_threads() const { return false; }

  // Whether its memory is the host's (a pointer it hands out can be read by the caller directly).
  virtual bool host_memory() const = 0;
  // Copies between host memory and the backend's (n floats).
  virtual void upload(const float* host, std::int64_t n, float* dst) = 0;
  virtual void download(const float* src, std::int64_t n, float* host) = 0;
  // n floats of the backend's memory, freed when the last copy of the pointer goes.
  virtual std::shared_ptr<float> alloc(std::int64_t n) = 0;
  // n floats of the backend's memory for the logits of the pass begun last on this thread, valid
  // until the next call (forward_batch's lm_head output on a backend whose memory is not the host's).
  virtual float* logits_buffer(std::int64_t n) = 0;

  // ---- operations over the rows of a pass -----------------------------------------------------------
  // x[r] = table row tokens[r], [tokens.size(), table.cols] (ids already checked against the vocabulary).
  virtual void embed(const tensor::Matrix& table, std::span<const std::int32_t> tokens, float* x) = 0;
  // out[r] = x[r] / sqrt(mean(x[r]^2) + eps) * w, for `rows` rows of n.
  virtual void rmsnorm(const float* x, std::span<const float> w, float eps, std::int64_t rows, std::int64_t n,
                       float* out) = 0;
  // y[rows, w.rows] = x[rows, w.cols] * w^T.
  virtual void matmul(const float* x, std::int64_t rows, const tensor::Matrix& w, float* y) = 0;
  virtual NewKV new_kv(Pass& p, int layer) = 0;
  // q (+ bq), k (+ bk), v (+ bv) of every row, then RoPE on q and k at each row's position.
  virtual void bias_rope(Pass& p, const LayerWeights& lw, NewKV kv) = 0;
  // The new rows' keys and values into each sequence's cache (layer's slot).
  virtual void store_kv(Pass& p, int layer, NewKV kv) = 0;
  // p.att = causal grouped-query attention of p.q over each sequence's cached keys and values.
  virtual void attention(Pass& p, int layer) = 0;
  // x += h, then out = rmsnorm(x) (out may be h).
  virtual void residual_rmsnorm(float* x, const float* h, std::span<const float> w, float eps, std::int64_t rows,
                                std::int64_t n, float* out) = 0;
  // gate = silu(gate) * up.
  virtual void swiglu(float* gate, const float* up, std::int64_t rows, std::int64_t n) = 0;
  // x += h.
  virtual void residual_add(float* x, const float* h, std::int64_t rows, std::int64_t n) = 0;
  // x [rows, cols], a Linear's input, quantized and dequantized in place as a checkpoint with static
  // activation scales says (formats/activation_qdq.h). By default on the host: in place where the
  // backend's memory is the host's, else through a host copy (backend.cpp).
  virtual void quantize_activations(float* x, std::int64_t rows, std::int64_t cols, const ActivationQuant& a);
  // g [cols, cols] row-major: its upper triangle (j >= i) += X^T X of x [rows, cols] (= when
  // accumulate is false), float32 operands and sums (GPTQ's Hessian: quant/input_stats.h); the other
  // elements are left unspecified. By default tensor/gram.h on the host (through host copies where the
  // backend's memory is elsewhere).
  virtual void accumulate_gram(const float* x, std::int64_t rows, std::int64_t cols, float* g, bool accumulate);
  // out[i] = log(sum_j e^logits[i][j]) - logits[i][targets[i]], the negative log-likelihood of each
  // row's target (float exp, the sum in double), for rows of `vocab` logits.
  // targets and out in host memory.
  virtual void nll(const float* logits, std::int64_t rows, std::int64_t vocab, const std::int32_t* targets,
                   double* out) = 0;
  // out[i] = the KL-divergence and the rest of TokenKL of test row i against base row i (rows of
  // `vocab` logits); log-softmax in double over float differences from each row's max. targets and
  // out in host memory.
  virtual void kl_rows(const float* base, const float* test, std::int64_t rows, std::int64_t vocab,
                       const std::int32_t* targets, TokenKL* out) = 0;

  // ---- calibration -----------------------------------------------------------------------------------
  // A solver for one Linear at a time, or nullptr where the host solves.
  virtual std::unique_ptr<GptqSolver> gptq_solver() { return nullptr; }
};

// The CPU implementation: the engine's thread pool, BLAS for products, the vectorized kernels of
// tensor/ops.h and attention.h.
Backend& cpu_backend();

}  // namespace qlab::model
