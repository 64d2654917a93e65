#pragma once
// The forward pass, read top to bottom in forward.cpp:
//   embed -> per layer decoder_layer (decoder_layer.h) -> final RMSNorm -> lm_head
// A batch of tokens (of one sequence or several) goes through every Linear as one matrix product
// (BLAS GEMM); a single token (decoding) as matrix-vector products. The KV cache makes decoding one
// token cost one token. The operations run on the backend that holds the caches (backend.h).
#include <cstdint>
#include <span>
#include <vector>

#include "engine/model/decoder_layer.h"
#include "engine/model/kv_cache.h"
#include "engine/model/model.h"

namespace qlab::model {

// Runs `tokens` at positions cache.size() ... cache.size() + n - 1 and appends their keys and values
// to the cache. Writes the logits of the last n_logits tokens to logits[n_logits * vocab]
// (n_logits may be 0). Error on a token id outside the vocabulary or a full cache.
void forward(const Model& m, KVCache& cache, std::span<const std::int32_t> tokens, std::int64_t n_logits,
             float* logits, const LayerHook& hook = {});

// B independent sequences of equal length T in one pass (tokens holds sequence b at [b*T, (b+1)*T),
// B = caches.size()): every Linear is one matrix product over all B*T rows, attention stays within a
// sequence, and sequence b's keys and values go to caches[b]. Writes the logits of the last n_logits
// tokens of each sequence, sequence by sequence, to logits[B * n_logits * vocab]. Same errors as forward.
// With a hook, the batch runs as one pass (never one sequence per thread), so the hook sees all
// B*T rows of each Linear input at once, on the calling thread.
void forward_batch(const Model& m, std::span<KVCache* const> caches, std::span<const std::int32_t> tokens,
                   std::int64_t n_logits, float* logits, const LayerHook& hook = {});

// forward_batch with the logits left in the memory of the caches' backend: `logits` is a buffer of
// B * n_logits * vocab floats there (Backend::alloc), so perplexity and KL-divergence read them
// where they are (a 128k vocabulary's rows never cross to the host). On the CPU, forward_batch.
void forward_batch_on_backend(const Model& m, std::span<KVCache* const> caches, std::span<const std::int32_t> tokens,
                              std::int64_t n_logits, float* logits, const LayerHook& hook = {});

// How many independent sequences of T tokens are worth one forward_batch call on the CPU backend:
// the thread count where such sequences run one per thread (a small model's products are too small
// to share), else 1 (each product already uses every thread, and more sequences only take more memory).
std::int64_t sequences_per_batch(const Model& m, std::int64_t T);

// Convenience: logits of every token of a fresh sequence, [n * vocab], run on `backend`.
std::vector<float> forward_all(const Model& m, std::span<const std::int32_t> tokens, Backend& backend = cpu_backend());

}  // namespace qlab::model
