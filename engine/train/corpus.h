#pragma once
// The texts a training run uses, made from the world generator with fixed seeds: training text,
// held-out evaluation text, calibration text, the multiple-choice set, and a byte-level BPE
// tokenizer trained on the training text. Documents are separated by the "<|endoftext|>" special
// token (GPT-2's convention), which is also BOS and EOS; the same tokenizer.json turns every text
// into ids, so the training stream and `qlab ppl` see the same tokens.
//   CorpusSpec     sizes, seeds, vocabulary size
//   Corpus         the texts, the tokenizer.json text, and each text's ids
//   make_corpus    builds it (seconds for a few megabytes)
#include <cstdint>
#include <string>
#include <vector>

#include "engine/core/progress.h"
#include "engine/train/text_world.h"

namespace qlab::train {

inline constexpr const char* kEndOfText = "<|endoftext|>";

struct CorpusSpec {
  std::uint64_t seed = 20240601;
  std::size_t train_bytes = 3'000'000, eval_bytes = 80'000, calib_bytes = 40'000;
  std::size_t bpe_bytes = 1'000'000;  // the first bytes of the training text the BPE learns from
  int mc_items = 200;
  int vocab_size = 768;
  TextOptions text;  // the mix of documents (every split and the multiple-choice set)
};

struct Corpus {
  std::string train_text, eval_text, calib_text, tokenizer_json;
  std::vector<eval::McItem> mc;
  std::vector<std::int32_t> train_tokens, eval_tokens, calib_tokens;
};

Corpus make_corpus(const CorpusSpec& spec, Progress& progress = Progress::none());

}  // namespace qlab::train
