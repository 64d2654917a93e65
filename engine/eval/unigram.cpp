#include "engine/eval/unigram.h"

#include <cmath>
#include <vector>

#include "engine/core/error.h"

namespace qlab::eval {

NllStats unigram_perplexity(std::span<const std::int32_t> fit, int vocab, const PplSetup& scored) {
  if (vocab < 1) fail("unigram model: the vocabulary size {} is not positive", vocab);
  std::vector<double> count(static_cast<std::size_t>(vocab), 1.0);  // add-one
  double total = vocab;
  for (auto t : fit)
    if (t >= 0 && t < vocab) {
      count[static_cast<std::size_t>(t)] += 1;
      total += 1;
    }
  NllStats r;
  const auto& ids = scored.tokens;
  for (const Window& w : plan_windows(static_cast<std::int64_t>(ids.size()), scored.options))
    for (std::int64_t i = 0; i < w.n_scored; ++i) {
      const std::int32_t t = ids[static_cast<std::size_t>(w.begin + w.score_from + 1 + i)];
      if (t < 0 || t >= vocab) fail("unigram model: token id {} is outside the vocabulary of {}", t, vocab);
      r.add(-std::log(count[static_cast<std::size_t>(t)] / total));
    }
  return r;
}

}  // namespace qlab::eval
