// `qlab bench forward MODEL`: prompt-processing and decode speed of the runtime at 1 thread and at
// all threads, beside the single-precision GEMM rate of the same BLAS measured in the same run
// (reported as achieved GFLOP/s / BLAS GFLOP/s). Each thread count is measured in a child process
// (`--threads N`): OpenBLAS sizes its own worker pool when it loads (OPENBLAS_NUM_THREADS), and a
// fresh process starts every measurement from the same state.
// On a GPU (--device cuda, or auto where one is usable) it measures in this process instead: prompt
// passes in both GPU math modes against cuBLAS's rate on the same shapes, decode against the
// device's copy bandwidth, and perplexity throughput (gpu_bench below).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <random>
#include <span>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "app/cli.h"
#include "app/device_arg.h"
#include "app/model_arg.h"
#include "engine/core/error.h"
#include "engine/core/threads.h"
#include "engine/eval/perplexity.h"
#include "engine/model/forward.h"
#include "engine/model/generate.h"
#include "engine/tensor/blas.h"
#if defined(QLAB_HAVE_CUDA)
#include "engine/cuda/backend.h"
#include "engine/cuda/bench.h"
#endif

namespace qlab::app {
namespace {

using clock_type = std::chrono::steady_clock;

double since(clock_type::time_point t0) { return std::chrono::duration<double>(clock_type::now() - t0).count(); }

// Timing method. A prompt pass of a small model takes a few milliseconds and one reference GEMM a
// fraction of one, so two separate best-of-few measurements see different machine conditions (clock
// ramp, neighbours) and their ratio swings by tens of percent between runs. Instead both are timed
// in interleaved rounds: each round runs prompt passes for kRoundSeconds, then reference GEMMs for
// kRoundSeconds, and the best time of each over all rounds is kept.
constexpr double kRoundSeconds = 0.1;
constexpr int kRounds = 8;
// A model whose pass is longer than a round still gets one pass per round; it stops early once this
// much time has gone and it has kMinPasses passes, so a large model does not take minutes.
constexpr double kMaxSeconds = 3.0;
constexpr int kMinPasses = 3;
// OpenBLAS's default worker spin after a call: 2^28 cycles, about 0.1 s at 2.5 GHz.
constexpr std::chrono::milliseconds kBlasSpin{150};

// The BLAS reference: C[M,N] = A[M,K] B[N,K]^T with random operands, one call per time_one().
class GemmProbe {
 public:
  GemmProbe(std::int64_t M, std::int64_t N, std::int64_t K)
      : M_(M), N_(N), K_(K), A_(static_cast<std::size_t>(M * K)), B_(static_cast<std::size_t>(N * K)),
        C_(static_cast<std::size_t>(M * N)) {
    std::mt19937 rng(1);
    std::uniform_real_distribution<float> d(-1, 1);
    for (auto& x : A_) x = d(rng);
    for (auto& x : B_) x = d(rng);
  }
  double time_one() {
    const auto t0 = clock_type::now();
    tensor::sgemm_nt(M_, N_, K_, A_.data(), K_, B_.data(), K_, C_.data(), N_);
    return since(t0);
  }
  double flops() const { return 2.0 * static_cast<double>(M_) * static_cast<double>(N_) * static_cast<double>(K_); }

