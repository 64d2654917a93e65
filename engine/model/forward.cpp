#include "engine/model/forward.h"

#include "engine/core/error.h"
#include "engine/core/threads.h"
#include "engine/model/backend.h"

namespace qlab::model {

namespace {

void check_batch(const io::ModelConfig& c, std::span<KVCache* const> caches, std::span<const std::int32_t> tokens,
                 std::int64_t T, std::int64_t n_logits) {
  if (n_logits < 0 || n_logits > T) fail("forward: asked for {} logit rows of {} tokens", n_logits, T);
  check_caches(c, caches, T, true);
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    const std::int32_t id = tokens[i];
    if (id < 0 || id >= c.vocab_size)
      fail("token id {} at position {} is out of range for the model's vocabulary of {}", id,
           static_cast<std::int64_t>(i) % T, c.vocab_size);
  }
}

}  // namespace

std::int64_t sequences_per_batch(const Model& m, std::int64_t T) {
  return cpu_backend().sequences_per_batch(m.config(), T);
}

namespace {

// The pass behind forward_batch and forward_batch_on_backend: logits (B * n_logits rows) into `logits`,
// in host memory when to_host, else in the backend's.
void run_batch(const Model& m, std::span<KVCache* const> caches, std::span<const std::int32_t> tokens,
               std::int64_t n_logits, float* logits, const LayerHook& hook, bool to_host) {
  const io::ModelConfig& c = m.config();
  const Weights& w = m.weights();
  const auto B = static_cast<std::int64_t>(caches.size());
  if (B == 0 || tokens.empty()) return;
  if (static_cast<std::int64_t>(tokens.size()) % B != 0)
    fail("forward: {} tokens do not split into {} sequences of equal length", tokens.size(), B);
  const std::int64_t T = static_cast<std::int64_t>(tokens.size()) / B;
  check_batch(c, caches, tokens, T, n_logits);
  Backend& be = caches[0]->backend();
  // A small model's products are too small to share among many threads: each would get a few
  // microseconds of work between two synchronisations. Several such sequences run side by side
  // instead, each whole pass on one thread (the pool runs the nested calls inline).
  if (B > 1 && !hook && be.runs_sequences_on_threads() && be.sequences_per_batch(c, T) > 1) {
    const std::int64_t V = c.vocab_size;
    parallel_for(
        static_cast<std::size_t>(B),
        [&](std::size_t b0, std::size_t b1) {
          for (auto b = static_cast<std::int64_t>(b0); b < static_cast<std::int64_t>(b1); ++b)
            run_batch(m, caches.subspan(static_cast<std::size_t>(b), 1),
                      tokens.subspan(static_cast<std::size_t>(b * T), static_cast<std::size_t>(T)), n_logits,
                      logits + b * n_logits * V, {}, to_host);
        },
        1);
    return;
  }

  Pass& p = be.begin_pass(m, caches, T);
  const std::int64_t H = c.hidden_size;
  be.embed(w.embed, tokens, p.x);
  for (int l = 0; l < c.num_hidden_layers; ++l) decoder_layer(be, p, l, hook);
  for (KVCache* cache : caches) cache->advance(T);

  if (n_logits == 0) return;
  // The last n_logits rows of each sequence, in sequence order, normed into h, then lm_head.
  const std::int64_t first = T - n_logits;
  const auto eps = static_cast<float>(c.rms_norm_eps);
  for (std::int64_t b = 0; b < B; ++b)
    be.rmsnorm(p.x + (b * T + first) * H, w.final_norm, eps, n_logits, H, p.h + b * n_logits * H);
  // A backend with memory of its own computes host-bound logits into its buffer, then copies them.
  const bool staged = to_host && !be.host_memory();
  const std::int64_t n = B * n_logits * c.vocab_size;
  float* out = staged ? be.logits_buffer(n) : logits;
  be.matmul(p.h, B * n_logits, w.lm_head, out);
  if (staged) be.download(out, n, logits);
}

}  // namespace

void forward_batch(const Model& m, std::span<KVCache* const> caches, std::span<const std::int32_t> tokens,
                   std::int64_t n_logits, float* logits, const LayerHook& hook) {
  run_batch(m, caches, tokens, n_logits, logits, hook, true);
}

void forward_batch_on_backend(const Model& m, std::span<KVCache* const> caches, std::span<const std::int32_t> tokens,
                              std::int64_t n_logits, float* logits, const LayerHook& hook) {
  run_batch(m, caches, tokens, n_logits, logits, hook, false);
}

void forward(const Model& m, KVCache& cache, std::span<const std::int32_t> tokens, std::int64_t n_logits,
             float* logits, const LayerHook& hook) {
  KVCache* one = &cache;
  forward_batch(m, std::span<KVCache* const>(&one, 1), tokens, n_logits, logits, hook);
}

std::vector<float> forward_all(const Model& m, std::span<const std::int32_t> tokens, Backend& backend) {
  KVCache cache(m.config(), static_cast<std::int64_t>(tokens.size()), 0, backend);
  std::vector<float> logits(tokens.size() * static_cast<std::size_t>(m.vocab_size()));
  forward(m, cache, tokens, static_cast<std::int64_t>(tokens.size()), logits.data());
  return logits;
}

}  // namespace qlab::model
