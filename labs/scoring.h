#pragma once
// What a perplexity step scores and how, shared by lab 2's perplexity and lab 3's FP8 inference so
// the two give one FP32 figure for one model and text:
//   scoring_text   the text the learner chose, else the model folder's own (eval.txt / calib.txt),
//                  else the built-in model's (generated text, and the screen says so)
//   scoring_setup  the engine's one perplexity set-up (engine/eval/ppl_setup.h, that of `qlab ppl MODEL
//                  --text FILE`) of that text, its protocol line saying what is scored, run where the
//                  job's device says
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "engine/eval/ppl_setup.h"
#include "engine/io/model_config.h"
#include "engine/io/tokenizer.h"
#include "labs/lab.h"

namespace qlab::labs {

struct ScoringText {
  std::filesystem::path path;
  std::string origin;  // for the screen: "your file notes.txt", "the model's eval.txt", ...
  bool generated = false;  // the built-in model's text, written by qlab's generator
};

// `chosen` is the step's text setting ("" = the default); `own_name` is "eval.txt" or "calib.txt".
// Error saying what to do when there is no text at all.
ScoringText scoring_text(const JobContext& ctx, const std::string& chosen, const std::string& own_name);

// Error naming the file when the text is too short for two chunks.
eval::PplSetup scoring_setup(const JobContext& ctx, const io::ModelConfig& config, const io::Tokenizer& tok,
                             const ScoringText& text, std::int64_t max_chunks);

}  // namespace qlab::labs
