#pragma once
// Quality of a model under training, with the trainer's own forward pass, so that every precision it
// trains in (FP8 included) can be measured. The protocols are eval/'s, not redefined here:
//   eval_perplexity   the windows of an eval::PplSetup (engine/eval/ppl_setup.h: llama.cpp's chunks,
//                     BOS, second half scored), run through the trainer's forward in ctx's precision
//   mc_accuracy       eval::mc_accuracy's protocol (engine/eval/multiple_choice.h) with the trainer's
//                     forward as the scorer
//   calibrate_fp8_inference   FP8 inference scales by quant::MaxCalibrator (engine/quant/
//                     fp8_calibration.h) from this forward's float32 pass over calibration text
// The unigram baseline is eval::unigram_perplexity (engine/eval/unigram.h).
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "engine/eval/multiple_choice.h"
#include "engine/eval/ppl_setup.h"
#include "engine/io/tokenizer.h"
#include "engine/train/llama_train.h"

namespace qlab::train {

struct ScoredNll {
  double sum = 0;
  std::int64_t count = 0;
  double ppl() const;
};

// The set-up the trainer scores held-out ids with: the ids as given, chunks of n_ctx with the config's BOS.
eval::PplSetup held_out_setup(const TrainModel& m, const std::vector<std::int32_t>& tokens, std::int64_t n_ctx,
                              std::int64_t max_chunks = 0);

ScoredNll eval_perplexity(const TrainModel& m, const eval::PplSetup& setup, CastContext& ctx);

eval::McScore mc_accuracy(const TrainModel& m, const io::Tokenizer& tok, std::span<const eval::McItem> items,
                          CastContext& ctx);

// Runs the calibration tokens through the model in float32, then sets every Linear's input and weight
// scale to 448 / amax (no history: a frozen PTQ scale). Returns a context in fp8 mode with record_amax
// off, ready for eval_perplexity.
CastContext calibrate_fp8_inference(const TrainModel& m, const std::vector<std::int32_t>& calib, std::int64_t n_ctx,
                                    std::int64_t max_chunks = 8);

}  // namespace qlab::train
