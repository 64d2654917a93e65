#include "engine/eval/ppl_setup.h"

#include <algorithm>

#include <fmt/format.h>

#include "engine/core/error.h"

namespace qlab::eval {

std::optional<std::int32_t> sequence_bos(const io::ModelConfig& config, const io::Tokenizer* tokenizer) {
  if (tokenizer) {
    // Whether the tokenizer puts BOS first (its post-processor / add_bos_token), asked of it directly.
    const auto probe = tokenizer->encode("a", true);
    if (tokenizer->bos_id() && !probe.empty() && probe.front() == *tokenizer->bos_id()) return tokenizer->bos_id();
    return std::nullopt;
  }
  if (config.bos_token_id >= 0) return config.bos_token_id;
  return std::nullopt;
}

PplSetup ppl_setup(const io::ModelConfig& config, const io::Tokenizer* tokenizer, PplRequest request) {
  if (request.text.has_value() == request.tokens.has_value())
    fail("perplexity needs either a text or token ids (one of the two)");
  PplSetup s;
  if (request.text) {
    if (!tokenizer) fail("{}: perplexity of a text needs the model's tokenizer (tokenizer.json)", config.name());
    s.tokens = tokenizer->encode(*request.text, true);
  } else {
    s.tokens = std::move(*request.tokens);
  }
  const int trained = config.max_position_embeddings;
  PplOptions& o = s.options;
  o.n_ctx = request.n_ctx > 0 ? request.n_ctx : (trained > 0 ? std::min(512, trained) : 512);
  if (trained > 0 && o.n_ctx > trained)
    s.warnings.push_back(fmt::format("the context {} is longer than the {} tokens the model was trained on; "
                                     "perplexity past it is not meaningful",
                                     o.n_ctx, trained));
  o.stride = request.stride;
  o.max_chunks = request.max_chunks;
  if (request.rewrite_bos) o.bos = sequence_bos(config, tokenizer);
  s.chunks = static_cast<std::int64_t>(plan_windows(static_cast<std::int64_t>(s.tokens.size()), o).size());
  s.protocol = protocol_text(o);
  return s;
}

}  // namespace qlab::eval
