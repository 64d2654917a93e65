#include "engine/tensor/synthetic.h"

#include <cmath>

namespace qlab::tensor {

namespace {

// splitmix64 (Steele, Lea, Flood 2014): one 64-bit state, a fixed output mix.
struct Rng {
  std::uint64_t s;
  std::uint64_t next() {
    std::uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  double uniform() { return (static_cast<double>(next() >> 11) + 0.5) * 0x1.0p-53; }  // (0, 1)
  double gaussian() {  // Box-Muller, one of the pair
    return std::sqrt(-2.0 * std::log(uniform())) * std::cos(6.283185307179586 * uniform());
  }
};

}  // namespace

const char* synthetic_name(SyntheticKind k) {
  switch (k) {
    case SyntheticKind::Gaussian: return "gaussian";
    case SyntheticKind::GaussianOutliers: return "gaussian-outliers";
    case SyntheticKind::Laplace: return "laplace";
  }
  return "?";
}

const std::vector<SyntheticKind>& all_synthetic_kinds() {
  static const std::vector<SyntheticKind> kinds = {SyntheticKind::Gaussian, SyntheticKind::GaussianOutliers,
                                                   SyntheticKind::Laplace};
  return kinds;
}

std::optional<SyntheticKind> synthetic_kind_from_name(std::string_view name) {
  for (SyntheticKind k : all_synthetic_kinds())
    if (name == synthetic_name(k)) return k;
  return std::nullopt;
}

std::vector<float> synthetic_tensor(SyntheticKind k, std::size_t n, std::uint64_t seed) {
  Rng rng{seed * 0x2545F4914F6CDD1Dull + 1};
  std::vector<float> x(n);
  constexpr double kStd = kSyntheticStd;
  switch (k) {
    case SyntheticKind::Gaussian:
      for (auto& v : x) v = static_cast<float>(kStd * rng.gaussian());
      break;
    case SyntheticKind::GaussianOutliers:
      for (auto& v : x) {
        double g = kStd * rng.gaussian();
        if (rng.uniform() < 1e-3) g = (g < 0 ? -1 : 1) * kStd * (5.0 + 10.0 * rng.uniform());
        v = static_cast<float>(g);
      }
      break;
    case SyntheticKind::Laplace: {
      const double b = kStd / std::sqrt(2.0);  // the gaussian's variance
      for (auto& v : x) {
        double u = rng.uniform() - 0.5;
        v = static_cast<float>(-b * (u < 0 ? -1.0 : 1.0) * std::log(1.0 - 2.0 * std::fabs(u)));
      }
      break;
    }
  }
  return x;
}

}  // namespace qlab::tensor
