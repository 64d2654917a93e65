#pragma once
// Lab 3's data: FP8 training beside 16- and 32-bit training, and FP8 inference.
//   run_lab3      trains the "small" preset four times -- fp32, bf16, fp8 (delayed scaling),
//                 fp8-noscale -- from the same initial weights on the same batches, then scores each
//                 on held-out text; and, given the built-in model's folder, measures its perplexity
//                 with e4m3 weights and activations (per-tensor scales calibrated on calib.txt, the
//                 head kept bf16) beside fp32 and bf16
// What the lab screen and `qlab train --lab3` show of it is labs/lab03_json.h.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <stop_token>
#include <string>
#include <vector>

#include "engine/core/progress.h"
#include "engine/eval/ppl_setup.h"
#include "engine/train/trainer.h"

namespace qlab::train {

struct Lab3Options {
  // The runs to make, in this order (a caller that checkpoints between runs asks for one at a time).
  std::vector<Precision> precisions{Precision::FP32, Precision::BF16, Precision::FP8, Precision::FP8NoScale};
  std::int64_t steps = 0;                       // 0: the small preset's
  std::optional<std::filesystem::path> builtin_dir;  // FP8 inference part skipped when unset
  DelayedScaling recipe;
  std::int64_t eval_chunks = 0;                 // 0: all of the held-out text
  std::int64_t inference_chunks = 40;           // chunks of the built-in model's eval.txt
};

struct Lab3Run {
  Precision precision = Precision::FP32;
  std::vector<StepRecord> history;
  CastStats totals{};
  double eval_ppl = 0;        // held-out, in the run's own precision
  double eval_ppl_fp32 = 0;   // the same weights run in fp32
  double seconds = 0, tokens_per_s = 0;
  std::string stop_reason;
};

struct Fp8InferenceResult {
  std::string protocol;       // how eval.txt is scored (eval::PplSetup::protocol)
  double ppl_fp32 = 0, ppl_bf16 = 0, ppl_fp8 = 0;
  std::int64_t scored_tokens = 0, calib_chunks = 0;
  CastStats fp8_casts{};      // counts of the fp8 pass
};

struct Lab3Result {
  std::vector<Lab3Run> runs;
  std::optional<Fp8InferenceResult> inference;
  double unigram_ppl = 0;     // reference for the curves: a unigram model on the same held-out tokens
  std::string protocol;       // how the held-out text is scored (eval::PplSetup::protocol)
  double seconds = 0;
};

Lab3Result run_lab3(const Lab3Options& o, const std::function<void(Precision, const StepRecord&)>& on_step = {},
                    Progress& progress = Progress::none(), std::stop_token stop = {});

// FP8 (e4m3, per-tensor max calibration) inference on an HF folder the trainer can load, scored
// on its eval.txt with its tokenizer.json.
Fp8InferenceResult fp8_inference(const std::filesystem::path& model_dir, std::int64_t max_chunks,
                                 std::stop_token stop = {});
// The same on what the caller sets up (eval::ppl_setup: its text, BOS, context and chunks), calibrated
// on up to 8 chunks of calib_tokens.
Fp8InferenceResult fp8_inference(const TrainModel& m, const eval::PplSetup& scored,
                                 const std::vector<std::int32_t>& calib_tokens, std::stop_token stop = {});

}  // namespace qlab::train
