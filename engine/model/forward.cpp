#include "engine/model/forward.h"

#include <algorithm>
#include <cmath>

#include "engine/core/error.h"
#include "engine/core/threads.h"
#include "engine/tensor/blas.h"
#include "engine/tensor/ops.h"

namespace qlab::model {

using tensor::matmul;

KVCache::KVCache(const io::ModelConfig& c, std::int64_t capacity) : capacity_(capacity) {
  const auto per_layer = static_cast<std::size_t>(capacity * c.num_key_value_heads * c.head_dim);
  k_.assign(static_cast<std::size_t>(c.num_hidden_layers), std::vector<float>(per_layer));
  v_.assign(static_cast<std::size_t>(c.num_hidden_layers), std::vector<float>(per_layer));
}

namespace {

// body(t) for every token t, spread over the pool (elementwise work is small per token but adds up
// to a serial tail next to multi-threaded matrix products).
template <typename F>
void per_token(std::int64_t T, F&& body) {
  parallel_for(static_cast<std::size_t>(T), [&](std::size_t b, std::size_t e) {
    for (std::size_t t = b; t < e; ++t) body(static_cast<std::int64_t>(t));
  });
}

void add_bias(float* y, const std::vector<float>& b, std::int64_t T) {
  if (b.empty()) return;
  const auto n = static_cast<std::int64_t>(b.size());
  per_token(T, [&](std::int64_t t) { tensor::add(y + t * n, b.data(), n); });
}

// Causal grouped-query attention of T new queries (positions pos0 ..) over the cached keys.
// Work items are (head, block of queries): scores = q k^T / sqrt(hd) via GEMM over only the keys the
// block can see, masked softmax, then P v via GEMM. Blocks keep the causal triangle from costing a
// full square.
void attention(const io::ModelConfig& c, const float* q, const float* kc, const float* vc, std::int64_t T,
               std::int64_t pos0, float* out) {
  const std::int64_t hd = c.head_dim, nh = c.num_attention_heads, nkv = c.num_key_value_heads;
  const std::int64_t group = nh / nkv;
  constexpr std::int64_t kBlock = 64;
  const std::int64_t n_blocks = (T + kBlock - 1) / kBlock;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  parallel_for(static_cast<std::size_t>(nh * n_blocks), [&](std::size_t ib, std::size_t ie) {
    thread_local std::vector<float> S;
    for (auto item = static_cast<std::int64_t>(ib); item < static_cast<std::int64_t>(ie); ++item) {
      const std::int64_t h = item / n_blocks, t0 = (item % n_blocks) * kBlock;
      const std::int64_t nt = std::min(kBlock, T - t0), L = pos0 + t0 + nt, g = h / group;
      S.resize(static_cast<std::size_t>(nt * L));
      const float* qh = q + t0 * nh * hd + h * hd;
      tensor::sgemm_nt(nt, L, hd, qh, nh * hd, kc + g * hd, nkv * hd, S.data(), L);
      for (std::int64_t t = 0; t < nt; ++t) {
        float* row = S.data() + t * L;
        const std::int64_t visible = pos0 + t0 + t + 1;
        for (std::int64_t j = 0; j < visible; ++j) row[j] *= scale;
        tensor::softmax(row, visible);
        std::fill(row + visible, row + L, 0.0f);
      }
      tensor::sgemm_nn(nt, hd, L, S.data(), L, vc + g * hd, nkv * hd, out + t0 * nh * hd + h * hd, nh * hd);
    }
  });
}

}  // namespace

void forward(const Model& m, KVCache& cache, std::span<const std::int32_t> tokens, std::int64_t n_logits,
             float* logits) {
  const io::ModelConfig& c = m.config();
  const Weights& w = m.weights();
  const auto T = static_cast<std::int64_t>(tokens.size());
  if (T == 0) return;
  if (n_logits < 0 || n_logits > T) fail("forward: asked for {} logit rows of {} tokens", n_logits, T);
  const std::int64_t pos0 = cache.size();
  if (pos0 + T > cache.capacity())
    fail("context full: {} tokens do not fit after {} cached ones (capacity {})", T, pos0, cache.capacity());
  // Sliding-window attention (Mistral v0.1, Qwen2 with use_sliding_window) is not applied. Inside the
  // window it equals full causal attention; past it the logits would silently differ, so refuse.
  if (c.sliding_window > 0 && pos0 + T > c.sliding_window)
    fail("this model attends over a sliding window of {} tokens, which the runtime does not apply; "
         "use a context of at most {} tokens",
         c.sliding_window, c.sliding_window);
  for (std::int64_t t = 0; t < T; ++t) {
    const std::int32_t id = tokens[static_cast<std::size_t>(t)];
    if (id < 0 || id >= c.vocab_size)
      fail("token id {} at position {} is out of range for the model's vocabulary of {}", id, t, c.vocab_size);
  }
  tensor::ensure_blas_single_threaded();

  const std::int64_t H = c.hidden_size, I = c.intermediate_size, hd = c.head_dim;
  const std::int64_t q_dim = c.num_attention_heads * hd, kv_dim = c.num_key_value_heads * hd;
  const auto eps = static_cast<float>(c.rms_norm_eps);
  std::vector<float> x(static_cast<std::size_t>(T * H)), h(x.size()), q(static_cast<std::size_t>(T * q_dim)),
      att(q.size()), gate(static_cast<std::size_t>(T * I)), up(gate.size());

  per_token(T, [&](std::int64_t t) { w.embed.rows_to_f32(tokens[static_cast<std::size_t>(t)], 1, x.data() + t * H); });

  for (int l = 0; l < c.num_hidden_layers; ++l) {
    const LayerWeights& lw = w.layers[static_cast<std::size_t>(l)];
    float* kc = cache.k(l);
    float* vc = cache.v(l);
    per_token(T, [&](std::int64_t t) { tensor::rmsnorm(&x[t * H], lw.attn_norm.data(), eps, H, &h[t * H]); });
    // New keys and values go straight into their cache rows.
    matmul(h.data(), T, lw.wq, q.data());
    matmul(h.data(), T, lw.wk, kc + pos0 * kv_dim);
    matmul(h.data(), T, lw.wv, vc + pos0 * kv_dim);
    add_bias(q.data(), lw.bq, T);
    add_bias(kc + pos0 * kv_dim, lw.bk, T);
    add_bias(vc + pos0 * kv_dim, lw.bv, T);
    per_token(T, [&](std::int64_t t) {
      m.rope().apply(&q[t * q_dim], c.num_attention_heads, pos0 + t);
      m.rope().apply(kc + (pos0 + t) * kv_dim, c.num_key_value_heads, pos0 + t);
    });
    attention(c, q.data(), kc, vc, T, pos0, att.data());
    matmul(att.data(), T, lw.wo, h.data());
    per_token(T, [&](std::int64_t t) {
      tensor::add(&x[t * H], &h[t * H], H);
      tensor::rmsnorm(&x[t * H], lw.mlp_norm.data(), eps, H, &h[t * H]);
    });
    matmul(h.data(), T, lw.w_gate, gate.data());
    matmul(h.data(), T, lw.w_up, up.data());
    per_token(T, [&](std::int64_t t) { tensor::silu_mul(&gate[t * I], &up[t * I], I); });
    matmul(gate.data(), T, lw.w_down, h.data());
    per_token(T, [&](std::int64_t t) { tensor::add(&x[t * H], &h[t * H], H); });
  }
  cache.advance(T);

  if (n_logits == 0) return;
  const std::int64_t first = T - n_logits;
  for (std::int64_t t = first; t < T; ++t)
    tensor::rmsnorm(&x[t * H], w.final_norm.data(), eps, H, &h[(t - first) * H]);
  matmul(h.data(), n_logits, w.lm_head, logits);
}

std::vector<float> forward_all(const Model& m, std::span<const std::int32_t> tokens) {
  KVCache cache(m.config(), static_cast<std::int64_t>(tokens.size()));
  std::vector<float> logits(tokens.size() * static_cast<std::size_t>(m.vocab_size()));
  forward(m, cache, tokens, static_cast<std::int64_t>(tokens.size()), logits.data());
  return logits;
}

}  // namespace qlab::model
