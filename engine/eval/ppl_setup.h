#pragma once
// The one perplexity set-up behind `qlab ppl`, lab 2's perplexity step and the trainer's held-out
// scores: which tokens (a text tokenized once, or ids as given), which BOS, which context, which
// protocol and how many chunks, decided in one place and stated in one line (PplSetup::protocol) that
// every screen and command prints beside its numbers.
//   sequence_bos   the BOS a model's sequences start with (also the multiple-choice protocol's)
//   PplRequest     what the caller asks for
//   ppl_setup      the tokens and PplOptions for perplexity() / kl_divergence() / the trainer
// Policy, as llama.cpp's perplexity tool: a text is tokenized whole, BOS first when the tokenizer adds
// one; token ids are used as given. Each chunk's first token is then replaced by the model's BOS: the
// tokenizer's when it adds one, else (no tokenizer) the config's bos_token_id, else none. The default
// context is 512, or the model's trained context when shorter.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "engine/eval/perplexity.h"
#include "engine/io/model_config.h"
#include "engine/io/tokenizer.h"

namespace qlab::eval {

std::optional<std::int32_t> sequence_bos(const io::ModelConfig& config, const io::Tokenizer* tokenizer);

struct PplRequest {
  std::optional<std::string> text;                // UTF-8 text, tokenized with the model's tokenizer, or
  std::optional<std::vector<std::int32_t>> tokens;  // token ids, used as given (exactly one of the two)
  std::int64_t n_ctx = 0;       // 0: 512, or the model's trained context when shorter
  std::int64_t stride = 0;      // > 0: the sliding-window protocol with this stride
  std::int64_t max_chunks = 0;  // > 0: only the first chunks / windows
  bool rewrite_bos = true;      // false: leave every chunk's first token as it is (`qlab ppl --no-bos`)
};

struct PplSetup {
  std::vector<std::int32_t> tokens;   // the stream scored
  PplOptions options;                 // context, BOS, stride, chunk limit as decided
  std::int64_t chunks = 0;            // chunks / windows that will run
  std::string protocol;               // protocol_text(options)
  std::vector<std::string> warnings;  // e.g. a context longer than the model was trained on
};

// Error (naming the problem) for a text without a tokenizer, both or neither of text and tokens, or a
// stream too short for the protocol.
PplSetup ppl_setup(const io::ModelConfig& config, const io::Tokenizer* tokenizer, PplRequest request);

}  // namespace qlab::eval
