#include "engine/train/lab3.h"

#include <chrono>

#include "engine/core/atomic_file.h"
#include "engine/core/error.h"
#include "engine/eval/unigram.h"
#include "engine/io/tokenizer.h"
#include "engine/quant/fp8_calibration.h"
#include "engine/train/evaluate.h"
#include "engine/train/train_presets.h"

namespace qlab::train {

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

Fp8InferenceResult fp8_inference(const std::filesystem::path& dir, std::int64_t max_chunks, std::stop_token stop) {
  const TrainModel m = TrainModel::load(dir);
  const io::Tokenizer tok = io::Tokenizer::load(dir);
  // The ids of eval.txt without a leading BOS, chunked with the model's BOS (eval::ppl_setup's policy).
  eval::PplRequest req;
  req.tokens = tok.encode(read_file(dir / "eval.txt"), false);
  req.n_ctx = m.cfg.max_position_embeddings;
  req.max_chunks = max_chunks;
  const eval::PplSetup setup = eval::ppl_setup(m.cfg, &tok, std::move(req));
  return fp8_inference(m, setup, tok.encode(read_file(dir / "calib.txt"), false), stop);
}

Fp8InferenceResult fp8_inference(const TrainModel& m, const eval::PplSetup& setup,
                                 const std::vector<std::int32_t>& calib, std::stop_token stop) {
  const std::int64_t n_ctx = setup.options.n_ctx;
  Fp8InferenceResult r;
  r.protocol = setup.protocol;
  CastContext f32;
  ScoredNll a = eval_perplexity(m, setup, f32);
  r.ppl_fp32 = a.ppl();
  r.scored_tokens = a.count;
  check_cancel(stop);
  CastContext b16;
  b16.precision = Precision::BF16;
  r.ppl_bf16 = eval_perplexity(m, setup, b16).ppl();
  check_cancel(stop);
  r.calib_chunks = quant::calibration_chunks(calib.size(), n_ctx, 8);
  CastContext f8 = calibrate_fp8_inference(m, calib, n_ctx, r.calib_chunks);
  f8.stats = CastStats{};
  r.ppl_fp8 = eval_perplexity(m, setup, f8).ppl();
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
  const eval::PplSetup held_out =
      held_out_setup(init, corpus.eval_tokens, init.cfg.max_position_embeddings, o.eval_chunks);

  Lab3Result res;
  res.protocol = held_out.protocol;
  res.unigram_ppl = eval::unigram_perplexity(corpus.train_tokens, init.cfg.vocab_size, held_out).ppl();
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
    run.eval_ppl = eval_perplexity(s.model, held_out, c).ppl();
    CastContext f32;
    run.eval_ppl_fp32 = eval_perplexity(s.model, held_out, f32).ppl();
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

}  // namespace qlab::train
