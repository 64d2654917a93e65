// Error metrics against hand-computed values.
#include "engine/formats/metrics.h"

#include <cmath>
#include <vector>

#include <gtest/gtest.h>

#include "engine/core/error.h"
#include "engine/core/threads.h"

namespace qlab::formats {
namespace {

TEST(Metrics, HandComputedSmallCase) {
  // errors y - x = [0, 0, 0, 1, -0.5]; sum e^2 = 1.25; sum x^2 = 1 + 4 + 9 + 16 + 4 = 34
  const std::vector<float> x = {1, 2, 3, 4, -2}, y = {1, 2, 3, 5, -2.5f};
  ErrorMetrics m = error_metrics(x, y, 4);
  EXPECT_EQ(m.count, 5u);
  EXPECT_DOUBLE_EQ(m.mse, 1.25 / 5);
  EXPECT_DOUBLE_EQ(m.rel_frobenius, std::sqrt(1.25 / 34));
  EXPECT_DOUBLE_EQ(m.sqnr_db, 10 * std::log10(34 / 1.25));
  EXPECT_DOUBLE_EQ(m.max_abs_error, 1.0);
  EXPECT_EQ(m.max_abs_error_index, 3u);
  EXPECT_DOUBLE_EQ(m.signal_power, 34.0 / 5);
  // bins over [-1, 1], width 0.5: [-1,-0.5) [-0.5,0) [0,0.5) [0.5,1]
  EXPECT_EQ(m.histogram.lo, -1.0);
  EXPECT_EQ(m.histogram.hi, 1.0);
  EXPECT_EQ(m.histogram.counts, (std::vector<std::uint64_t>{0, 1, 3, 1}));
}

TEST(Metrics, ExactCopyHasInfiniteSqnr) {
  const std::vector<float> x = {1, -2, 3};
  ErrorMetrics m = error_metrics(x, x);
  EXPECT_EQ(m.mse, 0.0);
  EXPECT_EQ(m.rel_frobenius, 0.0);
  EXPECT_TRUE(std::isinf(m.sqnr_db) && m.sqnr_db > 0);
  std::uint64_t total = 0;
  for (auto c : m.histogram.counts) total += c;
  EXPECT_EQ(total, 3u);
}

// Halving every value: error = -x/2, so rel. Frobenius = 0.5 and SQNR = 20 log10(2) dB, whatever the data;
// the chunked double sums do not depend on the thread count.
TEST(Metrics, ScaleInvariantsAndThreadIndependence) {
  std::vector<float> x(300000), y(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) {
    x[i] = std::sin(static_cast<float>(i) * 0.37f) * 3.0f;
    y[i] = x[i] * 0.5f;
  }
  set_thread_count(3);
  ErrorMetrics a = error_metrics(x, y);
  EXPECT_NEAR(a.rel_frobenius, 0.5, 1e-12);
  EXPECT_NEAR(a.sqnr_db, 20 * std::log10(2.0), 1e-9);
  EXPECT_NEAR(a.mse, a.signal_power / 4, 1e-12);
  ErrorMetrics b = error_metrics(x, y);
  EXPECT_EQ(a.mse, b.mse);
  EXPECT_EQ(a.sqnr_db, b.sqnr_db);
}

TEST(Metrics, BadInput) {
  std::vector<float> x(3), y(4);
  EXPECT_THROW(error_metrics(x, y), Error);
  EXPECT_THROW(error_metrics(x, x, 0), Error);
}

}  // namespace
}  // namespace qlab::formats
