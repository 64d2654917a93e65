// The synthetic-tensor generator against the distributions it promises (moments of N(0, 0.02^2) and of
// the Laplace law of the same variance, the outlier rate and sizes), and its determinism.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "engine/tensor/synthetic.h"

namespace qlab::tensor {
namespace {

struct Moments {
  double mean = 0, var = 0, kurtosis = 0;
};

Moments moments(const std::vector<float>& x) {
  Moments m;
  const double n = static_cast<double>(x.size());
  for (float v : x) m.mean += v;
  m.mean /= n;
  double m4 = 0;
  for (float v : x) {
    const double d = v - m.mean;
    m.var += d * d;
    m4 += d * d * d * d;
  }
  m.var /= n;
  m.kurtosis = m4 / n / (m.var * m.var);
  return m;
}

constexpr std::size_t kN = 1 << 20;

TEST(Synthetic, GaussianHasTheWeightLikeSpread) {
  const Moments m = moments(synthetic_tensor(SyntheticKind::Gaussian, kN));
  const double sd = kSyntheticStd;
  EXPECT_NEAR(m.mean, 0.0, 4 * sd / std::sqrt(double(kN)));  // four standard errors
  EXPECT_NEAR(std::sqrt(m.var), sd, 0.005 * sd);
  EXPECT_NEAR(m.kurtosis, 3.0, 0.05);  // a normal law's
}

TEST(Synthetic, LaplaceHasTheSameVarianceAndHeavierTails) {
  const Moments m = moments(synthetic_tensor(SyntheticKind::Laplace, kN));
  EXPECT_NEAR(std::sqrt(m.var), kSyntheticStd, 0.01 * kSyntheticStd);
  EXPECT_NEAR(m.kurtosis, 6.0, 0.3);  // a Laplace law's
}

TEST(Synthetic, OneOutlierInAThousandOfFiveToFifteenSigma) {
  const auto x = synthetic_tensor(SyntheticKind::GaussianOutliers, kN);
  std::size_t big = 0;
  double largest = 0;
  for (float v : x) {
    const double a = std::fabs(v) / kSyntheticStd;
    largest = std::max(largest, a);
    if (a > 5.5) ++big;  // a gaussian value past 5.5 sigma: about 4e-8 of them, none expected here
  }
  // outliers land uniformly in [5, 15] sigma: 95% of them past 5.5; expect 1e-3 x 0.95 x kN ~ 996
  EXPECT_NEAR(static_cast<double>(big), 1e-3 * 0.95 * kN, 4 * std::sqrt(1e-3 * kN));
  EXPECT_LE(largest, 15.0 + 1e-4);
  EXPECT_GT(largest, 14.0);
}

TEST(Synthetic, DeterministicByKindSeedAndIndependentOfShape) {
  const auto a = synthetic_tensor(SyntheticKind::Gaussian, 1000, 3);
  EXPECT_EQ(a, synthetic_tensor(SyntheticKind::Gaussian, 1000, 3));
  const auto longer = synthetic_tensor(SyntheticKind::Gaussian, 5000, 3);
  EXPECT_TRUE(std::equal(a.begin(), a.end(), longer.begin()));  // a prefix: rows x cols does not matter
  EXPECT_NE(a, synthetic_tensor(SyntheticKind::Gaussian, 1000, 4));
  for (SyntheticKind k : all_synthetic_kinds()) EXPECT_EQ(synthetic_kind_from_name(synthetic_name(k)), k);
  EXPECT_FALSE(synthetic_kind_from_name("uniform").has_value());
}

}  // namespace
}  // namespace qlab::tensor
