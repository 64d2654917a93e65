// The CPU backend: the reference implementation of backend.h's operations.
//   threading   row-wise operations split rows over the engine's pool when their total work is worth
//               it (per_token); products go through tensor::matmul (BLAS, pool- or BLAS-threaded)
//   KV layout   keys transposed, [nkv*hd, key_stride] per layer: element e of every cached key in
//               one row, so attention reads kKeyTile keys' element e as one vector (key_stride is
//               the capacity rounded up to kKeyTile, zeros past it); values as rows, [capacity, nkv*hd]
//   workspace   one pass's buffers per thread, kept between passes: a prompt's activations are
//               megabytes, and fresh allocations that size come from the OS as untouched pages on
//               every call
#include <algorithm>
#include <cmath>
#include <vector>

#include "engine/core/error.h"
#include "engine/core/threads.h"
#include "engine/model/attention.h"
#include "engine/model/backend.h"
#include "engine/model/sampling.h"
#include "engine/tensor/blas.h"
#include "engine/tensor/ops.h"

namespace qlab::model {

namespace {

struct CpuKV final : KVStorage {
  std::int64_t key_stride = 0;
  std::vector<std::vector<float>> k, v;  // per slot: [kv_dim, key_stride], [capacity, kv_dim]
};

CpuKV& kv(KVCache& c) { return static_cast<CpuKV&>(c.storage()); }

// A pass's buffers and tables. Lambdas that run on pool workers use the Pass they were handed (the
// caller's), never the thread_local workspace by name: in a worker that name is its own, empty one.
struct CpuPass : Pass {
  std::vector<float> xb, hb, qb, attb, gateb, upb, kb, vb, csb, snb;
  std::vector<std::int64_t> pos;  // position of each row (of T rows when all sequences start alike)
  float *k_stage = nullptr, *v_stage = nullptr;  // [R, kv_dim]; v_stage only with several sequences
  float *cs = nullptr, *sn = nullptr;            // RoPE angles, [n_pos, hd/2] each
  bool same_start = true;                         // every sequence starts at the same position
  std::int64_t angles(std::int64_t r) const { return (same_start ? r % T : r) * (model->rope().head_dim() / 2); }
};

float* sized(std::vector<float>& v, std::int64_t n) {
  v.resize(static_cast<std::size_t>(n));
  return v.data();
}

// body(t) for every row t, spread over the pool when the rows' total work (`width` element
// operations each) is worth splitting (elementwise work is small per row but adds up to a serial
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

// Multiply-adds of a sequence's widest product (tokens x intermediate x hidden) below which a
// batch of sequences is run one sequence per thread rather than each product split across threads.
constexpr double kSequenceParallelMaxWork = 16.0 * 1024 * 1024;

class CpuBackend final : public Backend {
 public:
  const char* name() const override { return "cpu"; }

  std::unique_ptr<KVStorage> new_kv_storage(const io::ModelConfig& c, int layers, std::int64_t capacity) override {
    auto s = std::make_unique<CpuKV>();
    s->key_stride = (capacity + kKeyTile - 1) / kKeyTile * kKeyTile;
    const auto kv_dim = static_cast<std::size_t>(c.num_key_value_heads * c.head_dim);
    s->k.assign(static_cast<std::size_t>(layers), std::vector<float>(kv_dim * static_cast<std::size_t>(s->key_stride)));
    s->v.assign(static_cast<std::size_t>(layers), std::vector<float>(kv_dim * static_cast<std::size_t>(capacity)));
    return s;
  }

  Pass& begin_pass(const Model& m, std::span<KVCache* const> caches, std::int64_t T) override {
    tensor::ensure_blas_single_threaded();
    const io::ModelConfig& c = m.config();
    const std::int64_t B = static_cast<std::int64_t>(caches.size()), R = B * T;
    const std::int64_t H = c.hidden_size, I = c.intermediate_size, hd = c.head_dim, half = hd / 2;
    const std::int64_t q_dim = c.num_attention_heads * hd, kv_dim = c.num_key_value_heads * hd;
    thread_local CpuPass ws;
    CpuPass& p = ws;
    p.model = &m;
    p.caches = caches;
    p.B = B;
    p.T = T;
    p.R = R;
    p.x = sized(p.xb, R * H);
    p.h = sized(p.hb, R * H);
    p.q = sized(p.qb, R * q_dim);
    p.att = sized(p.attb, R * q_dim);
    p.gate = sized(p.gateb, R * I);
    p.up = sized(p.upb, R * I);
    // New keys go through staging rows (RoPE, then into the cache's transposed layout). One sequence
    // writes its new values straight into its cache rows; several go through staging rows first.
    p.k_stage = sized(p.kb, R * kv_dim);
    p.v_stage = B > 1 ? sized(p.vb, R * kv_dim) : nullptr;
    // RoPE angles of each distinct position, computed once for all layers: rows r of sequences that
    // start at the same position share table row r % T.
    p.same_start = true;
    for (KVCache* cache : caches) p.same_start = p.same_start && cache->size() == caches[0]->size();
    const std::int64_t n_pos = p.same_start ? T : R;
    p.pos.resize(static_cast<std::size_t>(n_pos));
    for (std::int64_t r = 0; r < n_pos; ++r) p.pos[static_cast<std::size_t>(r)] = caches[static_cast<std::size_t>(r / T)]->size() + r % T;
    p.cs = sized(p.csb, n_pos * half);
    p.sn = sized(p.snb, n_pos * half);
    const std::int64_t* pos = p.pos.data();
    float *cs = p.cs, *sn = p.sn;
    per_token(n_pos, 8 * half, [&](std::int64_t r) { m.rope().cos_sin(pos[r], cs + r * half, sn + r * half); });
    return p;
  }