 private:
  std::int64_t M_, N_, K_;
  std::vector<float> A_, B_, C_;
};

// Multiply-adds of one forward pass over T tokens starting at position pos0 (linear layers, causal
// attention as computed usefully, and one lm_head row).
double forward_flops(const io::ModelConfig& c, std::int64_t T, std::int64_t pos0) {
  const double H = c.hidden_size, I = c.intermediate_size, hd = c.head_dim;
  const double qd = c.num_attention_heads * hd, kvd = c.num_key_value_heads * hd;
  const double linear = H * qd + 2 * H * kvd + qd * H + 3 * H * I;
  double attn_pairs = 0;  // (query, key) pairs a causal pass needs
  for (std::int64_t t = 0; t < T; ++t) attn_pairs += static_cast<double>(pos0 + t + 1);
  const double per_layer = 2 * static_cast<double>(T) * linear + 2 * 2 * attn_pairs * qd;
  return c.num_hidden_layers * per_layer + 2 * H * c.vocab_size;
}

// The longest sequence the model attends over: its trained context, or its sliding window if shorter.
std::int64_t model_context(const io::ModelConfig& c) {
  std::int64_t n = c.max_position_embeddings > 0 ? c.max_position_embeddings : std::int64_t{1} << 30;
  if (c.sliding_window > 0) n = std::min<std::int64_t>(n, c.sliding_window);
  return n;
}

// One batched prompt pass over n_seq sequences of seq_len tokens per time_one(), from empty caches.
class PromptProbe {
 public:
  PromptProbe(const model::Model& m, std::span<const std::int32_t> prompt, std::int64_t n_seq, std::int64_t seq_len)
      : m_(m), prompt_(prompt), logits_(static_cast<std::size_t>(n_seq * m.config().vocab_size)) {
    for (std::int64_t s = 0; s < n_seq; ++s) caches_.emplace_back(m.config(), seq_len);
    for (auto& k : caches_) cache_ptrs_.push_back(&k);
  }
  double time_one() {
    for (auto& k : caches_) k.clear();  // every pass is a fresh prompt, not a continuation
    const auto t0 = clock_type::now();
    model::forward_batch(m_, cache_ptrs_, prompt_, 1, logits_.data());
    return since(t0);
  }

