// The CUDA backend's forward pass against the CPU backend's (the reference): logits of every model
// fixture within 1e-4 relative in f32 math and within bf16's rounding in bf16 math; synthetic models
// of larger shapes (head_dim 64 and 128, a head size the tiled attention kernel does not take, bf16,
// f16 and f32 weights, Llama 3.1 RoPE, prompts of several query and key tiles); decoding through the
// device KV cache equals prefill; batches of sequences at different positions; packed weights;
// a layer run alone with its hook.
#include <gtest/gtest.h>

#include <cstdio>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "cuda_test_util.h"
#include "engine/core/error.h"
#include "engine/formats/format_lookup.h"
#include "engine/formats/scalar.h"
#include "engine/tensor/matrix.h"
#include "engine/model/decoder_layer.h"
#include "engine/model/forward.h"
#include "engine/quant/rtn.h"

namespace qlab::model {
namespace {

using qlab::testing::gpu;
using qlab::testing::max_row_rel_error;

constexpr double kF32Tol = 1e-4;

// bf16 math's tolerance is designed from bf16 arithmetic itself: the CPU backend with every product's
// operands rounded to bfloat16 (as the GPU's bf16 mode rounds them; accumulation in float32) gives
// the error bf16 operands cause on this model and these tokens, E_ref = err(CPU-bf16, CPU). The GPU
// in bf16 math computes the same function, so its error may not exceed that by more than chance:
// err(GPU-bf16, CPU) <= 1.5 E_ref + 1e-3.
class CpuBf16Operands final : public Backend {
 public:
  const char* name() const override { return "cpu-bf16-operands"; }
  std::unique_ptr<KVStorage> new_kv_storage(const io::ModelConfig& c, int l, std::int64_t n) override {
    return cpu().new_kv_storage(c, l, n);
  }
  Pass& begin_pass(const Model& m, std::span<KVCache* const> c, std::int64_t T) override {
    return cpu().begin_pass(m, c, T);
  }
  std::int64_t sequences_per_batch(const io::ModelConfig&, std::int64_t) const override { return 1; }
  bool host_memory() const override { return true; }
  void upload(const float* h, std::int64_t n, float* d) override { cpu().upload(h, n, d); }
  void download(const float* s, std::int64_t n, float* h) override { cpu().download(s, n, h); }
  std::shared_ptr<float> alloc(std::int64_t n) override { return cpu().alloc(n); }
  float* logits_buffer(std::int64_t n) override { return cpu().logits_buffer(n); }
  void embed(const tensor::Matrix& t, std::span<const std::int32_t> ids, float* x) override { cpu().embed(t, ids, x); }
  void rmsnorm(const float* x, std::span<const float> w, float eps, std::int64_t r, std::int64_t n, float* o) override {
    cpu().rmsnorm(x, w, eps, r, n, o);
  }
  void matmul(const float* x, std::int64_t rows, const tensor::Matrix& w, float* y) override {
    std::vector<float> xb(x, x + rows * w.cols);
    for (auto& v : xb) v = bf16(v);
    auto it = weights_.find(w.data);
    if (it == weights_.end()) {
      std::vector<float> f = w.to_f32();
      for (auto& v : f) v = bf16(v);
      it = weights_.emplace(w.data, tensor::Matrix::owned_f32(std::move(f), w.rows, w.cols)).first;
    }
    tensor::matmul(xb.data(), rows, it->second, y);
  }
  NewKV new_kv(Pass& p, int layer) override { return cpu().new_kv(p, layer); }
  void bias_rope(Pass& p, const LayerWeights& lw, NewKV kv) override { cpu().bias_rope(p, lw, kv); }
  void store_kv(Pass& p, int layer, NewKV kv) override { cpu().store_kv(p, layer, kv); }
  void attention(Pass& p, int layer) override { cpu().attention(p, layer); }
  void residual_rmsnorm(float* x, const float* h, std::span<const float> w, float eps, std::int64_t r, std::int64_t n,
                        float* o) override {
    cpu().residual_rmsnorm(x, h, w, eps, r, n, o);
  }
  void swiglu(float* g, const float* u, std::int64_t r, std::int64_t n) override { cpu().swiglu(g, u, r, n); }
  void residual_add(float* x, const float* h, std::int64_t r, std::int64_t n) override { cpu().residual_add(x, h, r, n); }
  void nll(const float* l, std::int64_t r, std::int64_t v, const std::int32_t* t, double* o) override {
    cpu().nll(l, r, v, t, o);
  }
  void kl_rows(const float* b, const float* t, std::int64_t r, std::int64_t v, const std::int32_t* tg,
               TokenKL* o) override {
    cpu().kl_rows(b, t, r, v, tg, o);
  }

