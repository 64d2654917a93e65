#include "engine/model/generate.h"

#include <chrono>

#include "engine/core/error.h"
#include "engine/model/forward.h"

namespace qlab::model {

std::vector<std::int32_t> generate(const Model& m, std::span<const std::int32_t> prompt, const GenerateOptions& opt,
                                   GenerateStats* stats) {
  if (prompt.empty()) fail("generate: the prompt has no tokens");
  if (opt.max_new_tokens < 0) fail("generate: max_new_tokens {} is negative", opt.max_new_tokens);
  using clock = std::chrono::steady_clock;
  const auto V = static_cast<std::size_t>(m.vocab_size());
  KVCache cache(m.config(), static_cast<std::int64_t>(prompt.size()) + opt.max_new_tokens, 0,
                opt.backend ? *opt.backend : cpu_backend());
  Sampler sampler(opt.sampling, opt.seed);
  std::vector<float> logits(V);
  std::vector<std::int32_t> out;
  if (opt.max_new_tokens == 0) return out;

  const auto t0 = clock::now();
  forward(m, cache, prompt, 1, logits.data());
  const auto t1 = clock::now();
  for (;;) {
    const std::int32_t next = sampler.sample(logits);
    out.push_back(next);
    if (opt.on_token) opt.on_token(next);
    if (static_cast<int>(out.size()) >= opt.max_new_tokens) break;
    if (opt.stop_at_eos && next == m.config().eos_token_id) break;
    forward(m, cache, std::span(&out.back(), 1), 1, logits.data());
  }
  const auto t2 = clock::now();
  if (stats) {
    stats->prompt_seconds = std::chrono::duration<double>(t1 - t0).count();
    stats->decode_seconds = std::chrono::duration<double>(t2 - t1).count();
    stats->prompt_tokens = static_cast<std::int64_t>(prompt.size());
    stats->decoded_tokens = static_cast<std::int64_t>(out.size()) - 1;  // the first came from the prefill
  }
  return out;
}

}  // namespace qlab::model
