#pragma once
// Text generation: prefill the prompt in one batch, then decode one token at a time through the
// KV cache, choosing each with a Sampler.
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "engine/model/backend.h"
#include "engine/model/model.h"
#include "engine/model/sampling.h"

namespace qlab::model {

struct GenerateOptions {
  int max_new_tokens = 32;
  SamplingParams sampling;            // temperature 0 = greedy
  std::uint64_t seed = 0;
  bool stop_at_eos = true;            // stop after the config's eos_token_id
  std::function<void(std::int32_t)> on_token;  // called as each token is chosen (streaming output)
  Backend* backend = nullptr;         // where the model runs (the KV cache lives there); null: the CPU
};

struct GenerateStats {
  double prompt_seconds = 0, decode_seconds = 0;
  std::int64_t prompt_tokens = 0, decoded_tokens = 0;
};

// Returns the new tokens only. Error if the prompt is empty or holds an id outside the vocabulary.
std::vector<std::int32_t> generate(const Model& m, std::span<const std::int32_t> prompt, const GenerateOptions& opt,
                                   GenerateStats* stats = nullptr);

}  // namespace qlab::model
