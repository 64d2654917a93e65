#pragma once
// Quality of a model under training, with the trainer's own forward pass (so any precision mode
// can be measured, FP8 included).
//   ScoredNll       sum of NLL over scored tokens and their count; ppl = exp(sum / count)
//   eval_perplexity llama.cpp's protocol (as `qlab ppl`): chunks of n_ctx tokens, the first token
//                   of each replaced by BOS, only the second half scored
//   unigram_perplexity   a unigram model (add-one counts of `fit` tokens) on the same positions
//   mc_accuracy     multiple-choice accuracy: by the letter (" A".." D" after the lettered prompt,
//                   as MMLU is scored) and by the answer text (log-likelihood of " answer." after
//                   "Question: ...\nAnswer:")
//   calibrate_fp8_inference   FP8 inference: per-tensor scales from calibration text (amax of
//                   every Linear input and weight, ModelOpt's "max"), then frozen
#include <cstdint>
#include <optional>
#include <vector>

#include "engine/io/tokenizer.h"
#include "engine/train/llama_train.h"
#include "engine/train/text_world.h"

namespace qlab::train {

struct ScoredNll {
  double sum = 0;
  std::int64_t count = 0;
  double ppl() const;
};

ScoredNll eval_perplexity(const TrainModel& m, const std::vector<std::int32_t>& tokens, std::int64_t n_ctx,
                          std::optional<std::int32_t> bos, CastContext& ctx, std::int64_t max_chunks = 0);

ScoredNll unigram_perplexity(const std::vector<std::int32_t>& fit, int vocab, const std::vector<std::int32_t>& tokens,
                             std::int64_t n_ctx, std::int64_t max_chunks = 0);

struct McScore {
  int items = 0, letter_correct = 0, text_correct = 0;
  double letter_accuracy() const { return items ? static_cast<double>(letter_correct) / items : 0; }
  double text_accuracy() const { return items ? static_cast<double>(text_correct) / items : 0; }
};
McScore mc_accuracy(const TrainModel& m, const io::Tokenizer& tok, const std::vector<McItem>& items,
                    CastContext& ctx);

// Runs the calibration tokens through the model in fp8 mode with scales 1 and recording on, then
// sets every Linear's input and weight scale to 448 / amax (no history: a frozen PTQ scale).
// Returns a context in fp8 mode with record_amax off, ready for eval_perplexity.
CastContext calibrate_fp8_inference(const TrainModel& m, const std::vector<std::int32_t>& calib, std::int64_t n_ctx,
                                    std::int64_t max_chunks = 8);

}  // namespace qlab::train
