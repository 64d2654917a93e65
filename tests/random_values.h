#pragma once
// Reproducible test data: n values drawn from N(0, sd^2) by a seeded Mersenne Twister.
#include <cstddef>
#include <random>
#include <vector>

namespace qlab::testing {

inline std::vector<float> gaussian(std::size_t n, unsigned seed, float sd = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, sd);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

}  // namespace qlab::testing
