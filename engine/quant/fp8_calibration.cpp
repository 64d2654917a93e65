#include "engine/quant/fp8_calibration.h"

#include <algorithm>
#include <cmath>

#include "engine/core/error.h"

namespace qlab::quant {

namespace {

float amax(std::span<const float> v) {
  float a = 0;
  for (float x : v) a = std::max(a, std::fabs(x));
  return a;
}

}  // namespace

MaxCalibrator::MaxCalibrator(std::size_t n_linears) : input_amax_(n_linears, 0.0f), weight_amax_(n_linears, 0.0f) {}

void MaxCalibrator::observe_input(std::size_t linear, std::span<const float> x) {
  float& a = input_amax_.at(linear);
  a = std::max(a, amax(x));
}

void MaxCalibrator::observe_weight(std::size_t linear, std::span<const float> w) {
  float& a = weight_amax_.at(linear);
  a = std::max(a, amax(w));
}

std::vector<Fp8Scales> MaxCalibrator::scales(formats::ScalarFormat format) const {
  const auto fmax = static_cast<float>(formats::properties(format).max_finite);
  std::vector<Fp8Scales> out(input_amax_.size());
  for (std::size_t i = 0; i < out.size(); ++i) {
    out[i].input = input_amax_[i] > 0 ? fmax / input_amax_[i] : 1.0f;
    out[i].weight = weight_amax_[i] > 0 ? fmax / weight_amax_[i] : 1.0f;
  }
  return out;
}

std::int64_t calibration_chunks(std::size_t n_tokens, std::int64_t n_ctx, std::int64_t max_chunks) {
  if (n_ctx < 1) fail("calibration context {} is not positive", n_ctx);
  const std::int64_t n = static_cast<std::int64_t>(n_tokens) / n_ctx;
  if (n < 1) fail("calibration text has {} tokens, fewer than one chunk of {}", n_tokens, n_ctx);
  return max_chunks > 0 ? std::min(n, max_chunks) : n;
}

}  // namespace qlab::quant
