#pragma once
// Error metrics of a quantized tensor against its original (x = original, y = dequantized).
//   ErrorMetrics       MSE, relative Frobenius error, SQNR (dB), max abs error, error histogram
//   error_metrics      one pass in double, summed in fixed chunks so the result does not depend
//                      on the thread count
#include <cstdint>
#include <span>
#include <vector>

namespace qlab::formats {

struct ErrorHistogram {
  // bins equal-width bins over [lo, hi] of the signed error y - x; counts.size() == bins.
  double lo = 0.0, hi = 0.0;
  std::vector<std::uint64_t> counts;
};

struct ErrorMetrics {
  std::uint64_t count = 0;
  double mse = 0.0;            // mean of (y - x)^2
  double rel_frobenius = 0.0;  // ||y - x|| / ||x||  (0 when both are 0, +inf when only x is 0)
  double sqnr_db = 0.0;        // 10 log10(sum x^2 / sum (y - x)^2); +inf when the error is 0
  double max_abs_error = 0.0;
  std::uint64_t max_abs_error_index = 0;
  double signal_power = 0.0;   // mean of x^2
  ErrorHistogram histogram;    // symmetric range [-max_abs_error, max_abs_error]
};

// Throws qlab::Error if the sizes differ or bins < 1.
ErrorMetrics error_metrics(std::span<const float> x, std::span<const float> y, int bins = 21);

}  // namespace qlab::formats