 private:
  const model::Model& m_;
  std::span<const std::int32_t> prompt_;
  std::vector<float> logits_;
  std::vector<model::KVCache> caches_;
  std::vector<model::KVCache*> cache_ptrs_;
};

struct Interleaved {
  double prompt_s = 1e30, gemm_s = 1e30;  // best single pass / call
  int passes = 0, calls = 0;
};

// Calls time_one() for about `seconds` (at least once), keeping the best time in `best`; returns the count.
template <class Probe>
int best_for(Probe& probe, double seconds, double& best) {
  int n = 0;
  const auto t0 = clock_type::now();
  do {
    best = std::min(best, probe.time_one());
    ++n;
  } while (since(t0) < seconds);
  return n;
}

// Interleaved rounds (see kRoundSeconds). The first pass faults the mapped weights in and the first
// GEMM warms BLAS up; both are slower and lose to the minimum, so they need no separate warm-up.
Interleaved time_interleaved(PromptProbe& prompt, GemmProbe& gemm, int threads) {
  Interleaved r;
  const auto t0 = clock_type::now();
  for (int round = 0; round < kRounds; ++round) {
    if (since(t0) > kMaxSeconds && r.passes >= kMinPasses) break;
    r.passes += best_for(prompt, kRoundSeconds, r.prompt_s);
    tensor::set_blas_threads(threads);  // the reference runs at the thread count being measured
    r.calls += best_for(gemm, kRoundSeconds, r.gemm_s);
    tensor::set_blas_threads(1);  // the engine's own setting
    // After a multi-threaded call OpenBLAS's workers spin (sched_yield) for about 2^28 cycles before
    // they sleep: let them, so the next round's prompt passes do not share the cores with them.
    if (threads > 1) std::this_thread::sleep_for(kBlasSpin);
  }
  return r;
}

nlohmann::json measure(const model::Model& m, std::int64_t n_prompt, int n_decode) {
  const auto& c = m.config();
  // A prompt longer than the model's context is run as several equal sequences that fit it, all in one
  // batch: every Linear is still one matrix product over all the prompt's tokens, while attention
  // (and its FLOP count) stays within each sequence, as it would for real text.
  const std::int64_t n_seq = (n_prompt + model_context(c) - 1) / model_context(c);
  const std::int64_t seq_len = n_prompt / n_seq;
  n_prompt = n_seq * seq_len;
  std::mt19937 rng(7);
  std::uniform_int_distribution<std::int32_t> tok(0, c.vocab_size - 1);
  std::vector<std::int32_t> prompt(static_cast<std::size_t>(n_prompt));
  for (auto& t : prompt) t = tok(rng);

  // Prompt processing against the BLAS reference: the widest GEMM of a layer (up/gate projection) at
  // the prompt's token count, the shape every such product of the prompt pass has.
  const int threads = thread_count();
  Interleaved timed;
  double gemm_flops = 0;
  {
    PromptProbe prompt_probe(m, prompt, n_seq, seq_len);
    GemmProbe gemm(n_prompt, c.intermediate_size, c.hidden_size);
    timed = time_interleaved(prompt_probe, gemm, threads);
    gemm_flops = gemm.flops();
  }  // frees the caches and operands before decode
  const double prompt_s = timed.prompt_s;
  const double prompt_gflops = static_cast<double>(n_seq) * forward_flops(c, seq_len, 0) / prompt_s / 1e9;
  const double blas = gemm_flops / timed.gemm_s / 1e9;

  // Decode: one token at a time after a short context.
  const std::int64_t ctx = std::min<std::int64_t>(seq_len, 64);
  model::KVCache cache(c, ctx + n_decode + 1);
  std::vector<float> logits(static_cast<std::size_t>(c.vocab_size));  // one row per call
  model::forward(m, cache, std::span(prompt).first(static_cast<std::size_t>(ctx)), 1, logits.data());
  double decode_flops = 0;
  const auto t0 = clock_type::now();
  for (int i = 0; i < n_decode; ++i) {
    const std::int32_t next = tok(rng);
    decode_flops += forward_flops(c, 1, cache.size());
    model::forward(m, cache, std::span(&next, 1), 1, logits.data());
  }
  const double decode_s = since(t0);

  return {{"threads", threads},
          {"prompt_tokens", n_prompt},
          {"prompt_sequences", n_seq},
          {"prompt_tokens_per_s", static_cast<double>(n_prompt) / prompt_s},
          {"prompt_gflops", prompt_gflops},
          {"blas_gflops", blas},
          {"prompt_fraction_of_blas", prompt_gflops / blas},
          {"prompt_passes", timed.passes},
          {"blas_calls", timed.calls},
          {"decode_context", ctx},
          {"decode_tokens", n_decode},
          {"decode_tokens_per_s", n_decode / decode_s},
          {"decode_gflops", decode_flops / decode_s / 1e9},
          {"blas_shape", fmt::format("{}x{}x{}", n_prompt, c.intermediate_size, c.hidden_size)}};
}

nlohmann::json run_child(const std::string& model_arg, std::int64_t n_prompt, int n_decode, int threads) {
  std::error_code ec;
  const auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) fail("bench: cannot find the qlab executable to run the {}-thread measurement", threads);
  // OPENBLAS_NUM_THREADS caps the BLAS's own worker pool at the count measured: otherwise OpenBLAS
  // starts one worker per core at load, and in the 1-thread child those idle workers spin
  // (sched_yield) beside the measurement. set_blas_threads(n) still works up to that cap.
  const std::string full = fmt::format(
      "OPENBLAS_NUM_THREADS={} '{}' bench forward '{}' --single --json --threads {} --prompt {} --decode {}", threads,
      self.string(), model_arg, threads, n_prompt, n_decode);
  std::unique_ptr<FILE, int (*)(FILE*)> p(::popen(full.c_str(), "r"), ::pclose);
  if (!p) fail("bench: cannot start {}", full);
  std::string out;
  char buf[4096];
  while (std::size_t n = std::fread(buf, 1, sizeof buf, p.get())) out.append(buf, n);
  const int rc = ::pclose(p.release());
  if (rc != 0) fail("bench: the {}-thread measurement failed (exit status {})", threads, rc);
  return nlohmann::json::parse(out);
}

#if defined(QLAB_HAVE_CUDA)
// ---- GPU ----------------------------------------------------------------------------------------------
// Median of `reps` calls of fn after two warm-ups (the first pass uploads the weights), host clock
// around a synchronised call.
template <typename F>
double median_seconds(int reps, F&& fn) {
  std::vector<double> t;
  for (int i = 0; i < reps + 2; ++i) {
    const auto t0 = clock_type::now();
    fn();
    if (i >= 2) t.push_back(since(t0));
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

// Bytes of weights one decoded token reads: every Linear of every layer and the lm_head.
double weight_bytes_per_token(const model::Model& m) {
  double b = static_cast<double>(m.weights().lm_head.storage_bytes());
  for (const auto& l : m.weights().layers)
    for (const tensor::Matrix* w : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down})
      b += static_cast<double>(w->storage_bytes());
  return b;
}

nlohmann::json gpu_bench(const model::Model& m, std::int64_t n_prompt, int n_decode, int ppl_chunks) {
  const auto& c = m.config();
  const std::int64_t n_seq = (n_prompt + model_context(c) - 1) / model_context(c);
  const std::int64_t seq_len = n_prompt / n_seq;
  n_prompt = n_seq * seq_len;
  std::mt19937 rng(7);
  std::uniform_int_distribution<std::int32_t> tok(0, c.vocab_size - 1);
  std::vector<std::int32_t> prompt(static_cast<std::size_t>(n_prompt));
  for (auto& t : prompt) t = tok(rng);
  const double flops = static_cast<double>(n_seq) * forward_flops(c, seq_len, 0);

  // cuBLAS on the prompt's products: every Linear of a layer at the prompt's token count.
  const double H = c.hidden_size, I = c.intermediate_size, qd = c.num_attention_heads * c.head_dim,
               kvd = c.num_key_value_heads * c.head_dim;
  const double shapes[][2] = {{qd, H}, {kvd, H}, {kvd, H}, {H, qd}, {I, H}, {I, H}, {H, I}};
  double ref_flops = 0, ref_s_bf16 = 0, ref_s_f32 = 0;
  for (const auto& sh : shapes) {
    const auto N = static_cast<std::int64_t>(sh[0]), K = static_cast<std::int64_t>(sh[1]);
    ref_flops += 2.0 * static_cast<double>(n_prompt) * sh[0] * sh[1];
    ref_s_bf16 += cuda::gemm_seconds(n_prompt, N, K, true, 10);
    ref_s_f32 += cuda::gemm_seconds(n_prompt, N, K, false, 3);
  }
  const double copy_bw = cuda::copy_bandwidth(std::size_t{1} << 30, 10);
  nlohmann::json j{{"prompt_tokens", n_prompt},
                   {"prompt_sequences", n_seq},
                   {"cublas_bf16_gflops", ref_flops / ref_s_bf16 / 1e9},
                   {"cublas_f32_gflops", ref_flops / ref_s_f32 / 1e9},
                   {"copy_gb_per_s", copy_bw / 1e9}};
  const auto streamed = [] { return static_cast<double>(cuda::weight_stats().streamed_bytes); };
  for (const model::GpuMath math : {model::GpuMath::BF16, model::GpuMath::F32}) {
    const bool bf16 = math == model::GpuMath::BF16;
    model::Backend& be = *model::make_backend(model::Device::Cuda, math).backend;
    nlohmann::json r;
    {
      std::vector<model::KVCache> caches;
      std::vector<model::KVCache*> ptrs;
      for (std::int64_t s = 0; s < n_seq; ++s) caches.emplace_back(c, seq_len, 0, be);
      for (auto& k : caches) ptrs.push_back(&k);
      const std::shared_ptr<float> logits = be.alloc(n_seq * c.vocab_size);
      float probe = 0;
      const double s0 = streamed();
      int passes = 0;
      const double t = median_seconds(5, [&] {
        ++passes;
        for (auto& k : caches) k.clear();
        model::forward_batch_on_backend(m, ptrs, prompt, 1, logits.get());
        be.download(logits.get(), 1, &probe);  // waits for the pass
      });
      r["prompt_streamed_gb"] = (streamed() - s0) / passes / 1e9;
      r["prompt_seconds"] = t;
      r["prompt_tokens_per_s"] = static_cast<double>(n_prompt) / t;
      r["prompt_gflops"] = flops / t / 1e9;
      r["prompt_fraction_of_cublas"] = flops / t / (ref_flops / (bf16 ? ref_s_bf16 : ref_s_f32));
    }
    {
      // Decode one token at a time after a short context, the logits copied to the host each token.
      const std::int64_t ctx = std::min<std::int64_t>(seq_len, 64);
      model::KVCache cache(c, ctx + n_decode + 3, 0, be);
      std::vector<float> logits(static_cast<std::size_t>(c.vocab_size));
      model::forward(m, cache, std::span(prompt).first(static_cast<std::size_t>(ctx)), 1, logits.data());
      for (int i = 0; i < 2; ++i) {  // warm-up: the decode kernels' first launches
        const std::int32_t next = tok(rng);
        model::forward(m, cache, std::span(&next, 1), 1, logits.data());
      }
      const double s0 = streamed();
      const auto t0 = clock_type::now();
      for (int i = 0; i < n_decode; ++i) {
        const std::int32_t next = tok(rng);
        model::forward(m, cache, std::span(&next, 1), 1, logits.data());
      }
      const double tps = n_decode / since(t0);
      const double bytes = weight_bytes_per_token(m);
      r["decode_streamed_gb_per_token"] = (streamed() - s0) / n_decode / 1e9;
      r["decode_context"] = ctx;
      r["decode_tokens"] = n_decode;
      r["decode_tokens_per_s"] = tps;
      r["decode_weight_gb_per_s"] = bytes * tps / 1e9;
      r["decode_fraction_of_copy"] = bytes * tps / copy_bw;
    }
    if (ppl_chunks > 0) {
      eval::PplOptions opt;
      opt.n_ctx = std::min<std::int64_t>(512, model_context(c));
      opt.max_chunks = ppl_chunks;
      opt.backend = &be;
      std::vector<std::int32_t> text(static_cast<std::size_t>(opt.n_ctx * (ppl_chunks + 1)));
      for (auto& t : text) t = tok(rng);
      eval::perplexity(m, text, opt);  // warm-up
      const eval::PplResult p = eval::perplexity(m, text, opt);
      r["ppl_ctx"] = opt.n_ctx;
      r["ppl_tokens_per_s"] = static_cast<double>(p.tokens_evaluated) / p.seconds;
    }
    j[bf16 ? "bf16" : "f32"] = r;
  }
  // Weights past the GPU's memory or the budget (QLAB_CUDA_WEIGHT_BUDGET) streamed: their copies'
  // own time at the bus's measured rate, the least a pass can take if every copy overlaps compute.
  const cuda::WeightStats ws = cuda::weight_stats();
  if (ws.ring_bytes > 0) {
    j["ring_gb"] = static_cast<double>(ws.ring_bytes) / 1e9;
    j["ring_staged_pinned"] = ws.staged_pinned;
    j["h2d_pageable_gb_per_s"] = cuda::host_to_device_bandwidth(std::size_t{1} << 30, 5, false) / 1e9;
    j["h2d_pinned_gb_per_s"] = cuda::host_to_device_bandwidth(std::size_t{1} << 30, 5, true) / 1e9;
  }
  return j;
}

int run_gpu(const Args& a, const std::filesystem::path& dir, const DeviceArg& device, std::int64_t n_prompt,
            int n_decode) {
  const model::Model m = model::Model::load(dir);
  const int ppl_chunks = static_cast<int>(a.get_int("ppl-chunks", 8, 0, 1 << 20));
  nlohmann::json j = gpu_bench(m, n_prompt, n_decode, ppl_chunks);
  j["model"] = dir.string();
  j["device"] = device.where;
  if (a.json()) {
    print_json(j.dump(2));
    return 0;
  }
  fmt::print("model: {}   device: {}\n", dir.string(), device.where);
  fmt::print("prompt: {} tokens in one batch; decode: {} tokens after {}, logits copied to the host each token\n",
             j["prompt_tokens"].get<std::int64_t>(), n_decode, j["bf16"]["decode_context"].get<std::int64_t>());
  fmt::print("references (same run): cuBLAS on the prompt's 7 products per layer: {:.1f} TFLOP/s bf16, {:.1f} "
             "TFLOP/s f32; device copy {:.0f} GB/s (read + write)\n\n",
             j["cublas_bf16_gflops"].get<double>() / 1e3, j["cublas_f32_gflops"].get<double>() / 1e3,
             j["copy_gb_per_s"].get<double>());
  fmt::print("{:>5}  {:>12}  {:>26}  {:>12}  {:>24}  {:>12}\n", "math", "prompt tok/s", "achieved / cuBLAS TFLOP/s",
             "decode tok/s", "weight GB/s / copy GB/s", "ppl tok/s");
  for (const char* k : {"bf16", "f32"}) {
    const auto& r = j[k];
    const double ref = std::string(k) == "bf16" ? j["cublas_bf16_gflops"].get<double>() : j["cublas_f32_gflops"].get<double>();
    fmt::print("{:>5}  {:>12.0f}  {:>8.1f} / {:<6.1f} ({:3.0f}%)  {:>12.1f}  {:>8.0f} / {:<5.0f} ({:3.0f}%)  {:>12}\n", k,
               r["prompt_tokens_per_s"].get<double>(), r["prompt_gflops"].get<double>() / 1e3, ref / 1e3,
               100 * r["prompt_fraction_of_cublas"].get<double>(), r["decode_tokens_per_s"].get<double>(),
               r["decode_weight_gb_per_s"].get<double>(), j["copy_gb_per_s"].get<double>(),
               100 * r["decode_fraction_of_copy"].get<double>(),
               r.contains("ppl_tokens_per_s") ? fmt::format("{:.0f}", r["ppl_tokens_per_s"].get<double>()) : "-");
  }
  if (j.contains("ring_gb")) {
    // The copies' own time at the rate of the path they take (pinned: the bus's best).
    const double h2d = j[j["ring_staged_pinned"].get<bool>() ? "h2d_pinned_gb_per_s" : "h2d_pageable_gb_per_s"].get<double>();
    fmt::print("\nweights streamed through a {:.2f} GB ring ({}); host-to-device copy (same run): {:.1f} GB/s from "
               "pageable memory, {:.1f} GB/s pinned\n",
               j["ring_gb"].get<double>(),
               j["ring_staged_pinned"].get<bool>() ? fmt::format("pinned staging, {} threads", thread_count())
                                                   : std::string("from pageable memory"),
               h2d, j["h2d_pinned_gb_per_s"].get<double>());
    for (const char* k : {"bf16", "f32"}) {
      const auto& r = j[k];
      const double pg = r["prompt_streamed_gb"].get<double>(), dg = r["decode_streamed_gb_per_token"].get<double>();
      const double ps = r["prompt_seconds"].get<double>(), ds = 1 / r["decode_tokens_per_s"].get<double>();
      fmt::print("{:>5}  prompt: {:.2f} GB streamed a pass, {:.3f} s of copying in {:.3f} s ({:.0f}%); decode: {:.2f} GB "
                 "a token, {:.3f} s of copying in {:.3f} s ({:.0f}%)\n",
                 k, pg, pg / h2d, ps, 100 * pg / h2d / ps, dg, dg / h2d, ds, 100 * dg / h2d / ds);
    }
  }
  return 0;
}
#endif

int run(const Args& a) {
  const std::string model_arg = a.positional().at(0);
  const auto dir = resolve_model_arg(model_arg);
  const std::int64_t n_prompt = a.get_int("prompt", 512, 1, 1 << 16);
  const int n_decode = static_cast<int>(a.get_int("decode", 16, 1, 1 << 16));
  if (!a.has("single")) {
    const DeviceArg device = choose_device(a, "bench forward");
#if defined(QLAB_HAVE_CUDA)
    if (device.gpu) return run_gpu(a, dir, device, n_prompt, n_decode);
#endif
  }
  if (a.has("single")) {
    const model::Model m = model::Model::load(dir);
    auto j = measure(m, n_prompt, n_decode);
    j["model"] = dir.string();
    print_json(j.dump(2));
    return 0;
  }
  std::vector<nlohmann::json> rows;
  std::vector<int> counts{1};
  if (thread_count() > 1) counts.push_back(thread_count());
  for (int t : counts) rows.push_back(run_child(dir.string(), n_prompt, n_decode, t));
  if (a.json()) {
    print_json(nlohmann::json{{"model", dir.string()}, {"runs", rows}}.dump(2));
    return 0;
  }
  const auto& first = rows.front();
  const auto n_seq = first["prompt_sequences"].get<std::int64_t>();
  fmt::print("model: {}   prompt: {} tokens{}, decode: {} tokens after {}\n", dir.string(),
             first["prompt_tokens"].get<std::int64_t>(),
             n_seq > 1 ? fmt::format(" ({} sequences of {}, the model's context, in one batch)", n_seq,
                                     first["prompt_tokens"].get<std::int64_t>() / n_seq)
                       : std::string(),
             n_decode, first["decode_context"].get<std::int64_t>());
  fmt::print("BLAS reference: one SGEMM of shape {} (M x N x K) through the same BLAS, same threads\n",
             rows.front()["blas_shape"].get<std::string>());
  std::string counts_line;
  for (const auto& r : rows)
    counts_line += fmt::format("{}{} passes / {} BLAS calls ({} thread{})", counts_line.empty() ? "" : ", ",
                               r["prompt_passes"].get<int>(), r["blas_calls"].get<int>(), r["threads"].get<int>(),
                               r["threads"].get<int>() == 1 ? "" : "s");
  fmt::print("timing: best of {}, interleaved\n\n", counts_line);
  fmt::print("{:>7}  {:>14}  {:>28}  {:>12}  {:>14}\n", "threads", "prompt tok/s", "achieved / BLAS GFLOP/s",
             "decode tok/s", "decode GFLOP/s");
  for (const auto& r : rows)
    fmt::print("{:>7}  {:>14.1f}  {:>10.1f} / {:<7.1f} ({:3.0f}%)  {:>12.2f}  {:>14.1f}\n", r["threads"].get<int>(),
               r["prompt_tokens_per_s"].get<double>(), r["prompt_gflops"].get<double>(),
               r["blas_gflops"].get<double>(), 100 * r["prompt_fraction_of_blas"].get<double>(),
               r["decode_tokens_per_s"].get<double>(), r["decode_gflops"].get<double>());
  fmt::print("\nThe %: the prompt pass's GFLOP/s as a share of one SGEMM of its widest layer's shape through the same\n"
             "BLAS at the same thread count, measured in this run. It compares the forward pass with this machine's\n"
             "own matrix-product speed, not with the hardware's peak: above 100% the whole pass did its FLOPs faster\n"
             "than that one big product did (a small model's sequences split one per thread can keep its data in the\n"
             "caches); well below 100%, attention, norms and memory traffic dominate.\n");
  return 0;
}

const Registrar reg{Command{"bench forward", "runtime speed: prompt and decode tokens/s against the BLAS GEMM rate",
                            "MODEL [--prompt N] [--decode N]",
                            {{"prompt", "N", "prompt tokens processed in one batch (default 512)"},
                             {"decode", "N", "tokens decoded one at a time (default 16)"},
                             {"single", "", "measure at --threads only, in this process (JSON)"},
                             {"ppl-chunks", "N", "GPU: perplexity throughput over N chunks of 512 (default 8; 0 = skip)"},
                             device_options()[0], device_options()[1]},
                            "Runs itself once with --threads 1 and once with all threads.\n"
                            "Prompt passes and reference SGEMMs are timed in interleaved rounds (about 0.1 s of\n"
                            "each per round, 8 rounds; fewer for a slow model) and the best of each is kept, so the\n"
                            "achieved / BLAS ratio compares the two under the same machine conditions.\n"
                            "Prompt GFLOP/s counts 2 FLOPs per multiply-add of the linear layers (q, k, v, o, gate,\n"
                            "up, down), of causal attention (q k^T and P v over the keys each query sees) and of one\n"
                            "lm_head row per sequence (only the last token's logits are computed); norms, RoPE,\n"
                            "softmax and SwiGLU are not counted. The BLAS reference is one SGEMM of the widest layer\n"
                            "product (prompt tokens x intermediate x hidden) at the same thread count. A prompt\n"
                            "longer than the model's context is split into equal sequences that fit it, run as one\n"
                            "batch: every linear layer is still one product over all the prompt's tokens (the\n"
                            "reference's shape), while attention stays within each sequence as it would for text.\n"
                            "On a GPU (--device cuda, or auto where one is usable) everything runs in this process:\n"
                            "prompt passes in bf16 and f32 math (median of 5 after 2 warm-ups) against cuBLAS's rate\n"
                            "on the same layer products, measured in the same run; decode as weight bytes read per\n"
                            "token x tokens/s against a device-to-device copy (bytes read + written); perplexity\n"
                            "throughput over --ppl-chunks chunks of 512 random tokens. --gpu-math is not used: both\n"
                            "modes are measured.",
                            1, 1, run}};

}  // namespace
}  // namespace qlab::app
