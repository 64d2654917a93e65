// The decoder layer as calibration uses it: the hook sees each Linear's real input, a layer runs alone
// on given hidden states with its own KV state, and layer-by-layer runs give the whole pass's logits.
// And the backend seam: a pass goes through the Backend interface for every operation.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "engine/core/error.h"
#include "engine/core/threads.h"
#include "engine/model/backend.h"
#include "engine/model/decoder_layer.h"
#include "engine/model/forward.h"
#include "engine/quant/input_stats.h"
#include "engine/tensor/ops.h"
#include "fixture_util.h"

namespace qlab::model {
namespace {

using qlab::testing::fixture;

std::uint32_t bits(float f) {
  std::uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

void expect_same_bits(const std::vector<float>& a, const std::vector<float>& b, const std::string& what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  for (std::size_t i = 0; i < a.size(); ++i) ASSERT_EQ(bits(a[i]), bits(b[i])) << what << " at " << i;
}

struct Seen {
  int layer;
  LinearInput which;
  std::int64_t rows, cols;
  std::vector<float> x;
};

// The pass's last steps by hand: final RMSNorm of every row, then lm_head.
std::vector<float> logits_from_hidden(const Model& m, const std::vector<float>& x, std::int64_t rows) {
  const std::int64_t H = m.config().hidden_size;
  std::vector<float> h(x.size()), logits(static_cast<std::size_t>(rows * m.vocab_size()));
  for (std::int64_t r = 0; r < rows; ++r)
    tensor::rmsnorm(x.data() + r * H, m.weights().final_norm.data(), static_cast<float>(m.config().rms_norm_eps), H,
                    h.data() + r * H);
  tensor::matmul(h.data(), rows, m.weights().lm_head, logits.data());
  return logits;
}

// The hook sees q/k/v's, o's, gate/up's and down's input once per layer, in that order, with the
// pass's rows and each Linear's in_features; and seeing them changes nothing.
TEST(LayerHook, SeesEachLinearInputInOrder) {
  const Model m = Model::load(fixture("models/qwen2"));
  const auto tokens = qlab::testing::read_ids(fixture("models/qwen2/tokens.txt"));
  const auto& c = m.config();
  std::vector<Seen> seen;
  KVCache cache(c, static_cast<std::int64_t>(tokens.size()));
  std::vector<float> logits(tokens.size() * static_cast<std::size_t>(m.vocab_size()));
  forward(m, cache, tokens, static_cast<std::int64_t>(tokens.size()), logits.data(), [&](const LinearInputView& v) {
    seen.push_back({v.layer, v.which, v.rows, v.cols, std::vector<float>(v.host(), v.host() + v.rows * v.cols)});
  });
  expect_same_bits(logits, forward_all(m, tokens), "logits with a hook");
  ASSERT_EQ(seen.size(), static_cast<std::size_t>(4 * c.num_hidden_layers));
  const LinearInput order[4] = {LinearInput::QKV, LinearInput::O, LinearInput::GateUp, LinearInput::Down};
  const std::int64_t cols[4] = {c.hidden_size, static_cast<std::int64_t>(c.num_attention_heads) * c.head_dim,
                                c.hidden_size, c.intermediate_size};
  for (std::size_t i = 0; i < seen.size(); ++i) {
    EXPECT_EQ(seen[i].layer, static_cast<int>(i / 4));
    EXPECT_EQ(seen[i].which, order[i % 4]) << linear_input_name(seen[i].which);
    EXPECT_EQ(seen[i].rows, static_cast<std::int64_t>(tokens.size()));
    EXPECT_EQ(seen[i].cols, cols[i % 4]);
  }
  EXPECT_STREQ(linear_input_name(LinearInput::GateUp), "gate_up");
}

// Running the layers one by one from the embeddings, each on its own one-layer KV cache, reproduces
// the whole pass; and each layer's output follows from the four inputs the hook saw, step by step:
//   QKV input = RMSNorm(x_in); x_mid = x_in + O_input Wo^T; GateUp input = RMSNorm(x_mid);
//   Down input = silu(h Wg^T) * (h Wu^T); x_out = x_mid + Down_input Wd^T.
TEST(LayerAlone, LayerByLayerEqualsTheWholePassAndTheHookSeesRealInputs) {
  const Model m = Model::load(fixture("models/llama"));
  const auto& c = m.config();
  const auto& w = m.weights();
  const auto tokens = qlab::testing::read_ids(fixture("models/llama/tokens.txt"));
  const auto n = static_cast<std::int64_t>(tokens.size());
  const std::int64_t H = c.hidden_size, I = c.intermediate_size, qd = c.num_attention_heads * c.head_dim;
  const auto eps = static_cast<float>(c.rms_norm_eps);
  std::vector<float> x(static_cast<std::size_t>(n * H));
  embed_tokens(m, tokens, x.data());
  for (int l = 0; l < c.num_hidden_layers; ++l) {
    const auto& lw = w.layers[static_cast<std::size_t>(l)];
    KVCache cache(c, n, 1);
    KVCache* one = &cache;
    std::map<LinearInput, std::vector<float>> in;
    const std::vector<float> x_in = x;
    run_decoder_layer(m, l, std::span(&one, 1), x.data(), n,
                      [&](const LinearInputView& v) { in[v.which].assign(v.host(), v.host() + v.rows * v.cols); });
    EXPECT_EQ(cache.size(), n);
    std::vector<float> h(x.size()), o(x.size()), g(static_cast<std::size_t>(n * I)), u(g.size()), d(x.size());
    for (std::int64_t r = 0; r < n; ++r) tensor::rmsnorm(x_in.data() + r * H, lw.attn_norm.data(), eps, H, h.data() + r * H);
    expect_same_bits(in[LinearInput::QKV], h, "q/k/v input of layer " + std::to_string(l));
    ASSERT_EQ(in[LinearInput::O].size(), static_cast<std::size_t>(n * qd));
    tensor::matmul(in[LinearInput::O].data(), n, lw.wo, o.data());
    std::vector<float> x_mid = x_in;
    for (std::int64_t r = 0; r < n; ++r) {
      tensor::add(x_mid.data() + r * H, o.data() + r * H, H);
      tensor::rmsnorm(x_mid.data() + r * H, lw.mlp_norm.data(), eps, H, h.data() + r * H);
    }
    expect_same_bits(in[LinearInput::GateUp], h, "gate/up input of layer " + std::to_string(l));
    tensor::matmul(h.data(), n, lw.w_gate, g.data());
    tensor::matmul(h.data(), n, lw.w_up, u.data());
    for (std::int64_t r = 0; r < n; ++r) tensor::silu_mul(g.data() + r * I, u.data() + r * I, I);
    expect_same_bits(in[LinearInput::Down], g, "down input of layer " + std::to_string(l));
    tensor::matmul(g.data(), n, lw.w_down, d.data());
    for (std::int64_t r = 0; r < n; ++r) tensor::add(x_mid.data() + r * H, d.data() + r * H, H);
    expect_same_bits(x, x_mid, "output of layer " + std::to_string(l));
  }
  expect_same_bits(logits_from_hidden(m, x, n), forward_all(m, tokens), "logits");
}

// Sequential calibration's shape: several sequences, one layer at a time, the same one-layer caches
// cleared and reused for every layer. Equals forward_batch run as one pass (a hook makes it one pass).
TEST(LayerAlone, SeveralSequencesLayerByLayerEqualOneBatchedPass) {
  set_thread_count(4);
  const Model m = Model::load(fixture("models/llama"));
  const auto& c = m.config();
  const auto all = qlab::testing::read_ids(fixture("models/llama/ppl_tokens.txt"));
  constexpr std::int64_t B = 3, T = 40;
  const std::vector<std::int32_t> tokens(all.begin(), all.begin() + B * T);
  std::vector<KVCache> caches;
  for (int b = 0; b < B; ++b) caches.emplace_back(c, T, 1);
  std::vector<KVCache*> ptrs;
  for (auto& k : caches) ptrs.push_back(&k);
  std::vector<float> x(static_cast<std::size_t>(B * T * c.hidden_size));
  embed_tokens(m, tokens, x.data());
  for (int l = 0; l < c.num_hidden_layers; ++l) {
    for (auto& k : caches) k.clear();
    run_decoder_layer(m, l, ptrs, x.data(), T);
  }
  std::vector<KVCache> full;
  for (int b = 0; b < B; ++b) full.emplace_back(c, T);
  std::vector<KVCache*> full_ptrs;
  for (auto& k : full) full_ptrs.push_back(&k);
  std::vector<float> want(static_cast<std::size_t>(B * T * m.vocab_size()));
  int calls = 0;
  forward_batch(m, full_ptrs, tokens, T, want.data(), [&](const LinearInputView& v) {
    EXPECT_EQ(v.rows, B * T);
    ++calls;
  });
  EXPECT_EQ(calls, 4 * c.num_hidden_layers);
  expect_same_bits(logits_from_hidden(m, x, B * T), want, "logits");
  // and to float rounding, what the sequences give one per thread without a hook
  std::vector<float> plain(want.size());
  for (auto& k : full) k.clear();
  forward_batch(m, full_ptrs, tokens, T, plain.data());
  EXPECT_LE(qlab::testing::max_row_rel_error(plain, want, static_cast<std::size_t>(m.vocab_size())), 1e-5);
}

// A layer run alone continues its sequence: two chunks through a one-layer cache give the rows of
// one chunk of both.
TEST(LayerAlone, ChunksContinueThroughTheLayersCache) {
  const Model m = Model::load(fixture("models/llama"));
  const auto& c = m.config();
  const auto tokens = qlab::testing::read_ids(fixture("models/llama/ppl_tokens.txt"));
  const std::int64_t n = 100, first = 70, H = c.hidden_size;
  std::vector<float> x(static_cast<std::size_t>(n * H));
  embed_tokens(m, std::span(tokens).first(static_cast<std::size_t>(n)), x.data());
  std::vector<float> whole = x, parts = x;
  KVCache a(c, n, 1), b(c, n, 1);
  KVCache* pa = &a;
  KVCache* pb = &b;
  run_decoder_layer(m, 1, std::span(&pa, 1), whole.data(), n);
  run_decoder_layer(m, 1, std::span(&pb, 1), parts.data(), first);
  run_decoder_layer(m, 1, std::span(&pb, 1), parts.data() + first * H, n - first);
  EXPECT_EQ(b.size(), n);
  EXPECT_LE(qlab::testing::max_row_rel_error(parts, whole, static_cast<std::size_t>(H)), 1e-5);
}

TEST(LayerAlone, BadCallsAreClearErrors) {
  const Model m = Model::load(fixture("models/llama"));
  const auto& c = m.config();
  std::vector<float> x(static_cast<std::size_t>(8 * c.hidden_size));
  KVCache small(c, 4, 1);
  KVCache* p = &small;
  EXPECT_THROW(run_decoder_layer(m, c.num_hidden_layers, std::span(&p, 1), x.data(), 4), Error);
  EXPECT_THROW(run_decoder_layer(m, -1, std::span(&p, 1), x.data(), 4), Error);
  EXPECT_THROW(run_decoder_layer(m, 0, std::span(&p, 1), x.data(), 8), Error);  // context full
  std::vector<float> logits(static_cast<std::size_t>(m.vocab_size()));
  const std::vector<std::int32_t> one{1};
  EXPECT_THROW(forward(m, small, one, 1, logits.data()), Error);  // a one-layer cache cannot run the model
  EXPECT_THROW(KVCache(c, 4, c.num_hidden_layers + 1), Error);
  const std::vector<std::int32_t> bad{1, 999};
  EXPECT_THROW(embed_tokens(m, bad, x.data()), Error);
}

// ---- the backend seam --------------------------------------------------------------------------------

// Forwards every operation to the CPU backend and counts it: a pass whose caches live "on" this backend
// must reach the hardware only through it.
class CountingBackend final : public Backend {
 public:
  std::map<std::string, int> calls;
  bool far = false;  // claim memory other than the host's: hooks and the Gram then go through copies
  const char* name() const override { return "counting"; }
  std::unique_ptr<KVStorage> new_kv_storage(const io::ModelConfig& c, int layers, std::int64_t capacity) override {
    ++calls["new_kv_storage"];
    return cpu().new_kv_storage(c, layers, capacity);
  }
  Pass& begin_pass(const Model& m, std::span<KVCache* const> caches, std::int64_t T) override {
    ++calls["begin_pass"];
    return cpu().begin_pass(m, caches, T);
  }
  std::int64_t sequences_per_batch(const io::ModelConfig& c, std::int64_t T) const override {
    return cpu().sequences_per_batch(c, T);
  }
  bool host_memory() const override { return !far; }
  void accumulate_gram(const float* x, std::int64_t rows, std::int64_t cols, float* g, bool accumulate) override {
    ++calls["accumulate_gram"];
    Backend::accumulate_gram(x, rows, cols, g, accumulate);  // the default, through host copies when far
  }
  void upload(const float* host, std::int64_t n, float* dst) override {
    ++calls["upload"];
    cpu().upload(host, n, dst);
  }
  void download(const float* src, std::int64_t n, float* host) override {
    ++calls["download"];
    cpu().download(src, n, host);
  }
  void embed(const tensor::Matrix& table, std::span<const std::int32_t> tokens, float* x) override {
    ++calls["embed"];
    cpu().embed(table, tokens, x);
  }
  void rmsnorm(const float* x, std::span<const float> w, float eps, std::int64_t rows, std::int64_t n,
               float* out) override {
    ++calls["rmsnorm"];
    cpu().rmsnorm(x, w, eps, rows, n, out);
  }
  void matmul(const float* x, std::int64_t rows, const tensor::Matrix& w, float* y) override {
    ++calls["matmul"];
    cpu().matmul(x, rows, w, y);
  }
  NewKV new_kv(Pass& p, int layer) override {
    ++calls["new_kv"];
    return cpu().new_kv(p, layer);
  }
  void bias_rope(Pass& p, const LayerWeights& lw, NewKV kv) override {
    ++calls["bias_rope"];
    cpu().bias_rope(p, lw, kv);
  }
  void store_kv(Pass& p, int layer, NewKV kv) override {
    ++calls["store_kv"];
    cpu().store_kv(p, layer, kv);
  }
  void attention(Pass& p, int layer) override {
    ++calls["attention"];
    cpu().attention(p, layer);
  }
  void residual_rmsnorm(float* x, const float* h, std::span<const float> w, float eps, std::int64_t rows,
                        std::int64_t n, float* out) override {
    ++calls["residual_rmsnorm"];
    cpu().residual_rmsnorm(x, h, w, eps, rows, n, out);
  }
  void swiglu(float* gate, const float* up, std::int64_t rows, std::int64_t n) override {
    ++calls["swiglu"];
    cpu().swiglu(gate, up, rows, n);
  }
  void residual_add(float* x, const float* h, std::int64_t rows, std::int64_t n) override {
    ++calls["residual_add"];
    cpu().residual_add(x, h, rows, n);
  }
  void nll(const float* logits, std::int64_t rows, std::int64_t vocab, const std::int32_t* targets,
           double* out) override {
    ++calls["nll"];
    cpu().nll(logits, rows, vocab, targets, out);
  }
  std::shared_ptr<float> alloc(std::int64_t n) override { return cpu().alloc(n); }
  float* logits_buffer(std::int64_t n) override { return cpu().logits_buffer(n); }
  void kl_rows(const float* base, const float* test, std::int64_t rows, std::int64_t vocab,
               const std::int32_t* targets, TokenKL* out) override {
    ++calls["kl_rows"];
    cpu().kl_rows(base, test, rows, vocab, targets, out);
  }

 private:
  static Backend& cpu() { return cpu_backend(); }
};

TEST(BackendSeam, APassRunsOnTheBackendOfItsCaches) {
  const Model m = Model::load(fixture("models/llama"));
  const auto tokens = qlab::testing::read_ids(fixture("models/llama/tokens.txt"));
  const auto& c = m.config();
  const auto L = c.num_hidden_layers;
  CountingBackend be;
  KVCache cache(c, static_cast<std::int64_t>(tokens.size()), 0, be);
  EXPECT_EQ(&cache.backend(), &be);
  std::vector<float> logits(tokens.size() * static_cast<std::size_t>(m.vocab_size()));
  forward(m, cache, tokens, static_cast<std::int64_t>(tokens.size()), logits.data());
  expect_same_bits(logits, forward_all(m, tokens), "logits");
  const std::map<std::string, int> want = {
      {"new_kv_storage", 1}, {"begin_pass", 1}, {"embed", 1},       {"rmsnorm", L + 1},
      {"matmul", 7 * L + 1}, {"new_kv", L},     {"bias_rope", L},   {"store_kv", L},
      {"attention", L},      {"residual_rmsnorm", L}, {"swiglu", L}, {"residual_add", L}};
  EXPECT_EQ(be.calls, want);
  // Caches on different backends cannot share a pass.
  KVCache cpu_cache(c, 8);
  std::vector<KVCache*> mixed = {&cache, &cpu_cache};
  cache.clear();
  std::vector<std::int32_t> two(tokens.begin(), tokens.begin() + 2);
  EXPECT_THROW(forward_batch(m, mixed, two, 1, logits.data()), Error);
}

// A backend whose memory is not the host's: a hook reads the activations through host() (a copy), and
// X^T X accumulates on the backend without them crossing (InputStats::add of the view) -- the same
// values as on the CPU, bit for bit, since both run the same arithmetic here.
TEST(BackendSeam, ABackendElsewhereHandsHooksCopiesAndKeepsTheGram) {
  const Model m = Model::load(fixture("models/llama"));
  const auto tokens = qlab::testing::read_ids(fixture("models/llama/tokens.txt"));
  const auto& c = m.config();
  const auto T = static_cast<std::int64_t>(tokens.size());
  std::vector<float> x0(static_cast<std::size_t>(T * c.hidden_size));
  embed_tokens(m, tokens, x0.data());
  struct Seen {
    std::map<LinearInput, quant::InputStats> stats;
    std::map<LinearInput, std::vector<float>> inputs;
  };
  auto run = [&](Backend& be, Seen& seen) {
    KVCache cache(c, T, 1, be);
    KVCache* caches[] = {&cache};
    std::vector<float> x = x0;
    run_decoder_layer(m, 0, caches, x.data(), T, [&](const LinearInputView& v) {
      auto [it, fresh] = seen.stats.try_emplace(v.which, v.cols, true, linear_input_name(v.which));
      it->second.add(v);
      seen.inputs[v.which].assign(v.host(), v.host() + v.rows * v.cols);
    });
    return x;
  };
  Seen on_cpu, on_far;
  CountingBackend far;
  far.far = true;
  const std::vector<float> want = run(cpu_backend(), on_cpu);
  expect_same_bits(run(far, on_far), want, "layer output");
  EXPECT_EQ(far.calls["accumulate_gram"], 4) << "one X^T X per Linear input, on the backend";
  ASSERT_EQ(on_far.stats.size(), 4u);
  for (auto& [which, st] : on_far.stats) {
    expect_same_bits(on_far.inputs[which], on_cpu.inputs[which], linear_input_name(which));
    expect_same_bits(st.gram(), on_cpu.stats.at(which).gram(), linear_input_name(which));
    EXPECT_EQ(st.tokens(), T);
    EXPECT_THROW(st.mean_abs(), Error) << "per-channel sums are kept only where the activations reach the host";
  }
}

// The backend's NLL is perplexity's token_nll arithmetic (log_sum_exp minus the target's logit), bit
// for bit, and the true value in double.
TEST(BackendSeam, NllIsLogSumExpMinusTheTargetsLogit) {
  std::vector<float> logits(5 * 300);
  for (std::size_t i = 0; i < logits.size(); ++i) logits[i] = std::sin(static_cast<float>(i) * 0.71f) * 9.0f;
  const std::vector<std::int32_t> targets = {0, 17, 299, 150, 3};
  std::vector<double> got(5);
  cpu_backend().nll(logits.data(), 5, 300, targets.data(), got.data());
  for (std::size_t r = 0; r < 5; ++r) {
    const double want = tensor::log_sum_exp(logits.data() + r * 300, 300) -
                        static_cast<double>(logits[r * 300 + static_cast<std::size_t>(targets[r])]);
    EXPECT_EQ(got[r], want) << r;
    double s = 0;  // and by hand, in double
    for (int j = 0; j < 300; ++j) s += std::exp(static_cast<double>(logits[r * 300 + static_cast<std::size_t>(j)]));
    EXPECT_NEAR(got[r], std::log(s) - logits[r * 300 + static_cast<std::size_t>(targets[r])], 1e-5);
  }
}

}  // namespace
}  // namespace qlab::model
