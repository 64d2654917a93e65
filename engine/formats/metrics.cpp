// Error metrics: fixed 64K-element chunks, each summed in double, combined in chunk order.
#include "engine/formats/metrics.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "engine/core/error.h"
#include "engine/core/threads.h"

namespace qlab::formats {

namespace {

constexpr std::size_t kChunk = 65536;

struct Partial {
  double sum_x2 = 0.0, sum_e2 = 0.0, max_abs = 0.0;
  std::size_t max_index = 0;
};

}  // namespace

ErrorMetrics error_metrics(std::span<const float> x, std::span<const float> y, int bins) {
  if (x.size() != y.size())
    fail("error metrics: the original has {} values but the dequantized tensor has {}", x.size(), y.size());
  if (bins < 1) fail("error metrics: histogram needs at least one bin, got {}", bins);
  const std::size_t n = x.size();
  const std::size_t chunks = (n + kChunk - 1) / kChunk;
  std::vector<Partial> parts(chunks);
  parallel_for(chunks, [&](std::size_t c0, std::size_t c1) {
    for (std::size_t c = c0; c < c1; ++c) {
      Partial p;
      const std::size_t b = c * kChunk, e = std::min(n, b + kChunk);
      for (std::size_t i = b; i < e; ++i) {
        double xv = x[i], ev = static_cast<double>(y[i]) - xv;
        p.sum_x2 += xv * xv;
        p.sum_e2 += ev * ev;
        double a = std::fabs(ev);
        if (a > p.max_abs || std::isnan(a)) {
          p.max_abs = a;
          p.max_index = i;
        }
      }
      parts[c] = p;
    }
  });
  ErrorMetrics m;
  m.count = n;
  double sum_x2 = 0.0, sum_e2 = 0.0;
  for (const Partial& p : parts) {
    sum_x2 += p.sum_x2;
    sum_e2 += p.sum_e2;
    if (p.max_abs > m.max_abs_error || (std::isnan(p.max_abs) && !std::isnan(m.max_abs_error))) {
      m.max_abs_error = p.max_abs;
      m.max_abs_error_index = p.max_index;
    }
  }
  const double inf = std::numeric_limits<double>::infinity();
  if (n > 0) {
    m.mse = sum_e2 / static_cast<double>(n);
    m.signal_power = sum_x2 / static_cast<double>(n);
  }
  m.rel_frobenius = sum_x2 > 0.0 ? std::sqrt(sum_e2 / sum_x2) : (sum_e2 > 0.0 ? inf : 0.0);
  m.sqnr_db = sum_e2 > 0.0 ? (sum_x2 > 0.0 ? 10.0 * std::log10(sum_x2 / sum_e2) : -inf) : inf;

  m.histogram.lo = -m.max_abs_error;
  m.histogram.hi = m.max_abs_error;
  m.histogram.counts.assign(static_cast<std::size_t>(bins), 0);
  const double width = 2.0 * m.max_abs_error / bins;
  for (std::size_t i = 0; i < n; ++i) {
    double ev = static_cast<double>(y[i]) - static_cast<double>(x[i]);
    if (std::isnan(ev)) continue;
    long k = width > 0.0 ? static_cast<long>(std::floor((ev - m.histogram.lo) / width)) : bins / 2;
    k = std::clamp<long>(k, 0, bins - 1);
    ++m.histogram.counts[static_cast<std::size_t>(k)];
  }
  return m;
}

}  // namespace qlab::formats
