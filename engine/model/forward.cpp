#include "engine/model/forward.h"

#include <algorithm>
#include <cmath>

#include "engine/core/error.h"
#include "engine/core/threads.h"
#include "engine/model/attention.h"
#include "engine/tensor/blas.h"
#include "engine/tensor/ops.h"

namespace qlab::model {

using tensor::matmul;

KVCache::KVCache(const io::ModelConfig& c, std::int64_t capacity)
    : capacity_(capacity), key_stride_((capacity + kKeyTile - 1) / kKeyTile * kKeyTile) {
  const auto kv_dim = static_cast<std::size_t>(c.num_key_value_heads * c.head_dim);
  const auto layers = static_cast<std::size_t>(c.num_hidden_layers);
  k_.assign(layers, std::vector<float>(kv_dim * static_cast<std::size_t>(key_stride_)));
  v_.assign(layers, std::vector<float>(kv_dim * static_cast<std::size_t>(capacity)));
}

namespace {

// body(t) for every token t, spread over the pool when the tokens' total work (`width` element
// operations each) is worth splitting (elementwise work is small per token but adds up to a serial
// tail next to multi-threaded matrix products).
template <typename F>
void per_token(std::int64_t T, std::int64_t width, F&& body) {
  parallel_for(
      static_cast<std::size_t>(T),
      [&](std::size_t b, std::size_t e) {
        for (std::size_t t = b; t < e; ++t) body(static_cast<std::int64_t>(t));
      },
      grain_for_work(static_cast<double>(width)));
}

// Causal grouped-query attention of T new queries per sequence (sequence b's at positions
// caches[b]->size() ..) over that sequence's cached keys. q and out are [B * T, n_heads * hd].
// Work items are (sequence, head, block of queries), each over only the keys the block can see:
// blocks keep the causal triangle from costing a full square.
void attention(const io::ModelConfig& c, std::span<KVCache* const> caches, int layer, const float* q, std::int64_t T,
               float* out) {
  const std::int64_t hd = c.head_dim, nh = c.num_attention_heads, nkv = c.num_key_value_heads;
  const std::int64_t group = nh / nkv, B = static_cast<std::int64_t>(caches.size());
  constexpr std::int64_t kBlock = 64;
  const std::int64_t n_blocks = (T + kBlock - 1) / kBlock;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  // Multiply-adds of one item on average: two products of nt x L x hd (L grows block by block).
  const double item_work = 2.0 * static_cast<double>(hd) * static_cast<double>(T) *
                           (static_cast<double>(caches[0]->size()) + static_cast<double>(T + kBlock) / 2) /
                           static_cast<double>(n_blocks);
  parallel_for(
      static_cast<std::size_t>(B * nh * n_blocks),
      [&](std::size_t ib, std::size_t ie) {
        for (auto item = static_cast<std::int64_t>(ib); item < static_cast<std::int64_t>(ie); ++item) {
          const std::int64_t b = item / (nh * n_blocks), h = item / n_blocks % nh, t0 = item % n_blocks * kBlock;
          KVCache& cache = *caches[static_cast<std::size_t>(b)];
          const std::int64_t g = h / group;
          AttentionBlock a;
          a.q = q + (b * T + t0) * nh * hd + h * hd;
          a.q_stride = nh * hd;
          a.kt = cache.k(layer) + g * hd * cache.key_stride();
          a.kt_stride = cache.key_stride();
          a.v = cache.v(layer) + g * hd;
          a.v_stride = nkv * hd;
          a.out = out + (b * T + t0) * nh * hd + h * hd;
          a.out_stride = nh * hd;
          a.nt = std::min(kBlock, T - t0);
          a.first_visible = cache.size() + t0;
          a.L = a.first_visible + a.nt;
          a.head_dim = hd;
          a.scale = scale;
          attend_block(a);
        }
      },
      grain_for_work(item_work));
}

// Buffers of one forward pass, kept per thread between calls: a prompt's activations are megabytes,
// and fresh allocations that size come from the OS as untouched pages on every call.
struct Workspace {
  std::vector<float> x, h, q, k, v, att, gate, up, cs, sn;
  std::vector<std::int64_t> pos;  // position of each row
};

std::vector<float>& sized(std::vector<float>& v, std::int64_t n) {
  v.resize(static_cast<std::size_t>(n));
  return v;
}

void check_batch(const io::ModelConfig& c, std::span<KVCache* const> caches, std::span<const std::int32_t> tokens,
                 std::int64_t T, std::int64_t n_logits) {
  if (n_logits < 0 || n_logits > T) fail("forward: asked for {} logit rows of {} tokens", n_logits, T);
  for (KVCache* cache : caches) {
    const std::int64_t pos0 = cache->size();
    if (pos0 + T > cache->capacity())
      fail("context full: {} tokens do not fit after {} cached ones (capacity {})", T, pos0, cache->capacity());
    // Sliding-window attention (Mistral v0.1, Qwen2 with use_sliding_window) is not applied. Inside
    // the window it equals full causal attention; past it the logits would silently differ, so refuse.
    if (c.sliding_window > 0 && pos0 + T > c.sliding_window)
      fail("this model attends over a sliding window of {} tokens, which the runtime does not apply; "
           "use a context of at most {} tokens",
           c.sliding_window, c.sliding_window);
  }
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    const std::int32_t id = tokens[i];
    if (id < 0 || id >= c.vocab_size)
      fail("token id {} at position {} is out of range for the model's vocabulary of {}", id,
           static_cast<std::int64_t>(i) % T, c.vocab_size);
  }
}

// Multiply-adds of a sequence's widest product (tokens x intermediate x hidden) below which a
// batch of sequences is run one sequence per thread rather than each product split across threads.
constexpr double kSequenceParallelMaxWork = 16.0 * 1024 * 1024;

bool runs_sequence_parallel(const io::ModelConfig& c, std::int64_t T) {
  const double sequence_product = static_cast<double>(T) * static_cast<double>(c.intermediate_size) *
                                  static_cast<double>(c.hidden_size);
  return thread_count() > 1 && sequence_product < kSequenceParallelMaxWork;
}

}  // namespace

