#pragma once
// The forward pass, read top to bottom in forward.cpp:
//   embed -> per layer [RMSNorm -> q,k,v (+bias) -> RoPE -> cache k,v -> causal GQA attention -> o
//   -> residual -> RMSNorm -> SwiGLU MLP -> residual] -> final RMSNorm -> lm_head
// A batch of tokens (of one sequence or several) goes through every Linear as one matrix product
// (BLAS GEMM); a single token (decoding) as matrix-vector products. The KV cache makes decoding one
// token cost one token.
#include <cstdint>
#include <span>
#include <vector>

#include "engine/model/model.h"

namespace qlab::model {

class KVCache {
 public:
  KVCache(const io::ModelConfig& c, std::int64_t capacity);
  void clear() { size_ = 0; }
  std::int64_t size() const { return size_; }          // tokens cached so far = next position
  std::int64_t capacity() const { return capacity_; }
  // Keys transposed, [n_kv*hd, key_stride()]: element e of every cached key in one row, so attention
  // reads 16 keys' element e as one vector. Values as rows, [capacity, n_kv*hd].
  float* k(int layer) { return k_[static_cast<std::size_t>(layer)].data(); }
  float* v(int layer) { return v_[static_cast<std::size_t>(layer)].data(); }
  std::int64_t key_stride() const { return key_stride_; }  // capacity rounded up to kKeyTile (zeros past it)
  void advance(std::int64_t n) { size_ += n; }

 private:
  std::int64_t capacity_ = 0, key_stride_ = 0, size_ = 0;
  std::vector<std::vector<float>> k_, v_;
};

// Runs `tokens` at positions cache.size() ... cache.size() + n - 1 and appends their keys and values
// to the cache. Writes the logits of the last n_logits tokens to logits[n_logits * vocab]
// (n_logits may be 0). Error on a token id outside the vocabulary or a full cache.
void forward(const Model& m, KVCache& cache, std::span<const std::int32_t> tokens, std::int64_t n_logits,
             float* logits);

// B independent sequences of equal length T in one pass (tokens holds sequence b at [b*T, (b+1)*T),
// B = caches.size()): every Linear is one matrix product over all B*T rows, attention stays within a
// sequence, and sequence b's keys and values go to caches[b]. Writes the logits of the last n_logits
// tokens of each sequence, sequence by sequence, to logits[B * n_logits * vocab]. Same errors as forward.
void forward_batch(const Model& m, std::span<KVCache* const> caches, std::span<const std::int32_t> tokens,
                   std::int64_t n_logits, float* logits);

// How many independent sequences of T tokens are worth one forward_batch call: the thread count
// where such sequences run one per thread (a small model's products are too small to share), else 1
// (each product already uses every thread, and more sequences only take more memory).
std::int64_t sequences_per_batch(const Model& m, std::int64_t T);

// Convenience: logits of every token of a fresh sequence, [n * vocab].
std::vector<float> forward_all(const Model& m, std::span<const std::int32_t> tokens);

}  // namespace qlab::model
