#include "engine/bench/infer_bench.h"

#include <algorithm>
#include <chrono>
#include <random>

#include <fmt/format.h>

#include "engine/bench/variants.h"
#include "engine/core/threads.h"
#include "engine/model/forward.h"
#include "engine/tensor/row_dot_table.h"

namespace qlab::bench {

namespace {

using clock_type = std::chrono::steady_clock;
double seconds_since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

std::int64_t model_context(const io::ModelConfig& c) {
  std::int64_t n = c.max_position_embeddings > 0 ? c.max_position_embeddings : std::int64_t{1} << 30;
  if (c.sliding_window > 0) n = std::min<std::int64_t>(n, c.sliding_window);
  return n;
}

}  // namespace

SpeedResult measure_speed(const model::Model& m, const InferBenchOptions& opt, std::stop_token stop,
                          const std::function<void(double)>& done_fraction) {
  const io::ModelConfig& c = m.config();
  std::mt19937 rng(7);
  std::uniform_int_distribution<std::int32_t> tok(0, c.vocab_size - 1);
  const int reps = std::max(1, opt.repetitions);
  const double steps = (opt.prompt_tokens > 0 ? reps + 1 : 0) + (opt.decode_tokens > 0 ? reps + 1 : 0);
  double done = 0;
  auto step_done = [&] {
    done += 1;
    if (done_fraction) done_fraction(done / steps);
  };
  SpeedResult r;
  model::Backend& backend = opt.backend ? *opt.backend : model::cpu_backend();
  std::vector<float> logits(static_cast<std::size_t>(c.vocab_size));

  if (opt.prompt_tokens > 0) {
    // A prompt longer than the model's context runs as equal sequences that fit it, in one batch.
    const std::int64_t ctx = model_context(c);
    const std::int64_t n_seq = (opt.prompt_tokens + ctx - 1) / ctx, seq_len = opt.prompt_tokens / n_seq;
    std::vector<std::int32_t> prompt(static_cast<std::size_t>(n_seq * seq_len));
    for (auto& t : prompt) t = tok(rng);
    std::vector<model::KVCache> caches;
    for (std::int64_t s = 0; s < n_seq; ++s) caches.emplace_back(c, seq_len, 0, backend);
    std::vector<model::KVCache*> ptrs;
    for (auto& k : caches) ptrs.push_back(&k);
    std::vector<float> out(static_cast<std::size_t>(n_seq * c.vocab_size));
    std::vector<double> tps;
    for (int rep = 0; rep <= reps; ++rep) {  // the first pass maps the weights in and is not counted
      check_cancel(stop);
      for (auto& k : caches) k.clear();
      const auto t0 = clock_type::now();
      model::forward_batch(m, ptrs, prompt, 1, out.data());
      if (rep > 0) tps.push_back(static_cast<double>(prompt.size()) / seconds_since(t0));
      step_done();
    }
    r.prompt_tps = stat_of(tps);
  }

  if (opt.decode_tokens > 0) {
    const std::int64_t n = std::min<std::int64_t>(opt.decode_tokens, model_context(c));
    model::KVCache cache(c, n, 0, backend);
    std::vector<double> tps;
    for (int rep = 0; rep <= reps; ++rep) {  // a warm-up run first, as llama-bench does
      cache.clear();
      const auto t0 = clock_type::now();
      for (std::int64_t i = 0; i < n; ++i) {
        check_cancel(stop);
        const std::int32_t next = tok(rng);
        model::forward(m, cache, std::span(&next, 1), 1, logits.data());
      }
      if (rep > 0) tps.push_back(static_cast<double>(n) / seconds_since(t0));
      step_done();
    }
    r.decode_tps = stat_of(tps);
    // Token i attends over i + 1 cached positions: keys and values, float32, every layer.
    const double kv_row = 2.0 * static_cast<double>(c.num_key_value_heads) * static_cast<double>(c.head_dim) * 4.0 *
                          static_cast<double>(c.num_hidden_layers);
    r.kv_bytes_per_token = kv_row * (static_cast<double>(n) + 1) / 2;
  }
  return r;
}

InferBenchResult bench_infer(const model::Model& base, const std::vector<std::string>& variants,
                             const InferBenchOptions& opt, Progress& progress, std::stop_token stop) {
  const io::ModelConfig& c = base.config();
  InferBenchResult res;
  res.threads = thread_count();
  res.kernels = tensor::row_dot_set_name();
  if (!tensor::row_dot_sets().empty()) res.kernels += std::string(", integer: ") + tensor::row_dot_sets().front().integer;
  res.prompt_tokens = opt.prompt_tokens;
  res.decode_tokens = opt.decode_tokens;
  res.repetitions = opt.repetitions;
  // Ceilings: the read before and after the variants (the machine's load may change meanwhile),
  // and the GEMM of the prompt's widest product.
  const double n_var = static_cast<double>(variants.size());
  auto frac = [&](double variant_index, double within) { return (0.05 + 0.9 * (variant_index + within) / n_var); };
  const bool on_device = opt.device_copy_gbs && opt.device_gemm_gflops;
  auto read_ceiling = [&] {
    if (!on_device) return measure_read_bandwidth(5, 0, stop);
    ReadBandwidth b;
    b.best = opt.device_copy_gbs();
    b.gbs = stat_of({b.best});
    return b;
  };
  progress.report(0.0, "measuring read bandwidth");
  res.read_before = read_ceiling();
  progress.report(0.02, "measuring the GEMM rate");
  const std::int64_t gm = std::max<std::int64_t>(opt.prompt_tokens, 64);
  if (on_device) {
    res.gemm.best = opt.device_gemm_gflops(gm, c.intermediate_size, c.hidden_size);
    res.gemm.gflops = stat_of({res.gemm.best});
    res.gemm.M = gm;
    res.gemm.N = c.intermediate_size;
    res.gemm.K = c.hidden_size;
  } else {
    res.gemm = measure_gemm_rate(gm, c.intermediate_size, c.hidden_size, 3, res.threads, stop);
  }
  res.device = opt.backend ? opt.backend->name() : "";
  for (std::size_t i = 0; i < variants.size(); ++i) {
    check_cancel(stop);
    const auto vi = static_cast<double>(i);
    const std::string& name = variants[i];
    progress.report(frac(vi, 0), fmt::format("{}: preparing", name));
    Variant v = make_variant(base, name);
    v.model.set_product_math(opt.math);
    VariantResult vr;
    vr.name = v.name;
    vr.storage = v.storage;
    vr.weight_bytes = weight_bytes_per_token(v.model);
    const SpeedResult s = measure_speed(v.model, opt, stop, [&](double f) {
      progress.report(frac(vi, f), fmt::format("{}: {:.0f}%", name, 100 * f));
    });
    vr.prompt_tps = s.prompt_tps;
    vr.decode_tps = s.decode_tps;
    vr.kv_bytes_per_token = s.kv_bytes_per_token;
    vr.bytes_per_token = static_cast<double>(vr.weight_bytes) + s.kv_bytes_per_token;
    vr.achieved_gbs = vr.bytes_per_token * s.decode_tps.mean / 1e9;
    res.variants.push_back(std::move(vr));
  }
  progress.report(0.96, "measuring read bandwidth again");
  res.read_after = read_ceiling();
  res.read_gbs = std::max(res.read_before.best, res.read_after.best);
  for (auto& v : res.variants) v.efficiency = res.read_gbs > 0 ? v.achieved_gbs / res.read_gbs : 0;
  progress.report(1.0, "done");
  return res;
}

}  // namespace qlab::bench