 private:
  static Backend& cpu() { return cpu_backend(); }
  static float bf16(float v) { return formats::bf16_to_f32(formats::f32_to_bf16(v)); }
  std::map<const void*, tensor::Matrix> weights_;  // the model's weights rounded to bfloat16
};

double bf16_tolerance(double reference_error) { return 1.5 * reference_error + 1e-3; }

std::vector<std::int32_t> random_tokens(int vocab, std::size_t n, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<std::int32_t> d(0, vocab - 1);
  std::vector<std::int32_t> t(n);
  for (auto& x : t) x = d(rng);
  return t;
}

// Logits of every token of `tokens`: as one prefill, then the same decoded one token at a time.
std::vector<float> stepwise(const Model& m, std::span<const std::int32_t> tokens, Backend& be, std::size_t prefill) {
  const auto V = static_cast<std::size_t>(m.vocab_size());
  KVCache cache(m.config(), static_cast<std::int64_t>(tokens.size()), 0, be);
  std::vector<float> out(tokens.size() * V);
  forward(m, cache, tokens.first(prefill), static_cast<std::int64_t>(prefill), out.data());
  for (std::size_t t = prefill; t < tokens.size(); ++t) forward(m, cache, tokens.subspan(t, 1), 1, out.data() + t * V);
  return out;
}

class FixtureOnGpu : public ::testing::TestWithParam<std::string> {};

TEST_P(FixtureOnGpu, LogitsEqualTheCpuBackend) {
  QLAB_REQUIRE_GPU();
  const auto dir = qlab::testing::fixture("models") / GetParam();
  const Model m = Model::load(dir);
  auto tokens = qlab::testing::read_ids(dir / "tokens.txt");
  if (std::filesystem::exists(dir / "ppl_tokens.txt")) {
    // Past one attention tile of queries and keys (64) where the fixture's context allows.
    auto more = qlab::testing::read_ids(dir / "ppl_tokens.txt");
    more.resize(std::min<std::size_t>(more.size(), std::min(150, m.config().max_position_embeddings)));
    if (more.size() > tokens.size() && (m.config().sliding_window == 0 ||
                                        static_cast<int>(more.size()) <= m.config().sliding_window))
      tokens = more;
  }
  const auto V = static_cast<std::size_t>(m.vocab_size());
  const auto cpu = forward_all(m, tokens);
  const double e32 = max_row_rel_error(forward_all(m, tokens, gpu(GpuMath::F32)), cpu, V);
  const double e16 = max_row_rel_error(forward_all(m, tokens, gpu(GpuMath::BF16)), cpu, V);
  CpuBf16Operands ref16;
  const double r16 = max_row_rel_error(forward_all(m, tokens, ref16), cpu, V);
  const double dec = max_row_rel_error(stepwise(m, tokens, gpu(), tokens.size() / 3), cpu, V);
  EXPECT_LE(e32, kF32Tol) << GetParam();
  EXPECT_LE(e16, bf16_tolerance(r16)) << GetParam() << ": the CPU with bf16 operands is off by " << r16;
  EXPECT_LE(dec, kF32Tol) << GetParam() << " (prefill a third, decode the rest)";
  std::printf("%-14s %3zu tokens: f32 %.2e  bf16 %.2e (bf16 operands on the CPU: %.2e)  decode %.2e\n",
              GetParam().c_str(), tokens.size(), e32, e16, r16, dec);
}

INSTANTIATE_TEST_SUITE_P(Models, FixtureOnGpu, ::testing::ValuesIn(qlab::testing::model_fixtures()),
                         [](const auto& info) { return info.param; });

TEST(ForwardOnGpu, EveryFixturePresent) {
  QLAB_REQUIRE_GPU();
  EXPECT_GE(qlab::testing::model_fixtures().size(), 8u) << "tests/fixtures/models not found: set QLAB_SOURCE_DIR";
}

struct SynthCase {
  const char* name;
  io::ModelConfig config;
  io::DType dtype;
};

std::vector<SynthCase> synth_cases() {
  using qlab::testing::shape;
  return {
      {"hd64_bf16", shape(2, 512, 8, 2, 1024, 3000), io::DType::BF16},
      {"hd128_f16", shape(2, 1024, 8, 4, 1536, 2048), io::DType::F16},
      {"hd128_mha_f32", shape(1, 512, 4, 4, 768, 1000), io::DType::F32},
      {"hd48_generic", shape(2, 384, 8, 2, 640, 1500), io::DType::BF16},  // the generic attention kernel
  };
}

// Prompts of 300 tokens (several query and key tiles), then decoding 20 tokens after them (the
// split-key attention path), on every synthetic shape.
TEST(ForwardOnGpu, SyntheticModelsEqualTheCpu) {
  QLAB_REQUIRE_GPU();
  for (const SynthCase& sc : synth_cases()) {
    const Model m = Model::load(qlab::testing::synth(sc.name, sc.config, sc.dtype));
    const auto V = static_cast<std::size_t>(m.vocab_size());
    const auto tokens = random_tokens(m.vocab_size(), 320, 9);
    const auto cpu = forward_all(m, tokens);
    const double e32 = max_row_rel_error(forward_all(m, tokens, gpu(GpuMath::F32)), cpu, V);
    const double e16 = max_row_rel_error(forward_all(m, tokens, gpu(GpuMath::BF16)), cpu, V);
    CpuBf16Operands ref16;
    const double r16 = max_row_rel_error(forward_all(m, tokens, ref16), cpu, V);
    const double dec = max_row_rel_error(stepwise(m, tokens, gpu(), 300), cpu, V);
    EXPECT_LE(e32, kF32Tol) << sc.name;
    EXPECT_LE(e16, bf16_tolerance(r16)) << sc.name << ": the CPU with bf16 operands is off by " << r16;
    EXPECT_LE(dec, kF32Tol) << sc.name;
    std::printf("%-14s 320 tokens: f32 %.2e  bf16 %.2e (bf16 operands on the CPU: %.2e)  decode after 300 %.2e\n",
                sc.name, e32, e16, r16, dec);
  }
}

// Decoding on the GPU equals prefill on the GPU (both through the device KV cache), token by token
// from the first, and in two prefills of uneven size.
TEST(ForwardOnGpu, CachedDecodeEqualsPrefill) {
  QLAB_REQUIRE_GPU();
  const Model m = Model::load(qlab::testing::synth("hd64_bf16", synth_cases()[0].config, io::DType::BF16));
  const auto V = static_cast<std::size_t>(m.vocab_size());
  const auto tokens = random_tokens(m.vocab_size(), 140, 4);
  const auto full = forward_all(m, tokens, gpu());
  EXPECT_LE(max_row_rel_error(stepwise(m, tokens, gpu(), 1), full, V), 1e-5);
  KVCache cache(m.config(), 140, 0, gpu());
  std::vector<float> two(full.size());
  forward(m, cache, std::span(tokens).first(70), 70, two.data());
  forward(m, cache, std::span(tokens).subspan(70), 70, two.data() + 70 * V);
  EXPECT_EQ(cache.size(), 140);
  EXPECT_LE(max_row_rel_error(two, full, V), 1e-5);
}

// Three sequences in one pass, each with its own cache and position (two start after earlier
// tokens): the logits of each equal its CPU run alone.
TEST(ForwardOnGpu, BatchOfSequencesAtDifferentPositions) {
  QLAB_REQUIRE_GPU();
  const Model m = Model::load(qlab::testing::synth("hd64_bf16", synth_cases()[0].config, io::DType::BF16));
  const auto V = static_cast<std::size_t>(m.vocab_size());
  const std::int64_t T = 40;
  const std::int64_t before[3] = {0, 17, 90};
  std::vector<KVCache> gpu_caches, cpu_caches;
  for (int b = 0; b < 3; ++b) {
    gpu_caches.emplace_back(m.config(), 200, 0, gpu());
    cpu_caches.emplace_back(m.config(), 200);
  }
  std::vector<std::int32_t> batch;
  std::vector<float> want;
  for (int b = 0; b < 3; ++b) {
    const auto pre = random_tokens(m.vocab_size(), static_cast<std::size_t>(before[b]), 20 + b);
    const auto seq = random_tokens(m.vocab_size(), T, 30 + b);
    if (!pre.empty()) {
      std::vector<float> ignore(V);
      forward(m, gpu_caches[static_cast<std::size_t>(b)], pre, 1, ignore.data());
      forward(m, cpu_caches[static_cast<std::size_t>(b)], pre, 1, ignore.data());
    }
    std::vector<float> l(static_cast<std::size_t>(T) * V);
    forward(m, cpu_caches[static_cast<std::size_t>(b)], seq, T, l.data());
    want.insert(want.end(), l.begin(), l.end());
    batch.insert(batch.end(), seq.begin(), seq.end());
  }
  std::vector<KVCache*> ptrs;
  for (auto& c : gpu_caches) ptrs.push_back(&c);
  std::vector<float> got(want.size());
  forward_batch(m, ptrs, batch, T, got.data());
  const double err = max_row_rel_error(got, want, V);
  EXPECT_LE(err, kF32Tol);
  for (int b = 0; b < 3; ++b) EXPECT_EQ(gpu_caches[static_cast<std::size_t>(b)].size(), before[b] + T);
  std::printf("batch of 3 at positions 0, 17, 90: %.2e\n", err);
}

// A fake-quantized model kept packed runs on the device without float32 copies of its weights:
// its logits equal the CPU's run of the same packed model, prefill (GEMM after a dequantized slab)
// and decode (gemv_packed.cu, dequantizing in registers), in every format family.
TEST(ForwardOnGpu, PackedWeightsEqualTheCpu) {
  QLAB_REQUIRE_GPU();
  const Model base = Model::load(qlab::testing::synth("hd64_bf16", synth_cases()[0].config, io::DType::BF16));
  const auto V = static_cast<std::size_t>(base.vocab_size());
  const auto tokens = random_tokens(base.vocab_size(), 80, 6);
  for (const char* name : {"nvfp4", "mxfp4", "nf4", "nf4-dq", "int4-g32", "int3-g64", "int8-ch", "fp8-tensor",
                           "fp8-channel", "int4-ch-sym", "int8-g32", "int4-g32-sym"}) {
    Model q = base;
    quant::fake_quantize_model(q, formats::block_format(name), {.embeddings = true}, Progress::none(), false, true);
    ASSERT_EQ(q.weights().layers[0].wq.type, tensor::ElemType::Packed) << name;
    const auto cpu = forward_all(q, tokens);
    const double e = max_row_rel_error(forward_all(q, tokens, gpu()), cpu, V);
    const double d = max_row_rel_error(stepwise(q, tokens, gpu(), 60), cpu, V);
    EXPECT_LE(e, kF32Tol) << name;
    EXPECT_LE(d, kF32Tol) << name << " decode";
    std::printf("packed %-12s f32 %.2e  decode %.2e\n", name, e, d);
  }
}

// Weights read in place from host memory (WeightPlacement::Host: meant to become Auto's choice on the
// GB10 for a weight that would not fit beside the copies) give the CPU's logits, bf16 and packed, prompt and
// decode, and take no device memory. On a GPU that cannot read pageable memory, asking for it is a
// clear error naming the GPU instead, and the test says it could not run the in-place path.
TEST(ForwardOnGpu, WeightsReadInPlaceEqualTheCpu) {
  QLAB_REQUIRE_GPU();
  struct Restore {
    ~Restore() { cuda::set_weight_placement(cuda::WeightPlacement::Auto); }
  } restore;
  // Loaded afresh: a new mapping, so no copy of these weights exists yet.
  // Loaded afresh, in a shape no other test uses: the weight cache takes a matrix at an address it has
  // seen, with the same shape and sampled bytes, for the copy it already has.
  const Model base = Model::load(
      qlab::testing::synth("in_place_bf16", qlab::testing::shape(2, 576, 9, 3, 1088, 3000), io::DType::BF16));
  Model packed = base;
  quant::fake_quantize_model(packed, formats::block_format("nvfp4"), {.embeddings = true}, Progress::none(), false, true);
  const auto V = static_cast<std::size_t>(base.vocab_size());
  const auto tokens = random_tokens(base.vocab_size(), 80, 12);
  cuda::set_weight_placement(cuda::WeightPlacement::Host);
  if (!cuda::probe().pageable_access) {
    try {
      (void)forward_all(base, tokens, gpu());
      ADD_FAILURE() << "weights in place on a GPU without pageable-memory access";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("pageable"), std::string::npos) << e.what();
    }
    GTEST_SKIP() << cuda::probe().name << " cannot read pageable host memory: the error was checked, the in-place "
                 << "path needs a GPU that can (the GB10 does, through the host's page tables)";
  }
  for (const Model* m : {&base, static_cast<const Model*>(&packed)}) {
    const auto before = cuda::weight_stats();
    const auto cpu = forward_all(*m, tokens);
    const double e = max_row_rel_error(forward_all(*m, tokens, gpu()), cpu, V);
    const double d = max_row_rel_error(stepwise(*m, tokens, gpu(), 60), cpu, V);
    const auto after = cuda::weight_stats();
    EXPECT_LE(e, kF32Tol);
    EXPECT_LE(d, kF32Tol) << "decode";
    EXPECT_GT(after.in_place_bytes, before.in_place_bytes) << "the weights were read in place";
    EXPECT_EQ(after.resident_bytes, before.resident_bytes) << "and no copy was made";
    std::printf("weights read in place (%s): f32 %.2e  decode %.2e, %.1f MB in host memory\n",
                m == &base ? "bf16" : "nvfp4", e, d, static_cast<double>(after.in_place_bytes - before.in_place_bytes) / 1e6);
  }
}

// Weights past the budget stream through the ring (weights.h): a model eight times the ring's size
// gives the CPU's logits on the first pass (copies on demand), the second (copies ahead, places
// reused as the layers come round) and while decoding, bf16 and packed (four parts a weight).
TEST(ForwardOnGpu, WeightsPastTheBudgetStreamAndEqualTheCpu) {
  QLAB_REQUIRE_GPU();
  struct Restore {
    ~Restore() { cuda::set_weight_budget(0); }
  } restore;
  const Model base = Model::load(
      qlab::testing::synth("stream_bf16", qlab::testing::shape(8, 512, 8, 2, 1536, 1000), io::DType::BF16));
  Model packed = base;
  quant::fake_quantize_model(packed, formats::block_format("nvfp4"), {.embeddings = true}, Progress::none(), false, true);
  const auto V = static_cast<std::size_t>(base.vocab_size());
  const auto tokens = random_tokens(base.vocab_size(), 80, 14);
  constexpr std::uint64_t kBudget = 8ULL << 20;
  for (const Model* m : {&base, static_cast<const Model*>(&packed)}) {
    cuda::set_weight_budget(kBudget);  // a ring sized afresh for this model's weights
    std::uint64_t linear_bytes = 0;
    for (const auto& l : m->weights().layers)
      for (const tensor::Matrix* w : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down})
        linear_bytes += w->storage_bytes();
    const auto cpu = forward_all(*m, tokens);
    const auto before = cuda::weight_stats();
    const double first = max_row_rel_error(forward_all(*m, tokens, gpu()), cpu, V);
    const double second = max_row_rel_error(forward_all(*m, tokens, gpu()), cpu, V);
    const double dec = max_row_rel_error(stepwise(*m, tokens, gpu(), 60), cpu, V);
    const auto after = cuda::weight_stats();
    const char* name = m == &base ? "bf16" : "nvfp4";
    EXPECT_LE(first, kF32Tol) << name;
    EXPECT_LE(second, kF32Tol) << name;
    EXPECT_LE(dec, kF32Tol) << name << " decode";
    EXPECT_GT(after.ring_bytes, 0u) << name;
    EXPECT_LT(after.ring_bytes, linear_bytes / 2) << name << ": the ring is far smaller than the model";
    EXPECT_LE(after.resident_bytes, std::max<std::uint64_t>(kBudget, after.ring_bytes)) << name;
    // Two prompt passes and 21 decoding ones, each streaming all but what the ring still held.
    ASSERT_LT(after.ring_bytes, linear_bytes);
    EXPECT_GE(after.streamed_bytes - before.streamed_bytes, 20 * (linear_bytes - after.ring_bytes)) << name;
    std::printf("streamed (%s): first pass %.2e, second %.2e, decode %.2e; %.1f MB of Linears through a %.1f MB ring, "
                "%.1f MB copied\n",
                name, first, second, dec, static_cast<double>(linear_bytes) / 1e6,
                static_cast<double>(after.ring_bytes) / 1e6,
                static_cast<double>(after.streamed_bytes - before.streamed_bytes) / 1e6);
  }
}

