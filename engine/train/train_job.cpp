#include "engine/train/train_job.h"

#include <chrono>

#include <fmt/format.h>

#include "engine/core/atomic_file.h"
#include "engine/core/error.h"
#include "engine/eval/unigram.h"
#include "engine/io/tokenizer.h"
#include "engine/train/evaluate.h"
#include "engine/train/train_presets.h"

namespace qlab::train {

using nlohmann::json;

json evaluate_model(const TrainModel& m, Precision p, const CastContext& trained_ctx, const Corpus& corpus,
                    std::int64_t n_ctx, std::int64_t eval_chunks) {
  const eval::PplSetup held_out = held_out_setup(m, corpus.eval_tokens, n_ctx, eval_chunks);
  CastContext f32;
  const ScoredNll ppl32 = eval_perplexity(m, held_out, f32);
  const eval::NllStats uni = eval::unigram_perplexity(corpus.train_tokens, m.cfg.vocab_size, held_out);
  const eval::NllStats uni_self = eval::unigram_perplexity(corpus.eval_tokens, m.cfg.vocab_size, held_out);
  json j = {{"protocol", held_out.protocol},
            {"scored_tokens", ppl32.count},
            {"ppl_fp32", ppl32.ppl()},
            {"unigram_ppl", uni.ppl()},
            {"unigram_ppl_fit_on_eval", uni_self.ppl()},
            {"ppl_over_unigram", ppl32.ppl() / uni.ppl()}};
  if (p != Precision::FP32) {
    CastContext c = trained_ctx;
    c.precision = p;
    c.record_amax = false;
    j["ppl_" + std::string(precision_name(p))] = eval_perplexity(m, held_out, c).ppl();
  }
  if (!corpus.mc.empty()) {
    io::Tokenizer tok = io::Tokenizer::from_json_text(corpus.tokenizer_json, "tokenizer.json");
    eval::McScore s = mc_accuracy(m, tok, corpus.mc, f32);
    j["mc_items"] = s.items;
    j["mc_accuracy_letter"] = s.letter_accuracy();
    j["mc_accuracy_answer_text"] = s.text_accuracy();
  }
  return j;
}

TrainJobResult run_train_job(const TrainJobOptions& o, const std::function<void(const StepRecord&)>& on_step,
                             Progress& progress, std::stop_token stop) {
  if (o.out.empty()) fail("train: an output folder is needed");
  // Checked before any work: a file, a FIFO or a device where the folder should be.
  std::error_code ec;
  if (const auto st = std::filesystem::status(o.out, ec); std::filesystem::exists(st) && !std::filesystem::is_directory(st))
    fail("{}: exists and is not a folder; --out names the checkpoint folder", o.out.string());
  TrainState state;
  TrainOptions opt;
  if (o.resume) {
    auto [s, saved] = load_checkpoint(*o.resume);
    state = std::move(s);
    opt = saved;
    if (o.precision && *o.precision != opt.precision)
      fail("{}: the checkpoint was trained in {}; resume it in the same precision", o.resume->string(),
           precision_name(opt.precision));
  } else {
    opt = train_preset(o.preset).options;
  }
  const TrainPreset& preset = train_preset(opt.preset);
  if (o.precision) opt.precision = *o.precision;
  if (o.steps) opt.steps = *o.steps;
  if (!o.resume) {
    if (o.batch) opt.batch = *o.batch;
    if (o.seq) opt.seq = *o.seq;
    if (o.seed) opt.seed = *o.seed;
    if (o.lr) {
      opt.schedule.lr = *o.lr;
      opt.schedule.min_lr = *o.lr / 10;
    }
  }
  if (o.checkpoint_every) opt.checkpoint_every = *o.checkpoint_every;
  if (o.amax_history_len) opt.recipe.history_len = *o.amax_history_len;
  if (o.margin) opt.recipe.margin = *o.margin;
  if (o.amax_most_recent) opt.recipe.most_recent = *o.amax_most_recent;
  if (opt.steps < 1 || opt.batch < 1 || opt.seq < 2) fail("train: steps, batch and seq must be positive (seq >= 2)");

  Corpus corpus = make_corpus(preset.corpus);
  if (!o.resume) {
    state.model = TrainModel::create(preset.config(preset.corpus.vocab_size));
    state.model.init(opt.seed);
  }
  if (state.model.cfg.vocab_size != preset.corpus.vocab_size)
    fail("{}: the checkpoint's vocabulary ({}) is not the '{}' preset's ({})", o.resume->string(),
         state.model.cfg.vocab_size, opt.preset, preset.corpus.vocab_size);
  std::filesystem::create_directories(o.out);
  write_file_atomic(o.out / "eval.txt", corpus.eval_text);
  write_file_atomic(o.out / "calib.txt", corpus.calib_text);
  write_file_atomic(o.out / "mmlu.csv", eval::mc_csv(corpus.mc));

  RunHooks hooks;
  hooks.on_step = on_step;
  hooks.checkpoint = [&](const TrainState& s) { save_checkpoint(o.out, s, opt, corpus.tokenizer_json); };
  const auto t0 = std::chrono::steady_clock::now();
  const std::int64_t first = state.step;
  run_training(state, opt, corpus.train_tokens, hooks, progress, stop);
  TrainJobResult r;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.stop_reason = state.stop_reason;
  r.steps_done = state.step - first;
  r.tokens_per_s = static_cast<double>(r.steps_done * opt.batch * opt.seq) / std::max(r.seconds, 1e-9);
  if (o.evaluate && state.stop_reason == "done") {
    progress.report(1.0, "evaluating");
    r.eval = evaluate_model(state.model, opt.precision, state.ctx, corpus,
                            std::min<std::int64_t>(state.model.cfg.max_position_embeddings, 128), o.eval_chunks);
    r.eval["precision"] = precision_name(opt.precision);
    r.eval["steps"] = state.step;
    r.eval["train_seconds"] = r.seconds;
    r.eval["train_tokens_per_s"] = r.tokens_per_s;
    write_file_atomic(o.out / "eval.json", r.eval.dump(2) + "\n");
  }
  return r;
}

}  // namespace qlab::train
