#include "engine/train/lab3.h"

#include <chrono>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "engine/core/atomic_file.h"
#include "engine/core/error.h"
#include "engine/io/tokenizer.h"
#include "engine/train/evaluate.h"
#include "engine/train/train_presets.h"

namespace qlab::train {

using nlohmann::json;

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

json casts_json(const CastStats& c) {
  json j = json::object();
  for (int r = 0; r < kCastRoles; ++r)
    j[std::string(cast_role_name(static_cast<CastRole>(r)))] = {{"values", c[r].total},
                                                                 {"saturated", c[r].saturated},
                                                                 {"flushed_to_zero", c[r].flushed},
                                                                 {"saturated_fraction", c[r].saturated_fraction()},
                                                                 {"flushed_fraction", c[r].flushed_fraction()}};
  return j;
}

json num(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

}  // namespace

Fp8InferenceResult fp8_inference(const std::filesystem::path& dir, std::int64_t max_chunks, std::stop_token stop) {
  const TrainModel m = TrainModel::load(dir);
  const io::Tokenizer tok = io::Tokenizer::load(dir);
  const auto eval = tok.encode(read_file(dir / "eval.txt"), false);
  const auto calib = tok.encode(read_file(dir / "calib.txt"), false);
  const std::int32_t bos = m.cfg.bos_token_id >= 0 ? m.cfg.bos_token_id : 0;
  return fp8_inference(m, eval, calib, m.cfg.max_position_embeddings, bos, max_chunks, stop);
}

Fp8InferenceResult fp8_inference(const TrainModel& m, const std::vector<std::int32_t>& eval,
                                 const std::vector<std::int32_t>& calib, std::int64_t n_ctx,
                                 std::optional<std::int32_t> bos, std::int64_t max_chunks, std::stop_token stop) {
  Fp8InferenceResult r;
  CastContext f32;
  ScoredNll a = eval_perplexity(m, eval, n_ctx, bos, f32, max_chunks);
  r.ppl_fp32 = a.ppl();
  r.scored_tokens = a.count;
  check_cancel(stop);
  CastContext b16;
  b16.precision = Precision::BF16;
  r.ppl_bf16 = eval_perplexity(m, eval, n_ctx, bos, b16, max_chunks).ppl();
  check_cancel(stop);
  r.calib_chunks = std::min<std::int64_t>(8, static_cast<std::int64_t>(calib.size()) / n_ctx);
  CastContext f8 = calibrate_fp8_inference(m, calib, n_ctx, r.calib_chunks);
  f8.stats = CastStats{};
  r.ppl_fp8 = eval_perplexity(m, eval, n_ctx, bos, f8, max_chunks).ppl();
  r.fp8_casts = f8.stats;
  return r;
}

Lab3Result run_lab3(const Lab3Options& o, const std::function<void(Precision, const StepRecord&)>& on_step,
                    Progress& progress, std::stop_token stop) {
  const auto t0 = std::chrono::steady_clock::now();
  const TrainPreset& preset = train_preset("small");
  progress.report(0.0, "making the corpus");
  const Corpus corpus = make_corpus(preset.corpus);
  TrainOptions opt = preset.options;
  if (o.steps > 0) opt.steps = o.steps;
  opt.recipe = o.recipe;
  TrainModel init = TrainModel::create(preset.config(preset.corpus.vocab_size));
  init.init(opt.seed);
  const std::int64_t n_ctx = init.cfg.max_position_embeddings;
  const std::int32_t bos = init.cfg.bos_token_id >= 0 ? init.cfg.bos_token_id : 0;

  Lab3Result res;
  res.unigram_ppl = unigram_perplexity(corpus.train_tokens, init.cfg.vocab_size, corpus.eval_tokens, n_ctx,
                                       o.eval_chunks).ppl();
  const auto n_runs = static_cast<int>(o.precisions.size());
  const double share = n_runs ? (o.builtin_dir ? 0.88 : 1.0) / n_runs : 0.0;
  for (int i = 0; i < n_runs; ++i) {
    const Precision p = o.precisions[static_cast<std::size_t>(i)];
    TrainState s;
    s.model = init;
    TrainOptions po = opt;
    po.precision = p;
    Lab3Run run;
    run.precision = p;
    struct Sub : Progress {
      Progress& parent;
      double base, span;
      Sub(Progress& pr, double b, double sp) : parent(pr), base(b), span(sp) {}
      void report(double f, std::string_view label) override { parent.report(base + f * span, label); }
    } sub(progress, i * share, share);
    const auto r0 = std::chrono::steady_clock::now();
    RunHooks hooks;
    hooks.on_step = [&](const StepRecord& r) {
      if (on_step) on_step(p, r);
    };
    run_training(s, po, corpus.train_tokens, hooks, sub, stop);
    check_cancel(stop);
    run.seconds = seconds_since(r0);
    run.history = s.history;
    for (const auto& h : s.history)
      for (int k = 0; k < kCastRoles; ++k) run.totals[k] += h.casts[k];
    run.tokens_per_s = static_cast<double>(s.history.size() * static_cast<std::size_t>(po.batch * po.seq)) /
                       std::max(run.seconds, 1e-9);
    run.stop_reason = s.stop_reason;
    CastContext c = s.ctx;
    c.precision = p;
    c.record_amax = false;
    run.eval_ppl = eval_perplexity(s.model, corpus.eval_tokens, n_ctx, bos, c, o.eval_chunks).ppl();
    CastContext f32;
    run.eval_ppl_fp32 = eval_perplexity(s.model, corpus.eval_tokens, n_ctx, bos, f32, o.eval_chunks).ppl();
    res.runs.push_back(std::move(run));
  }
  if (o.builtin_dir) {
    progress.report(0.9, "FP8 inference on the built-in model");
    res.inference = fp8_inference(*o.builtin_dir, o.inference_chunks, stop);
  }
  res.seconds = seconds_since(t0);
  progress.report(1.0, "done");
  return res;
}

json lab3_to_json(const Lab3Result& r) {
  json runs = json::array();
  for (const auto& run : r.runs) {
    json steps = json::array(), loss = json::array(), gn = json::array();
    json sat = json::object(), flush = json::object();
    for (int k = 0; k < kCastRoles; ++k) {
      sat[std::string(cast_role_name(static_cast<CastRole>(k)))] = json::array();
      flush[std::string(cast_role_name(static_cast<CastRole>(k)))] = json::array();
    }
    for (const auto& h : run.history) {
      steps.push_back(h.step);
      loss.push_back(num(h.loss));
      gn.push_back(num(h.grad_norm));
      for (int k = 0; k < kCastRoles; ++k) {
        const std::string n(cast_role_name(static_cast<CastRole>(k)));
        sat[n].push_back(h.casts[k].saturated_fraction());
        flush[n].push_back(h.casts[k].flushed_fraction());
      }
    }
    runs.push_back({{"precision", precision_name(run.precision)},
                    {"step", steps},
                    {"loss", loss},
                    {"grad_norm", gn},
                    {"saturated_fraction", sat},
                    {"flushed_fraction", flush},
                    {"casts_total", casts_json(run.totals)},
                    {"final_loss", run.history.empty() ? json(nullptr) : num(run.history.back().loss)},
                    {"eval_ppl", num(run.eval_ppl)},
                    {"eval_ppl_fp32_forward", num(run.eval_ppl_fp32)},
                    {"seconds", run.seconds},
                    {"tokens_per_s", run.tokens_per_s},
                    {"stop_reason", run.stop_reason}});
  }
  json j = {{"runs", runs}, {"unigram_ppl", num(r.unigram_ppl)}, {"seconds", r.seconds}};
  if (r.inference) {
    const auto& f = *r.inference;
    j["fp8_inference"] = {{"ppl_fp32", num(f.ppl_fp32)},
                          {"ppl_bf16", num(f.ppl_bf16)},
                          {"ppl_e4m3", num(f.ppl_fp8)},
                          {"scored_tokens", f.scored_tokens},
                          {"calibration_chunks", f.calib_chunks},
                          {"scaling", "per tensor, max calibration (scale = 448 / amax), lm_head kept bf16"},
                          {"casts", casts_json(f.fp8_casts)}};
  }
  return j;
}

}  // namespace qlab::train
