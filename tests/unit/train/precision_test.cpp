// Casting with counts, and TransformerEngine's delayed-scaling update, against hand-derived values.
#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>
#include <vector>

#include "engine/train/precision.h"

namespace qlab::train {
namespace {

TEST(Cast, E4M3WithoutScalingSaturatesAbove448AndFlushesBelowHalfTheSmallestSubnormal) {
  // 2^-10 is the tie between 0 and the smallest subnormal 2^-9: ties to even -> 0 (flushed);
  // 600 -> 448 (saturated); 1.0625 -> 1.0 (rounded, neither).
  std::vector<float> x{600.0f, -1000.0f, 0.0009765625f, 0.0001f, 1.0625f, 0.0f, 460.0f};
  std::vector<float> out(x.size());
  CastStats st{};
  cast_into(Precision::FP8NoScale, CastRole::Activation, x.data(), out.data(), x.size(), nullptr, st);
  EXPECT_EQ(out[0], 448.0f);
  EXPECT_EQ(out[1], -448.0f);
  EXPECT_EQ(out[2], 0.0f);
  EXPECT_EQ(out[3], 0.0f);
  EXPECT_EQ(out[4], 1.0f);
  EXPECT_EQ(out[6], 448.0f);
  const auto& c = st[static_cast<int>(CastRole::Activation)];
  EXPECT_EQ(c.total, 7u);
  EXPECT_EQ(c.saturated, 2u);  // 460 rounds to 448 without clamping: not saturated
  EXPECT_EQ(c.flushed, 2u);    // the exact zero input is not counted as flushed
}

TEST(Cast, GradientsGoToE5M2WithItsRange) {
  // e5m2: max 57344, smallest subnormal 2^-16; 2^-17 is the tie -> 0.
  std::vector<float> x{61440.0f, 0.00000762939453125f, 0.0000152587890625f, 0.1f, 60000.0f};
  CastStats st{};
  std::vector<float> out(x.size());
  cast_into(Precision::FP8NoScale, CastRole::Gradient, x.data(), out.data(), x.size(), nullptr, st);
  EXPECT_EQ(out[0], 57344.0f);
  EXPECT_EQ(out[1], 0.0f);
  EXPECT_EQ(out[2], 0.0000152587890625f);
  EXPECT_EQ(out[3], 0.09375f);  // number-formats.md §6: 0.1 -> 0x2E = 0.09375
  EXPECT_EQ(out[4], 57344.0f);  // below 61440: rounds to the max, not counted as saturated
  const auto& c = st[static_cast<int>(CastRole::Gradient)];
  EXPECT_EQ(c.saturated, 1u);
  EXPECT_EQ(c.flushed, 1u);
}

TEST(Cast, ScaleMultipliesBeforeTheCastAndDividesAfter) {
  // scale 1024: 1e-4 * 1024 = 0.1024 -> e4m3 0.1015625 -> / 1024 = 9.918212890625e-05; amax recorded.
  ScaleMeta m;
  m.scale = 1024.0f;
  std::vector<float> x{1e-4f, -2e-4f};
  std::vector<float> out(2);
  CastStats st{};
  cast_into(Precision::FP8, CastRole::Weight, x.data(), out.data(), 2, &m, st);
  EXPECT_FLOAT_EQ(out[0], 0.1015625f / 1024.0f);
  EXPECT_FLOAT_EQ(m.amax_now, 2e-4f);
  EXPECT_EQ(st[0].flushed, 0u);
}

TEST(Cast, Bf16RoundsToNearestEven) {
  std::vector<float> x{1.00390625f /* 1 + 2^-8: tie -> 1 */, 1.01171875f /* 1 + 3*2^-8: tie -> 1 + 2^-6 */};
  std::vector<float> out(2);
  CastStats st{};
  cast_into(Precision::BF16, CastRole::Activation, x.data(), out.data(), 2, nullptr, st);
  EXPECT_EQ(out[0], 1.0f);
  EXPECT_EQ(out[1], 1.015625f);
}

TEST(DelayedScaling, ScaleFromTheMaxOfTheHistoryWithMargin) {
  DelayedScaling r;
  r.history_len = 3;
  r.margin = 1;
  ScaleMeta m;
  const float amaxes[] = {2.0f, 8.0f, 1.0f, 0.5f, 0.25f};
  // history after each step and the scale (448 / 2) / max(history):
  const float want[] = {224.0f / 2.0f, 224.0f / 8.0f, 224.0f / 8.0f, 224.0f / 8.0f, 224.0f / 1.0f};
  for (int i = 0; i < 5; ++i) {
    m.amax_now = amaxes[i];
    update_scale(m, CastRole::Activation, r);
    EXPECT_FLOAT_EQ(m.scale, want[i]) << "step " << i;
    EXPECT_EQ(m.amax_now, 0.0f);
  }
  EXPECT_EQ(m.history.size(), 3u);
}

TEST(DelayedScaling, GradientsUseE5M2MaxAndKeepTheScaleWhenAmaxIsZeroOrInfinite) {
  DelayedScaling r;
  r.history_len = 1;
  ScaleMeta m;
  m.amax_now = 4.0f;
  update_scale(m, CastRole::Gradient, r);
  EXPECT_FLOAT_EQ(m.scale, 57344.0f / 4.0f);
  m.amax_now = 0.0f;
  update_scale(m, CastRole::Gradient, r);
  EXPECT_FLOAT_EQ(m.scale, 57344.0f / 4.0f);
  m.amax_now = INFINITY;
  update_scale(m, CastRole::Gradient, r);
  EXPECT_FLOAT_EQ(m.scale, 57344.0f / 4.0f);
  // A tiny amax gives a scale past float's range: TE replaces inf by FLT_MAX.
  m.amax_now = 1e-40f;
  update_scale(m, CastRole::Gradient, r);
  EXPECT_EQ(m.scale, FLT_MAX);
}

TEST(DelayedScaling, MostRecentIgnoresTheHistory) {
  DelayedScaling r;
  r.history_len = 8;
  r.most_recent = true;
  ScaleMeta m;
  m.amax_now = 100.0f;
  update_scale(m, CastRole::Weight, r);
  m.amax_now = 1.0f;
  update_scale(m, CastRole::Weight, r);
  EXPECT_FLOAT_EQ(m.scale, 448.0f);
}

}  // namespace
}  // namespace qlab::train
