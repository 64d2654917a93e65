// Run-time activation quantization, emulated (formats/activation_qdq.h), against values worked out by
// hand from vLLM's reference rule: the block scale E4M3(g * amax / 6), E2M1 nearest with ties to even
// after clamping to +-6, the block scale's saturation at 448, a zero block; and static per-tensor FP8.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "engine/core/error.h"
#include "engine/formats/activation_qdq.h"

namespace qlab::formats {
namespace {

TEST(ActivationQdq, Nvfp4BlockOnItsOwnGridRoundsTiesToEven) {
  // amax 6 and g = 1: the block scale is E4M3(1.0) = 1, so every value goes to its nearest E2M1 value.
  std::vector<float> x = {6, -3, 1.5f, 0.75f, 0.25f, 2.5f, 5, 3.5f, 1.25f, 1.75f, -0.75f, 0.1f, 0, -6, 4.4f, 2.6f};
  const std::vector<float> want = {6, -3, 1.5f, 1, 0, 2, 4, 4, 1, 2, -1, 0, 0, -6, 4, 3};
  nvfp4_activation_qdq(x, 16, 1.0f);
  EXPECT_EQ(x, want);
}

TEST(ActivationQdq, Nvfp4BlockScaleIsRoundedToE4M3) {
  // g = 2, amax 7: g * 7/6 = 2.333 -> E4M3 2.25 (the grid there is 2, 2.25, 2.5); the multiplier is
  // 1 / (2.25 / 2) = 0.8889 and the way back 2.25 / 2 = 1.125:
  //   7 -> 6.22 -> clamped 6 -> 6.75;  1 -> 0.889 -> 1 -> 1.125;  -2 -> -1.778 -> -2 -> -2.25;
  //   0.3 -> 0.267 -> 0.5 -> 0.5625;  0.25 -> 0.222 -> 0
  std::vector<float> x(16, 0.0f);
  x[0] = 7, x[1] = 1, x[2] = -2, x[3] = 0.3f, x[4] = 0.25f;
  nvfp4_activation_qdq(x, 16, 2.0f);
  EXPECT_FLOAT_EQ(x[0], 6.75f);
  EXPECT_FLOAT_EQ(x[1], 1.125f);
  EXPECT_FLOAT_EQ(x[2], -2.25f);
  EXPECT_FLOAT_EQ(x[3], 0.5625f);
  EXPECT_EQ(x[4], 0.0f);
  for (int i = 5; i < 16; ++i) EXPECT_EQ(x[i], 0.0f);
}

TEST(ActivationQdq, Nvfp4SaturatedBlockScaleAndZeroBlocks) {
  // g = 1000 and amax 6: g * 1 = 1000 clamps to 448, so 6 comes back as 6 * 448 / 1000, not 6 (a
  // global scale too large for the data clips it, as the engine's kernel does).
  std::vector<float> x(32, 0.0f);
  x[0] = 6;
  x[16] = 0;  // the second block is all zeros and stays so
  nvfp4_activation_qdq(x, 32, 1000.0f);
  EXPECT_FLOAT_EQ(x[0], 6 * (448.0f / 1000.0f));
  for (int i = 16; i < 32; ++i) EXPECT_EQ(x[i], 0.0f);
  std::vector<float> bad(24, 1.0f);
  EXPECT_THROW(nvfp4_activation_qdq(bad, 24, 1.0f), Error) << "rows of 24 are not whole blocks";
}

TEST(ActivationQdq, Fp8StaticPerTensor) {
  // scale 0.5: 1 -> 2 -> 1;  300 -> 600 -> clamped 448 -> 224;  0.3 -> 0.6 -> 0.625 -> 0.3125;
  // 0.53125 -> 1.0625, halfway between 1 and 1.125 -> 1 (even mantissa) -> 0.5
  std::vector<float> x = {1, 300, 0.3f, 0.53125f, -0.3f};
  fp8_activation_qdq(x, 0.5f);
  EXPECT_EQ(x, (std::vector<float>{1, 224, 0.3125f, 0.5f, -0.3125f}));
}

TEST(ActivationQdq, E2M1NearestKeepsTheSign) {
  EXPECT_EQ(e2m1_nearest(-0.8f), -1.0f);
  EXPECT_EQ(e2m1_nearest(5.5f), 6.0f);
  EXPECT_TRUE(std::signbit(e2m1_nearest(-0.1f)));
}

}  // namespace
}  // namespace qlab::formats