std::int64_t sequences_per_batch(const Model& m, std::int64_t T) {
  return runs_sequence_parallel(m.config(), T) ? thread_count() : 1;
}

void forward_batch(const Model& m, std::span<KVCache* const> caches, std::span<const std::int32_t> tokens,
                   std::int64_t n_logits, float* logits) {
  const io::ModelConfig& c = m.config();
  const Weights& w = m.weights();
  const auto B = static_cast<std::int64_t>(caches.size());
  if (B == 0 || tokens.empty()) return;
  if (static_cast<std::int64_t>(tokens.size()) % B != 0)
    fail("forward: {} tokens do not split into {} sequences of equal length", tokens.size(), B);
  const std::int64_t T = static_cast<std::int64_t>(tokens.size()) / B, R = B * T;  // R rows in all
  check_batch(c, caches, tokens, T, n_logits);
  // A small model's products are too small to share among many threads: each would get a few
  // microseconds of work between two synchronisations. Several such sequences run side by side
  // instead, each whole pass on one thread (the pool runs the nested calls inline).
  if (B > 1 && runs_sequence_parallel(c, T)) {
    const std::int64_t V = c.vocab_size;
    parallel_for(
        static_cast<std::size_t>(B),
        [&](std::size_t b0, std::size_t b1) {
          for (auto b = static_cast<std::int64_t>(b0); b < static_cast<std::int64_t>(b1); ++b)
            forward_batch(m, caches.subspan(static_cast<std::size_t>(b), 1),
                          tokens.subspan(static_cast<std::size_t>(b * T), static_cast<std::size_t>(T)), n_logits,
                          logits + b * n_logits * V);
        },
        1);
    return;
  }
  tensor::ensure_blas_single_threaded();

  const std::int64_t H = c.hidden_size, I = c.intermediate_size, hd = c.head_dim;
  const int nh = c.num_attention_heads, nkv = c.num_key_value_heads;
  const std::int64_t q_dim = nh * hd, kv_dim = nkv * hd, half = hd / 2;
  const auto eps = static_cast<float>(c.rms_norm_eps);
  thread_local Workspace ws;
  float* x = sized(ws.x, R * H).data();
  float* h = sized(ws.h, R * H).data();
  float* q = sized(ws.q, R * q_dim).data();
  float* att = sized(ws.att, R * q_dim).data();
  float* gate = sized(ws.gate, R * I).data();
  float* up = sized(ws.up, R * I).data();
  // New keys go through staging rows (RoPE, then into the cache's transposed layout). One sequence
  // writes its new values straight into its cache rows; several go through staging rows first.
  float* ks = sized(ws.k, R * kv_dim).data();
  float* vs = B > 1 ? sized(ws.v, R * kv_dim).data() : nullptr;
  // RoPE angles of each distinct position, computed once for all layers: rows r of sequences that
  // start at the same position share table row r % T. (Lambdas below use these pointers, never `ws`
  // itself: inside a pool worker the name `ws` would be that worker's own, empty workspace.)
  bool same_start = true;
  for (KVCache* cache : caches) same_start = same_start && cache->size() == caches[0]->size();
  const std::int64_t n_pos = same_start ? T : R;
  ws.pos.resize(static_cast<std::size_t>(n_pos));
  std::int64_t* pos = ws.pos.data();
  for (std::int64_t r = 0; r < n_pos; ++r) pos[r] = caches[static_cast<std::size_t>(r / T)]->size() + r % T;
  float* cs = sized(ws.cs, n_pos * half).data();
  float* sn = sized(ws.sn, n_pos * half).data();
  per_token(n_pos, 8 * half, [&](std::int64_t r) { m.rope().cos_sin(pos[r], cs + r * half, sn + r * half); });
  auto angles = [&](std::int64_t r) { return (same_start ? r % T : r) * half; };

  per_token(R, H, [&](std::int64_t r) { w.embed.rows_to_f32(tokens[static_cast<std::size_t>(r)], 1, x + r * H); });

  for (int l = 0; l < c.num_hidden_layers; ++l) {
    const LayerWeights& lw = w.layers[static_cast<std::size_t>(l)];
    float* kn = ks;  // the new rows' keys and values
    float* vn = B > 1 ? vs : caches[0]->v(l) + caches[0]->size() * kv_dim;
    per_token(R, H, [&](std::int64_t r) { tensor::rmsnorm(x + r * H, lw.attn_norm.data(), eps, H, h + r * H); });
    matmul(h, R, lw.wq, q);
    matmul(h, R, lw.wk, kn);
    matmul(h, R, lw.wv, vn);
    per_token(R, 2 * (q_dim + 2 * kv_dim), [&](std::int64_t r) {
      if (!lw.bq.empty()) tensor::add(q + r * q_dim, lw.bq.data(), q_dim);
      if (!lw.bk.empty()) tensor::add(kn + r * kv_dim, lw.bk.data(), kv_dim);
      if (!lw.bv.empty()) tensor::add(vn + r * kv_dim, lw.bv.data(), kv_dim);
      m.rope().rotate(q + r * q_dim, nh, cs + angles(r), sn + angles(r));
      m.rope().rotate(kn + r * kv_dim, nkv, cs + angles(r), sn + angles(r));
    });
    for (std::int64_t b = 0; b < B; ++b) {
      KVCache& cache = *caches[static_cast<std::size_t>(b)];
      const std::int64_t at = cache.size(), ldk = cache.key_stride();
      float* kt = cache.k(l);
      const float* kb = ks + b * T * kv_dim;
      for (std::int64_t e = 0; e < kv_dim; ++e)
        for (std::int64_t t = 0; t < T; ++t) kt[e * ldk + at + t] = kb[t * kv_dim + e];
      if (B > 1) std::copy_n(vs + b * T * kv_dim, T * kv_dim, cache.v(l) + at * kv_dim);
    }
    attention(c, caches, l, q, T, att);
    matmul(att, R, lw.wo, h);
    per_token(R, 2 * H, [&](std::int64_t r) {
      tensor::add(x + r * H, h + r * H, H);
      tensor::rmsnorm(x + r * H, lw.mlp_norm.data(), eps, H, h + r * H);
    });
    matmul(h, R, lw.w_gate, gate);
    matmul(h, R, lw.w_up, up);
    per_token(R, 4 * I, [&](std::int64_t r) { tensor::silu_mul(gate + r * I, up + r * I, I); });
    matmul(gate, R, lw.w_down, h);
    per_token(R, H, [&](std::int64_t r) { tensor::add(x + r * H, h + r * H, H); });
  }
  for (KVCache* cache : caches) cache->advance(T);

  if (n_logits == 0) return;
  // The last n_logits rows of each sequence, in sequence order.
  const std::int64_t first = T - n_logits;
  for (std::int64_t b = 0; b < B; ++b)
    for (std::int64_t t = first; t < T; ++t)
      tensor::rmsnorm(x + (b * T + t) * H, w.final_norm.data(), eps, H, h + (b * n_logits + t - first) * H);
  matmul(h, B * n_logits, w.lm_head, logits);
}

void forward(const Model& m, KVCache& cache, std::span<const std::int32_t> tokens, std::int64_t n_logits,
             float* logits) {
  KVCache* one = &cache;
  forward_batch(m, std::span<KVCache* const>(&one, 1), tokens, n_logits, logits);
}

std::vector<float> forward_all(const Model& m, std::span<const std::int32_t> tokens) {
  KVCache cache(m.config(), static_cast<std::int64_t>(tokens.size()));
  std::vector<float> logits(tokens.size() * static_cast<std::size_t>(m.vocab_size()));
  forward(m, cache, tokens, static_cast<std::int64_t>(tokens.size()), logits.data());
  return logits;
}

}  // namespace qlab::model
