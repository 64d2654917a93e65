// Max calibration: the running maxima and the frozen scales format_max / amax (OCP FP8: E4M3's largest
// finite value is 448, E5M2's 57344).
#include <gtest/gtest.h>

#include <vector>

#include "engine/core/error.h"
#include "engine/quant/fp8_calibration.h"

namespace qlab::quant {
namespace {

TEST(MaxCalibrator, KeepsTheLargestMagnitudeSeen) {
  MaxCalibrator c(3);
  c.observe_input(0, std::vector<float>{0.5f, -2.0f, 1.0f});
  c.observe_input(0, std::vector<float>{1.5f});
  c.observe_input(1, std::vector<float>{-0.25f});
  c.observe_weight(0, std::vector<float>{0.1f, -0.7f});
  c.observe_weight(1, std::vector<float>{4.0f});
  EXPECT_EQ(c.input_amax(0), 2.0f);
  EXPECT_EQ(c.input_amax(1), 0.25f);
  EXPECT_EQ(c.input_amax(2), 0.0f);
  EXPECT_EQ(c.weight_amax(0), 0.7f);
  const auto s = c.scales();
  ASSERT_EQ(s.size(), 3u);
  EXPECT_EQ(s[0].input, 448.0f / 2.0f);
  EXPECT_EQ(s[0].weight, 448.0f / 0.7f);
  EXPECT_EQ(s[1].input, 448.0f / 0.25f);
  EXPECT_EQ(s[1].weight, 448.0f / 4.0f);
  EXPECT_EQ(s[2].input, 1.0f);  // never saw anything but zeros: no scaling
  EXPECT_EQ(s[2].weight, 1.0f);
  EXPECT_EQ(c.scales(formats::ScalarFormat::E5M2)[1].weight, 57344.0f / 4.0f);
  EXPECT_THROW(c.observe_input(3, std::vector<float>{1.0f}), std::out_of_range);
}

TEST(CalibrationChunks, WholeChunksUpToTheLimit) {
  EXPECT_EQ(calibration_chunks(1000, 128, 8), 7);
  EXPECT_EQ(calibration_chunks(1000, 100, 8), 8);
  EXPECT_EQ(calibration_chunks(1000, 100, 0), 10);
  EXPECT_THROW(calibration_chunks(100, 128, 8), Error);
}

}  // namespace
}  // namespace qlab::quant