  std::int64_t sequences_per_batch(const io::ModelConfig& c, std::int64_t T) const override {
    const double sequence_product = static_cast<double>(T) * static_cast<double>(c.intermediate_size) *
                                    static_cast<double>(c.hidden_size);
    return thread_count() > 1 && sequence_product < kSequenceParallelMaxWork ? thread_count() : 1;
  }

  bool runs_sequences_on_threads() const override { return true; }

  bool host_memory() const override { return true; }
  void upload(const float* host, std::int64_t n, float* dst) override { std::copy_n(host, n, dst); }
  void download(const float* src, std::int64_t n, float* host) override { std::copy_n(src, n, host); }
  std::shared_ptr<float> alloc(std::int64_t n) override {
    return std::shared_ptr<float>(new float[static_cast<std::size_t>(n)], std::default_delete<float[]>());
  }
  float* logits_buffer(std::int64_t n) override {
    thread_local std::vector<float> logits;
    return sized(logits, n);
  }

  void embed(const tensor::Matrix& table, std::span<const std::int32_t> tokens, float* x) override {
    const std::int64_t H = table.cols;
    per_token(static_cast<std::int64_t>(tokens.size()), H,
              [&](std::int64_t r) { table.rows_to_f32(tokens[static_cast<std::size_t>(r)], 1, x + r * H); });
  }

  void rmsnorm(const float* x, std::span<const float> w, float eps, std::int64_t rows, std::int64_t n,
               float* out) override {
    per_token(rows, n, [&](std::int64_t r) { tensor::rmsnorm(x + r * n, w.data(), eps, n, out + r * n); });
  }

  void matmul(const float* x, std::int64_t rows, const tensor::Matrix& w, float* y) override {
    tensor::matmul(x, rows, w, y);
  }

  NewKV new_kv(Pass& p, int layer) override {
    const std::int64_t kv_dim = kv_width(p);
    auto& cp = static_cast<CpuPass&>(p);
    KVCache& first = *p.caches[0];
    float* v = p.B > 1 ? cp.v_stage : kv(first).v[static_cast<std::size_t>(first.slot(layer))].data() + first.size() * kv_dim;
    return {cp.k_stage, v};
  }

  void bias_rope(Pass& p, const LayerWeights& lw, NewKV kv) override {
    const io::ModelConfig& c = p.model->config();
    const std::int64_t hd = c.head_dim, q_dim = c.num_attention_heads * hd, kv_dim = kv_width(p);
    const int nh = c.num_attention_heads, nkv = c.num_key_value_heads;
    const auto& cp = static_cast<const CpuPass&>(p);
    const Rope& rope = p.model->rope();
    float *q = p.q, *k = kv.k, *v = kv.v;
    per_token(p.R, 2 * (q_dim + 2 * kv_dim), [&](std::int64_t r) {
      if (!lw.bq.empty()) tensor::add(q + r * q_dim, lw.bq.data(), q_dim);
      if (!lw.bk.empty()) tensor::add(k + r * kv_dim, lw.bk.data(), kv_dim);
      if (!lw.bv.empty()) tensor::add(v + r * kv_dim, lw.bv.data(), kv_dim);
      rope.rotate(q + r * q_dim, nh, cp.cs + cp.angles(r), cp.sn + cp.angles(r));
      rope.rotate(k + r * kv_dim, nkv, cp.cs + cp.angles(r), cp.sn + cp.angles(r));
    });
  }

  void store_kv(Pass& p, int layer, NewKV kv_rows) override {
    const std::int64_t kv_dim = kv_width(p), T = p.T;
    for (std::int64_t b = 0; b < p.B; ++b) {
      KVCache& cache = *p.caches[static_cast<std::size_t>(b)];
      CpuKV& s = kv(cache);
      const auto slot = static_cast<std::size_t>(cache.slot(layer));
      const std::int64_t at = cache.size(), ldk = s.key_stride;
      float* kt = s.k[slot].data();
      const float* kb = kv_rows.k + b * T * kv_dim;
      for (std::int64_t e = 0; e < kv_dim; ++e)
        for (std::int64_t t = 0; t < T; ++t) kt[e * ldk + at + t] = kb[t * kv_dim + e];
      if (p.B > 1) std::copy_n(kv_rows.v + b * T * kv_dim, T * kv_dim, s.v[slot].data() + at * kv_dim);
    }
  }

