#pragma once
// The training loop: batches from a token stream, forward, backward, clip, AdamW, delayed-scaling
// update, history, checkpoints.
//   TrainOptions   precision, steps, batch shape, schedule, optimizer, FP8 recipe, seed
//   StepRecord     one step: loss, grad norm, lr, tokens/s, cast counts per role
//   TrainState     model, optimizer, FP8 scaling state, step, history: everything a resume needs
//   train_step     one step on the batch that `step` and `seed` pick (so a resumed run sees the
//                  batches the uninterrupted run would have seen)
//   run_training   steps until done, cancelled (stop token: saves and returns), or a non-finite
//                  loss / gradient norm (the update is skipped, the last good state is saved)
//   save_checkpoint / load_checkpoint   HF layout (config.json, model.safetensors, tokenizer.json)
//                  plus trainer_state.json and optimizer.safetensors for resuming, and the loss
//                  curve as loss.csv and loss.json
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <stop_token>
#include <string_view>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "engine/core/progress.h"
#include "engine/train/llama_train.h"
#include "engine/train/optimizer.h"

namespace qlab::train {

struct TrainOptions {
  std::string preset = "small";  // the data and shape it was started from (train_presets.h)
  Precision precision = Precision::FP32;
  std::int64_t steps = 1000;
  std::int64_t batch = 16, seq = 128;
  Schedule schedule;      // schedule.total is set to steps by run_training
  AdamWOptions adamw;
  double clip = 1.0;      // max global gradient norm (0: no clipping)
  DelayedScaling recipe;
  std::uint64_t seed = 1;
  std::int64_t checkpoint_every = 0;  // steps; 0: only at the end
};
nlohmann::json options_to_json(const TrainOptions& o);
// Every field checked against the bounds of `qlab train`'s options; Error naming src and the field.
TrainOptions options_from_json(const nlohmann::json& j, std::string_view src = "trainer_state.json");

struct StepRecord {
  std::int64_t step = 0;
  double lr = 0, loss = 0, grad_norm = 0, tokens_per_s = 0, seconds = 0;
  CastStats casts{};
  bool finite = true;
};
nlohmann::json step_to_json(const StepRecord& r);
// The inverse (a non-finite loss or gradient norm, written as null, reads back as NaN).
StepRecord step_from_json(const nlohmann::json& j);

struct TrainState {
  TrainModel model;
  AdamW adam;
  CastContext ctx;
  std::int64_t step = 0;
  std::vector<StepRecord> history;
  std::string stop_reason;  // "" while running; "done", "cancelled", "non-finite loss at step N"
};

// A batch: B windows of seq+1 tokens at positions drawn from (seed, step).
void sample_batch(const std::vector<std::int32_t>& stream, std::int64_t B, std::int64_t T, std::uint64_t seed,
                  std::int64_t step, std::vector<std::int32_t>& tokens, std::vector<std::int32_t>& targets);

StepRecord train_step(TrainState& s, Activations& acts, const TrainOptions& opt,
                      const std::vector<std::int32_t>& stream, std::vector<float>& grads);

struct RunHooks {
  std::function<void(const StepRecord&)> on_step;      // after every step
  std::function<void(const TrainState&)> checkpoint;   // every checkpoint_every steps and at the end
};
// Runs from s.step to opt.steps. Sets s.stop_reason.
void run_training(TrainState& s, const TrainOptions& opt, const std::vector<std::int32_t>& stream,
                  const RunHooks& hooks, Progress& progress = Progress::none(), std::stop_token stop = {});

void save_checkpoint(const std::filesystem::path& dir, const TrainState& s, const TrainOptions& opt,
                     const std::string& tokenizer_json_text);
// The state and the options it was trained with.
std::pair<TrainState, TrainOptions> load_checkpoint(const std::filesystem::path& dir);
// loss.csv text (step,lr,loss,grad_norm,tokens_per_s, then saturated/flushed fraction per role).
std::string history_csv(const std::vector<StepRecord>& h);

}  // namespace qlab::train