// One layer alone (sequential calibration): the outputs and the hook's views of each Linear input
// equal the CPU's.
TEST(ForwardOnGpu, LayerAloneWithHookEqualsTheCpu) {
  QLAB_REQUIRE_GPU();
  const Model m = Model::load(qlab::testing::fixture("models/qwen2"));
  const auto tokens = random_tokens(m.vocab_size(), 24, 8);
  const std::int64_t H = m.config().hidden_size, T = 12;
  std::vector<float> x(tokens.size() * static_cast<std::size_t>(H));
  embed_tokens(m, tokens, x.data());
  std::map<std::string, std::vector<float>> seen[2];
  std::vector<float> out[2];
  for (int g = 0; g < 2; ++g) {
    Backend& be = g ? gpu() : cpu_backend();
    std::vector<KVCache> caches;
    caches.emplace_back(m.config(), T, 1, be);
    caches.emplace_back(m.config(), T, 1, be);
    std::vector<KVCache*> ptrs{&caches[0], &caches[1]};
    out[g] = x;
    run_decoder_layer(m, 1, ptrs, out[g].data(), T, [&](const LinearInputView& v) {
      seen[g][linear_input_name(v.which)].assign(v.host(), v.host() + v.rows * v.cols);
    });
  }
  EXPECT_LE(max_row_rel_error(out[1], out[0], static_cast<std::size_t>(H)), kF32Tol);
  ASSERT_EQ(seen[1].size(), 4u);
  for (const auto& [k, v] : seen[0]) EXPECT_LE(max_row_rel_error(seen[1][k], v, v.size() / (2 * T)), kF32Tol) << k;
}

// A weight changed in place (same address) is noticed by its fingerprint and uploaded again.
TEST(ForwardOnGpu, ChangedWeightBytesAreUploadedAgain) {
  QLAB_REQUIRE_GPU();
  Model m = Model::load(qlab::testing::fixture("models/llama"));
  tensor::Matrix& wq = m.mutable_weights().layers[0].wq;
  std::vector<float> w = wq.to_f32();
  wq = tensor::Matrix::owned_f32(w, wq.rows, wq.cols);
  const auto tokens = random_tokens(m.vocab_size(), 10, 2);
  forward_all(m, tokens, gpu());
  auto* bytes = static_cast<float*>(const_cast<void*>(wq.data));
  for (std::int64_t i = 0; i < wq.rows * wq.cols; ++i) bytes[i] *= -1.5f;
  const auto V = static_cast<std::size_t>(m.vocab_size());
  EXPECT_LE(max_row_rel_error(forward_all(m, tokens, gpu()), forward_all(m, tokens), V), kF32Tol);
}

}  // namespace
}  // namespace qlab::model
