// Run-time activation quantization, emulated (activation_qdq.h).
#include "engine/formats/activation_qdq.h"

#include <algorithm>
#include <cmath>

#include "engine/core/error.h"
#include "engine/core/threads.h"
#include "engine/formats/scalar.h"

namespace qlab::formats {

namespace {

constexpr std::int64_t kBlock = 16;

float e4m3_round(float v) { return decode(ScalarFormat::E4M3, encode(ScalarFormat::E4M3, v)); }

// 1 / v, with the reference's guard: 1 / (v + 1e8) when v is zero.
float reciprocal(float v) { return 1.0f / (v == 0.0f ? 1e8f : v); }

}  // namespace

float e2m1_nearest(float v) {
  const float a = std::fabs(v);
  float r;
  if (a <= 0.25f) r = 0.0f;
  else if (a < 0.75f) r = 0.5f;
  else if (a <= 1.25f) r = 1.0f;
  else if (a < 1.75f) r = 1.5f;
  else if (a <= 2.5f) r = 2.0f;
  else if (a < 3.5f) r = 3.0f;
  else if (a <= 5.0f) r = 4.0f;
  else r = 6.0f;
  return std::signbit(v) ? -r : r;
}

void nvfp4_activation_qdq(std::span<float> x, std::int64_t cols, float global_scale) {
  if (cols <= 0 || cols % kBlock != 0 || x.size() % static_cast<std::size_t>(cols) != 0)
    fail("NVFP4 activations: rows of {} values are not whole blocks of {}", cols, kBlock);
  const float g = global_scale, inv_g = reciprocal(g), sixth = static_cast<float>(1.0 / 6.0);
  const std::size_t blocks = x.size() / kBlock;
  parallel_for(blocks, [&](std::size_t b0, std::size_t b1) {
    for (std::size_t b = b0; b < b1; ++b) {
      float* v = x.data() + b * kBlock;
      float amax = 0.0f;
      for (std::int64_t i = 0; i < kBlock; ++i) amax = std::max(amax, std::fabs(v[i]));
      const float s = e4m3_round(std::clamp(g * (amax * sixth), -448.0f, 448.0f));
      const float mul = reciprocal(s * inv_g), back = s / g;
      for (std::int64_t i = 0; i < kBlock; ++i) v[i] = e2m1_nearest(std::clamp(v[i] * mul, -6.0f, 6.0f)) * back;
    }
  }, grain_for_work(kBlock * 8.0));
}

void fp8_activation_qdq(std::span<float> x, float scale) {
  const float inv = reciprocal(scale);
  parallel_for(x.size(), [&](std::size_t i0, std::size_t i1) {
    for (std::size_t i = i0; i < i1; ++i) x[i] = e4m3_round(std::clamp(x[i] * inv, -448.0f, 448.0f)) * scale;
  }, grain_for_work(8.0));
}

}  // namespace qlab::formats
