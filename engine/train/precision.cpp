#include "engine/train/precision.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <mutex>

#include "engine/core/threads.h"
#include "engine/formats/scalar.h"

namespace qlab::train {

std::string_view precision_name(Precision p) {
  switch (p) {
    case Precision::FP32: return "fp32";
    case Precision::BF16: return "bf16";
    case Precision::FP8: return "fp8";
    case Precision::FP8NoScale: return "fp8-noscale";
  }
  return "?";
}

std::optional<Precision> precision_from_name(std::string_view s) {
  for (Precision p : {Precision::FP32, Precision::BF16, Precision::FP8, Precision::FP8NoScale})
    if (precision_name(p) == s) return p;
  return std::nullopt;
}

std::string_view cast_role_name(CastRole r) {
  switch (r) {
    case CastRole::Weight: return "weights";
    case CastRole::Activation: return "activations";
    case CastRole::Gradient: return "gradients";
  }
  return "?";
}

bool casts(Precision p) { return p != Precision::FP32; }

namespace {

// One contiguous piece: returns the counts and the amax of the input.
template <typename Round>
CastCounts cast_range(const float* x, float* out, std::size_t n, float scale, float max_finite, Round round,
                      float& amax) {
  CastCounts c;
  c.total = n;
  const float inv = 1.0f / scale;
  float m = 0.0f;
  for (std::size_t i = 0; i < n; ++i) {
    const float v = x[i];
    const float a = std::fabs(v);
    m = std::max(m, a);
    const float s = v * scale;
    const float r = round(s) * inv;
    c.saturated += std::fabs(s) > max_finite ? 1u : 0u;
    c.flushed += (v != 0.0f && r == 0.0f) ? 1u : 0u;
    out[i] = r;
  }
  amax = m;
  return c;
}

}  // namespace

void cast_into(Precision p, CastRole role, const float* x, float* out, std::size_t n, ScaleMeta* meta,
               CastStats& counts) {
  if (p == Precision::FP32) {
    if (out != x) std::copy(x, x + n, out);
    return;
  }
  const bool grad = role == CastRole::Gradient;
  float scale = 1.0f, max_finite = 0.0f;
  // "Saturated" = past the rounding boundary, where a non-saturating cast would give inf/NaN
  // (e4m3: above 464, the tie between 448 and 480; e5m2: 61440 and above); values between the
  // max and that boundary round to the max either way.
  if (p == Precision::BF16) {
    max_finite = 3.3895313892515355e38f;
  } else {
    max_finite = grad ? 61439.996f : 464.0f;
    if (p == Precision::FP8 && meta) scale = meta->scale;
  }
  std::mutex mu;
  CastCounts total;
  float amax = 0.0f;
  parallel_for(
      n,
      [&](std::size_t b, std::size_t e) {
        float m = 0.0f;
        CastCounts c;
        if (p == Precision::BF16)
          c = cast_range(x + b, out + b, e - b, 1.0f, max_finite,
                         [](float v) { return formats::bf16_to_f32(formats::f32_to_bf16(v)); }, m);
        else if (grad)
          c = cast_range(x + b, out + b, e - b, scale, max_finite,
                         [](float v) { return formats::e5m2_to_f32(formats::f32_to_e5m2_sat(v)); }, m);
        else
          c = cast_range(x + b, out + b, e - b, scale, max_finite,
                         [](float v) { return formats::e4m3_to_f32(formats::f32_to_e4m3_sat(v)); }, m);
        std::lock_guard<std::mutex> lock(mu);
        total += c;
        amax = std::max(amax, m);
      },
      16384);
  counts[static_cast<int>(role)] += total;
  if (meta) meta->amax_now = std::max(meta->amax_now, amax);
}

void update_scale(ScaleMeta& meta, CastRole role, const DelayedScaling& recipe) {
  const int len = std::max(1, recipe.history_len);
  meta.history.push_back(meta.amax_now);
  if (static_cast<int>(meta.history.size()) > len)
    meta.history.erase(meta.history.begin(), meta.history.end() - len);
  float amax = recipe.most_recent ? meta.amax_now : *std::max_element(meta.history.begin(), meta.history.end());
  meta.amax_now = 0.0f;
  const float fp8_max = role == CastRole::Gradient ? 57344.0f : 448.0f;
  if (std::isfinite(amax) && amax > 0.0f) {
    const double s = fp8_max / std::ldexp(1.0, recipe.margin) / amax;
    meta.scale = s > FLT_MAX ? FLT_MAX : static_cast<float>(s);  // TE: an infinite scale becomes FLT_MAX
  }
}

}  // namespace qlab::train
