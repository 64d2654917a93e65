#pragma once
// A whole training run as one job (what `qlab train` runs): make the corpus of a preset, start a
// fresh model or resume a checkpoint, train, checkpoint into the output folder, evaluate.
// The output folder is a Hugging Face model folder (config.json, model.safetensors,
// tokenizer.json) with eval.txt, calib.txt, mmlu.csv beside it, the loss curve (loss.csv,
// loss.json), the resume state (trainer_state.json, optimizer.safetensors) and eval.json:
//   held-out perplexity (llama.cpp protocol, the trainer's forward in the run's precision and in
//   fp32), a unigram model's perplexity on the same tokens, multiple-choice accuracy.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <stop_token>
#include <string>

#include <nlohmann/json.hpp>

#include "engine/core/progress.h"
#include "engine/train/corpus.h"
#include "engine/train/trainer.h"

namespace qlab::train {

struct TrainJobOptions {
  std::string preset = "small";
  std::optional<std::filesystem::path> resume;  // a checkpoint folder; its preset and settings
  std::filesystem::path out;
  // Overrides of the preset (or, when resuming, of the checkpoint's settings where that makes sense).
  std::optional<Precision> precision;
  std::optional<std::int64_t> steps, batch, seq, checkpoint_every;
  std::optional<double> lr;
  std::optional<std::uint64_t> seed;
  std::optional<int> amax_history_len, margin;
  std::optional<bool> amax_most_recent;
  bool evaluate = true;
  std::int64_t eval_chunks = 0;  // 0: the whole held-out text
};

struct TrainJobResult {
  std::string stop_reason;
  std::int64_t steps_done = 0;
  double seconds = 0, tokens_per_s = 0;
  nlohmann::json eval;  // also written to eval.json
};

TrainJobResult run_train_job(const TrainJobOptions& o, const std::function<void(const StepRecord&)>& on_step,
                             Progress& progress = Progress::none(), std::stop_token stop = {});

// Held-out evaluation of a trained model (as in eval.json).
nlohmann::json evaluate_model(const TrainModel& m, Precision p, const CastContext& trained_ctx,
                              const Corpus& corpus, std::int64_t n_ctx, std::int64_t eval_chunks);

}  // namespace qlab::train
