#pragma once
// Choosing the next token from a row of logits.
//   greedy: argmax (lowest id on ties, as torch.argmax)
//   otherwise: logits / temperature -> keep the top_k largest (0 = all) -> keep the smallest set whose
//   probability reaches top_p (1 = all) -> renormalise -> draw with a seeded generator
#include <cstdint>
#include <random>
#include <span>

namespace qlab::model {

struct SamplingParams {
  double temperature = 0.0;  // 0 = greedy
  int top_k = 0;
  double top_p = 1.0;
};

std::int32_t argmax(std::span<const float> logits);

class Sampler {
 public:
  Sampler(SamplingParams p, std::uint64_t seed) : p_(p), rng_(seed) {}
  std::int32_t sample(std::span<const float> logits);

 private:
  SamplingParams p_;
  std::mt19937_64 rng_;
};

}  // namespace qlab::model
