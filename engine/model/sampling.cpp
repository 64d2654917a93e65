#include "engine/model/sampling.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "engine/core/error.h"

namespace qlab::model {

std::int32_t argmax(std::span<const float> logits) {
  if (logits.empty()) fail("argmax of an empty logit row");
  std::size_t best = 0;
  for (std::size_t i = 1; i < logits.size(); ++i)
    if (logits[i] > logits[best]) best = i;
  return static_cast<std::int32_t>(best);
}

std::int32_t Sampler::sample(std::span<const float> logits) {
  if (p_.temperature <= 0.0) return argmax(logits);
  if (!(p_.top_p > 0.0 && p_.top_p <= 1.0)) fail("top_p {} must be in (0, 1]", p_.top_p);
  std::vector<std::int32_t> ids(logits.size());
  std::iota(ids.begin(), ids.end(), 0);
  // Highest logit first; ties by id so a seed always gives the same draw.
  auto by_logit = [&](std::int32_t a, std::int32_t b) {
    const float la = logits[static_cast<std::size_t>(a)], lb = logits[static_cast<std::size_t>(b)];
    return la != lb ? la > lb : a < b;
  };
  std::size_t keep = ids.size();
  if (p_.top_k > 0 && static_cast<std::size_t>(p_.top_k) < keep) {
    keep = static_cast<std::size_t>(p_.top_k);
    std::partial_sort(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(keep), ids.end(), by_logit);
  } else {
    std::sort(ids.begin(), ids.end(), by_logit);
  }
  std::vector<double> prob(keep);
  const double mx = logits[static_cast<std::size_t>(ids[0])];
  double sum = 0.0;
  for (std::size_t i = 0; i < keep; ++i) {
    prob[i] = std::exp((logits[static_cast<std::size_t>(ids[i])] - mx) / p_.temperature);
    sum += prob[i];
  }
  if (p_.top_p < 1.0) {
    double cum = 0.0;
    std::size_t n = 0;
    while (n < keep) {
      cum += prob[n] / sum;
      ++n;
      if (cum >= p_.top_p) break;
    }
    keep = n;
    sum = std::accumulate(prob.begin(), prob.begin() + static_cast<std::ptrdiff_t>(keep), 0.0);
  }
  const double r = std::uniform_real_distribution<double>(0.0, sum)(rng_);
  double cum = 0.0;
  for (std::size_t i = 0; i < keep; ++i) {
    cum += prob[i];
    if (r < cum) return ids[i];
  }
  return ids[keep - 1];
}

}  // namespace qlab::model
