// The training loop: resuming a checkpoint continues exactly where the run stopped; a non-finite
// loss stops cleanly without touching the weights; the saved folder loads in the runtime and
// its logits match the trainer's own forward pass; FP8 scaling keeps gradients that the unscaled
// cast flushes; and a short run actually learns.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "engine/eval/unigram.h"
#include "engine/model/forward.h"
#include "engine/model/model.h"
#include "engine/train/corpus.h"
#include "engine/train/evaluate.h"
#include "engine/train/train_presets.h"
#include "engine/train/trainer.h"

namespace qlab::train {
namespace {

namespace fs = std::filesystem;

fs::path temp_dir(const std::string& name) {
  fs::path d = fs::temp_directory_path() / ("qlab_train_test_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

struct Fixture {
  const TrainPreset& preset = train_preset("tiny");
  Corpus corpus = make_corpus(preset.corpus);
  TrainOptions opt = preset.options;
  TrainState fresh() const {
    TrainState s;
    s.model = TrainModel::create(preset.config(preset.corpus.vocab_size));
    s.model.init(opt.seed);
    return s;
  }
};

TEST(Trainer, ResumeGivesTheSameWeightsAsAnUninterruptedRun) {
  Fixture f;
  f.opt.steps = 10;
  f.opt.precision = Precision::FP8;  // the FP8 scaling state must survive the checkpoint too
  TrainState a = f.fresh();
  run_training(a, f.opt, f.corpus.train_tokens, {});
  ASSERT_EQ(a.stop_reason, "done");

  const fs::path dir = temp_dir("resume");
  TrainState b = f.fresh();
  // Stop after 4 of 10 steps, as Ctrl-C would, and save.
  TrainOptions first = f.opt;
  std::stop_source src;
  RunHooks hooks;
  hooks.on_step = [&](const StepRecord& r) {
    if (r.step == 3) src.request_stop();
  };
  hooks.checkpoint = [&](const TrainState& s) { save_checkpoint(dir, s, first, f.corpus.tokenizer_json); };
  run_training(b, first, f.corpus.train_tokens, hooks, Progress::none(), src.get_token());
  ASSERT_EQ(b.stop_reason, "cancelled");
  ASSERT_EQ(b.step, 4);

  auto [c, opt] = load_checkpoint(dir);
  EXPECT_EQ(c.step, 4);
  EXPECT_EQ(c.history.size(), 4u);
  EXPECT_EQ(opt.precision, Precision::FP8);
  run_training(c, opt, f.corpus.train_tokens, {});
  ASSERT_EQ(c.model.values.size(), a.model.values.size());
  for (std::size_t i = 0; i < a.model.values.size(); ++i)
    ASSERT_EQ(c.model.values[i], a.model.values[i]) << "parameter " << i;
  fs::remove_all(dir);
}

TEST(Trainer, NonFiniteLossStopsWithoutTouchingTheWeightsAndSaves) {
  Fixture f;
  TrainState s = f.fresh();
  s.model.values[s.model.final_norm] = NAN;  // poisons every logit
  const std::vector<float> before = s.model.values;
  int saves = 0;
  RunHooks hooks;
  hooks.checkpoint = [&](const TrainState&) { ++saves; };
  run_training(s, f.opt, f.corpus.train_tokens, hooks);
  EXPECT_EQ(s.stop_reason, "non-finite loss at step 0");
  EXPECT_EQ(s.step, 0);
  EXPECT_EQ(saves, 1);
  ASSERT_EQ(s.history.size(), 1u);
  EXPECT_FALSE(s.history[0].finite);
  for (std::size_t i = 0; i < before.size(); ++i)
    if (!std::isnan(before[i])) {
      ASSERT_EQ(s.model.values[i], before[i]);
    }
}

TEST(Trainer, SavedCheckpointRunsInTheRuntimeWithTheSameLogits) {
  // The runtime's forward pass is checked against transformers; agreeing with it checks the
  // trainer's forward (RoPE layout, GQA, tied head, tensor names) independently.
  Fixture f;
  f.opt.steps = 5;
  TrainState s = f.fresh();
  run_training(s, f.opt, f.corpus.train_tokens, {});
  const fs::path dir = temp_dir("runtime");
  save_checkpoint(dir, s, f.opt, f.corpus.tokenizer_json);
  model::Model m = model::Model::load(dir);
  const std::int64_t T = 16;
  std::vector<std::int32_t> tok(f.corpus.eval_tokens.begin(), f.corpus.eval_tokens.begin() + T);
  std::vector<float> ref = model::forward_all(m, tok);
  Activations a(s.model, 1, T);
  CastContext ctx;
  forward(s.model, a, tok.data(), nullptr, ctx);
  ASSERT_EQ(ref.size(), a.logits.size());
  double max_err = 0, max_ref = 0;
  for (std::size_t i = 0; i < ref.size(); ++i) {
    max_err = std::max(max_err, static_cast<double>(std::fabs(ref[i] - a.logits[i])));
    max_ref = std::max(max_ref, static_cast<double>(std::fabs(ref[i])));
  }
  EXPECT_LT(max_err, 1e-4 * std::max(1.0, max_ref));
  fs::remove_all(dir);
}

TEST(Trainer, Fp8ScalingKeepsTheGradientsThatTheUnscaledCastFlushes) {
  // Gradients of a mean loss over a batch are far below e5m2's smallest subnormal (2^-16); with
  // delayed scaling they are scaled into range after the first step.
  Fixture f;
  f.opt.steps = 6;
  CastCounts scaled, unscaled;
  for (Precision p : {Precision::FP8, Precision::FP8NoScale}) {
    TrainOptions o = f.opt;
    o.precision = p;
    TrainState s = f.fresh();
    run_training(s, o, f.corpus.train_tokens, {});
    const auto& last = s.history.back().casts[static_cast<int>(CastRole::Gradient)];
    (p == Precision::FP8 ? scaled : unscaled) = last;
  }
  EXPECT_GT(unscaled.flushed_fraction(), 0.1);
  EXPECT_LT(scaled.flushed_fraction(), 0.02) << "unscaled " << unscaled.flushed_fraction();
  EXPECT_GT(unscaled.flushed_fraction(), 5 * scaled.flushed_fraction());
}

TEST(Trainer, ShortRunLearnsBeyondAUnigramModel) {
  Fixture f;
  f.opt.steps = 500;
  f.opt.schedule.lr = 1e-2;
  f.opt.schedule.min_lr = 1e-3;
  TrainState s = f.fresh();
  run_training(s, f.opt, f.corpus.train_tokens, {});
  CastContext ctx;
  const auto n_ctx = s.model.cfg.max_position_embeddings;
  const eval::PplSetup held_out = held_out_setup(s.model, f.corpus.eval_tokens, n_ctx);
  const double ppl = eval_perplexity(s.model, held_out, ctx).ppl();
  const double uni = eval::unigram_perplexity(f.corpus.train_tokens, s.model.cfg.vocab_size, held_out).ppl();
  EXPECT_LT(ppl, 0.7 * uni) << "ppl " << ppl << " unigram " << uni;
  EXPECT_LT(s.history.back().loss, s.history.front().loss - 1.0);
}

}  // namespace
}  // namespace qlab::train
