#include "labs/tensor_stats.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>

#include <fmt/format.h>

#include "engine/formats/metrics.h"

namespace qlab::labs {

const char* synthetic_name(SyntheticKind k) {
  switch (k) {
    case SyntheticKind::Gaussian: return "gaussian";
    case SyntheticKind::Laplace: return "laplace";
    case SyntheticKind::GaussianOutliers: return "gaussian+outliers";
  }
  return "?";
}

std::vector<float> synthetic_tensor(SyntheticKind k, std::size_t n) {
  std::vector<float> v(n);
  std::mt19937_64 rng(0x51ab00 + static_cast<unsigned>(k));
  const double sigma = 0.02;
  switch (k) {
    case SyntheticKind::Gaussian: {
      std::normal_distribution<double> d(0.0, sigma);
      for (auto& x : v) x = static_cast<float>(d(rng));
      break;
    }
    case SyntheticKind::Laplace: {
      // Laplace with the same standard deviation: scale b = sigma / sqrt(2), by inverse CDF.
      std::uniform_real_distribution<double> u(-0.5, 0.5);
      const double b = sigma / std::sqrt(2.0);
      for (auto& x : v) {
        double r = u(rng);
        x = static_cast<float>(-b * std::copysign(1.0, r) * std::log1p(-2.0 * std::fabs(r)));
      }
      break;
    }
    case SyntheticKind::GaussianOutliers: {
      // One value in a thousand is 20x larger: the outlier channels real LLM weights have.
      std::normal_distribution<double> d(0.0, sigma);
      std::uniform_int_distribution<int> pick(0, 999);
      for (auto& x : v) x = static_cast<float>(d(rng) * (pick(rng) == 0 ? 20.0 : 1.0));
      break;
    }
  }
  return v;
}

ErrorStats error_stats(const std::vector<float>& x, const std::vector<float>& q) {
  // The engine's metrics, so the numbers agree with `qlab quantize-tensor`; underflow counted here.
  formats::ErrorMetrics m = formats::error_metrics(x, q, 1);
  ErrorStats s;
  s.sqnr_db = m.sqnr_db;
  s.mse = m.mse;
  s.max_abs = m.max_abs_error;
  std::size_t zeroed = 0, nonzero = 0;
  for (std::size_t i = 0; i < x.size(); ++i)
    if (x[i] != 0.0f) {
      ++nonzero;
      if (q[i] == 0.0f) ++zeroed;
    }
  s.zero_fraction = nonzero ? static_cast<double>(zeroed) / static_cast<double>(nonzero) : 0;
  return s;
}

Histogram error_histogram(const std::vector<float>& x, const std::vector<float>& q, double range, int bins,
                          std::string title) {
  Histogram h;
  h.title = std::move(title);
  h.x_label = "error (quantized - original)";
  h.lo = -range;
  h.hi = range;
  h.counts.assign(static_cast<std::size_t>(bins), 0.0);
  for (std::size_t i = 0; i < x.size(); ++i) {
    double d = static_cast<double>(q[i]) - x[i];
    long b = static_cast<long>(std::floor((d + range) / (2 * range) * bins));
    b = std::clamp(b, 0L, static_cast<long>(bins) - 1);
    h.counts[static_cast<std::size_t>(b)] += 1;
  }
  return h;
}

std::string fmt_db(double db) {
  if (std::isinf(db)) return "exact";
  return fmt::format("{:.1f}", db);
}

}  // namespace qlab::labs
