#include "engine/serve/generation.h"

#include <algorithm>

#include "engine/core/error.h"
#include "engine/model/forward.h"

namespace qlab::serve {

std::size_t stop_prefix_overlap(std::string_view text, const std::vector<std::string>& stops) {
  std::size_t hold = 0;
  for (const auto& s : stops)
    for (std::size_t n = std::min(s.size() - 1, text.size()); n > hold; --n)
      if (text.substr(text.size() - n) == std::string_view(s).substr(0, n)) {
        hold = n;
        break;
      }
  return hold;
}

namespace {

// Bytes of `text` that end in a whole UTF-8 character (a trailing U+FFFD from a cut sequence, or an
// incomplete lead sequence, is left for the next token to complete).
std::size_t complete_prefix(std::string_view text) {
  static constexpr std::string_view kReplacement = "\xEF\xBF\xBD";
  std::size_t n = text.size();
  if (n >= 3 && text.substr(n - 3) == kReplacement) return n - 3;
  return n;
}

bool is_eos(const model::Model& m, std::int32_t id) {
  const auto& c = m.config();
  if (id == c.eos_token_id) return true;
  return std::find(c.eos_token_ids.begin(), c.eos_token_ids.end(), id) != c.eos_token_ids.end();
}

}  // namespace

GenerationResult generate_text(const model::Model& m, const io::Tokenizer& tok, std::span<const std::int32_t> prompt,
                               const GenerationParams& p, const std::function<bool(std::string_view)>& on_text) {
  if (prompt.empty()) fail("the prompt encodes to no tokens");
  GenerationResult r;
  r.prompt_tokens = static_cast<int>(prompt.size());
  r.finish_reason = "length";
  if (p.max_tokens == 0) return r;
  model::KVCache cache(m.config(), static_cast<std::int64_t>(prompt.size()) + p.max_tokens, 0,
                      p.backend ? *p.backend : model::cpu_backend());
  model::Sampler sampler(p.sampling, p.seed);
  std::vector<float> logits(static_cast<std::size_t>(m.vocab_size()));
  model::forward(m, cache, prompt, 1, logits.data());
  std::vector<std::int32_t> out;
  std::size_t sent = 0;  // bytes of the continuation already handed on
  std::string text;
  for (;;) {
    const std::int32_t next = sampler.sample(logits);
    if (!p.ignore_eos && is_eos(m, next)) {
      r.finish_reason = "stop";
      break;
    }
    out.push_back(next);
    ++r.completion_tokens;
    text = tok.decode(out, true);
    // A stop string ends the text before it.
    std::size_t cut = std::string::npos;
    for (const auto& s : p.stop) cut = std::min(cut, text.find(s, sent > s.size() ? sent - s.size() : 0));
    if (cut != std::string::npos) {
      text.resize(cut);
      if (text.size() > sent && !on_text(std::string_view(text).substr(sent))) r.finish_reason = "cancelled";
      else r.finish_reason = "stop";
      sent = text.size();
      break;
    }
    const std::size_t ready = complete_prefix(text) - std::min(complete_prefix(text), stop_prefix_overlap(text, p.stop));
    if (ready > sent) {
      if (!on_text(std::string_view(text).substr(sent, ready - sent))) {
        r.finish_reason = "cancelled";
        sent = ready;
        break;
      }
      sent = ready;
    }
    if (r.completion_tokens >= p.max_tokens) break;
    model::forward(m, cache, std::span(&out.back(), 1), 1, logits.data());
  }
  // What was held back (a stop string's possible start that never completed) goes out at the end.
  if (r.finish_reason != "cancelled" && text.size() > sent && !on_text(std::string_view(text).substr(sent)))
    r.finish_reason = "cancelled";
  r.text = text;
  return r;
}

}  // namespace qlab::serve