  // Causal grouped-query attention of T new queries per sequence (sequence b's at positions
  // caches[b]->size() ..) over that sequence's cached keys. Work items are (sequence, head, block of
  // queries), each over only the keys the block can see: blocks keep the causal triangle from
  // costing a full square.
  void attention(Pass& p, int layer) override {
    const io::ModelConfig& c = p.model->config();
    const std::int64_t hd = c.head_dim, nh = c.num_attention_heads, nkv = c.num_key_value_heads;
    const std::int64_t group = nh / nkv, B = p.B, T = p.T;
    constexpr std::int64_t kBlock = 64;
    const std::int64_t n_blocks = (T + kBlock - 1) / kBlock;
    const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
    const float* q = p.q;
    float* out = p.att;
    const auto caches = p.caches;
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
            CpuKV& s = kv(cache);
            const auto slot = static_cast<std::size_t>(cache.slot(layer));
            const std::int64_t g = h / group;
            AttentionBlock a;
            a.q = q + (b * T + t0) * nh * hd + h * hd;
            a.q_stride = nh * hd;
            a.kt = s.k[slot].data() + g * hd * s.key_stride;
            a.kt_stride = s.key_stride;
            a.v = s.v[slot].data() + g * hd;
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

  void residual_rmsnorm(float* x, const float* h, std::span<const float> w, float eps, std::int64_t rows,
                        std::int64_t n, float* out) override {
    per_token(rows, 2 * n, [&](std::int64_t r) {
      tensor::add(x + r * n, h + r * n, n);
      tensor::rmsnorm(x + r * n, w.data(), eps, n, out + r * n);
    });
  }

  void swiglu(float* gate, const float* up, std::int64_t rows, std::int64_t n) override {
    per_token(rows, 4 * n, [&](std::int64_t r) { tensor::silu_mul(gate + r * n, up + r * n, n); });
  }

  void residual_add(float* x, const float* h, std::int64_t rows, std::int64_t n) override {
    per_token(rows, n, [&](std::int64_t r) { tensor::add(x + r * n, h + r * n, n); });
  }

  void nll(const float* logits, std::int64_t rows, std::int64_t vocab, const std::int32_t* targets,
           double* out) override {
    parallel_for(static_cast<std::size_t>(rows), [&](std::size_t b, std::size_t e) {
      for (std::size_t j = b; j < e; ++j) {
        const float* row = logits + static_cast<std::int64_t>(j) * vocab;
        out[j] = tensor::log_sum_exp(row, vocab) - static_cast<double>(row[targets[j]]);
      }
    });
  }

  void kl_rows(const float* base, const float* test, std::int64_t rows, std::int64_t vocab,
               const std::int32_t* targets, TokenKL* out) override {
    const auto V = static_cast<std::size_t>(vocab);
    parallel_for(static_cast<std::size_t>(rows), [&](std::size_t b, std::size_t e) {
      std::vector<double> lpb(V), lpt(V);
      auto log_softmax = [&](std::span<const float> x, std::vector<double>& lp) {
        float mx = x[0];
        for (float v : x) mx = std::max(mx, v);
        double s = 0;
        for (std::size_t i = 0; i < x.size(); ++i) {
          lp[i] = static_cast<double>(x[i] - mx);
          s += std::exp(lp[i]);
        }
        const double ls = std::log(s);
        for (double& v : lp) v -= ls;
      };
      for (std::size_t j = b; j < e; ++j) {
        const std::span<const float> rb(base + j * V, V), rt(test + j * V, V);
        const auto target = static_cast<std::size_t>(targets[j]);
        log_softmax(rb, lpb);
        log_softmax(rt, lpt);
        double kl = 0;
        for (std::size_t i = 0; i < V; ++i) kl += std::exp(lpb[i]) * (lpb[i] - lpt[i]);
        TokenKL& o = out[j];
        o.kld = std::max(kl, 0.0);  // exact KL is >= 0; rounding can leave -1e-17
        // nll's arithmetic, so a KLD run's PPL equals a plain run's.
        o.nll_base = tensor::log_sum_exp(rb.data(), vocab) - static_cast<double>(rb[target]);
        o.nll_test = tensor::log_sum_exp(rt.data(), vocab) - static_cast<double>(rt[target]);
        o.delta_p = std::exp(lpt[target]) - std::exp(lpb[target]);
        o.same_top = argmax(rb) == argmax(rt);
      }
    });
  }

 private:
  static std::int64_t kv_width(const Pass& p) {
    return static_cast<std::int64_t>(p.model->config().num_key_value_heads) * p.model->config().head_dim;
  }
};

}  // namespace

Backend& cpu_backend() {
  static CpuBackend b;
  return b;
}

}  // namespace qlab::model
