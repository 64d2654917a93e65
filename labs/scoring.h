#pragma once
// What a perplexity step scores and how, shared by lab 2's perplexity and lab 3's FP8 inference so
// the two give one FP32 figure for one model and text:
//   scoring_text   the text the learner chose, else the model folder's own (eval.txt / calib.txt),
//                  else the built-in model's (generated text, and the screen says so)
//   ppl_setup      the protocol of `qlab ppl MODEL --text FILE`: the whole text tokenized once, BOS
//                  first when the tokenizer adds one; chunks of 512 tokens, or the model's trained
//                  context when shorter; BOS on each chunk's first position; second half scored
// (The engine's one perplexity set-up, when it lands, replaces ppl_setup; the protocol is the same.)
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "engine/eval/perplexity.h"
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

struct PplSetup {
  std::vector<std::int32_t> tokens;  // the whole text
  eval::PplOptions opt;              // n_ctx, bos, max_chunks (0 = every chunk)
  std::int64_t chunks = 0;           // chunks that will be scored
  std::int64_t scored_per_chunk = 0;
  std::string protocol;              // one line for the screen
};

// Error (naming the file) when the text is shorter than two chunks.
PplSetup ppl_setup(const io::Tokenizer& tok, const ScoringText& text, int trained_ctx, std::int64_t max_chunks);

}  // namespace qlab::labs
