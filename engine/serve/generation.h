#pragma once
// One request's text generation, streamed: prefill the prompt, then decode a token at a time,
// handing each new piece of text to the caller as soon as it is complete.
//   text pieces   the continuation is decoded whole after each token and only what is new is passed
//                 on, so a character split across tokens is sent once complete (no U+FFFD halves)
//   stop strings  text that could still become a stop string is held back until it cannot; a
//                 stop string ends the text before it (finish_reason "stop")
//   endings       "stop": an end-of-sequence id (the config's, every id of its list) or a stop
//                 string; "length": max_tokens reached; "cancelled": the caller's callback said so
//                 (a client that went away)
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/io/tokenizer.h"
#include "engine/model/backend.h"
#include "engine/model/model.h"
#include "engine/model/sampling.h"

namespace qlab::serve {

struct GenerationParams {
  int max_tokens = 16;
  model::SamplingParams sampling;
  std::uint64_t seed = 0;
  std::vector<std::string> stop;
  bool ignore_eos = false;
  model::Backend* backend = nullptr;  // where the model runs (nullptr: the CPU)
};

struct GenerationResult {
  std::string text;
  int prompt_tokens = 0;
  int completion_tokens = 0;
  std::string finish_reason;  // stop, length, cancelled
};

// on_text returns false to stop at once (finish_reason "cancelled"). The KV cache holds
// prompt + max_tokens positions; the caller has checked that against the model's context.
GenerationResult generate_text(const model::Model& m, const io::Tokenizer& tok, std::span<const std::int32_t> prompt,
                               const GenerationParams& p, const std::function<bool(std::string_view)>& on_text);

// How many bytes at the end of `text` could be the start of one of `stops` (they must be held back).
std::size_t stop_prefix_overlap(std::string_view text, const std::vector<std::string>& stops);

}  // namespace qlab::serve
