#include "labs/tensor_stats.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "engine/formats/metrics.h"

namespace qlab::labs {

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
