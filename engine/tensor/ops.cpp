#include "engine/tensor/ops.h"

#include <cmath>
#include <cstring>
#include <limits>

#include "engine/tensor/convert.h"
#include "engine/tensor/vector_clones.h"

namespace qlab::tensor {

namespace {

// Reductions keep this many independent partial sums: without -ffast-math a compiler may not
// reorder a single running sum, so one accumulator would run at one add per add-latency.
constexpr int kLanes = 16;


// Cody-Waite reduction x = n ln2 + r (|r| <= ln2/2, ln2 split so n ln2 is exact), then Cephes'
// degree-7 expansion of e^r, then 2^n put into the exponent field. Rounding to n uses the
// 1.5 * 2^23 trick, so every step is plain arithmetic and bit operations.
inline float exp_impl(float x) {
  const float xc = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);  // n stays within [-126, 127]
  constexpr float kShift = 0x1.8p23f;
  const float t = xc * 1.44269504088896341f + kShift;
  const float n = t - kShift;
  const auto ni = static_cast<std::int32_t>(f32_to_bits(t) - f32_to_bits(kShift));  // n as an integer
  float r = xc - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const float scaled = p * bits_to_f32(static_cast<std::uint32_t>(ni + 127) << 23);
  // Outside the clamped range: 0 below (true values there are under 1.7e-38), inf above.
  const float out = x < -87.0f ? 0.0f : (x > 88.72283f ? std::numeric_limits<float>::infinity() : scaled);
  return x != x ? x : out;
}

}  // namespace

float exp_fast(float x) { return exp_impl(x); }

QLAB_VECTOR_CLONES
void rmsnorm(const float* x, const float* w, float eps, std::int64_t n, float* out) {
  double acc[kLanes] = {};
  std::int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int j = 0; j < kLanes; ++j) acc[j] += static_cast<double>(x[i + j]) * x[i + j];
  for (int j = 0; i < n; ++i, ++j) acc[j] += static_cast<double>(x[i]) * x[i];
  double ss = 0.0;
  for (double a : acc) ss += a;
  const auto inv = static_cast<float>(1.0 / std::sqrt(ss / static_cast<double>(n) + eps));
  for (i = 0; i < n; ++i) out[i] = w[i] * (x[i] * inv);
}

QLAB_VECTOR_CLONES
void softmax(float* x, std::int64_t n) {
  float mx[kLanes];
  for (float& m : mx) m = x[0];
  std::int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int j = 0; j < kLanes; ++j) mx[j] = x[i + j] > mx[j] ? x[i + j] : mx[j];
  for (int j = 0; i < n; ++i, ++j) mx[j] = x[i] > mx[j] ? x[i] : mx[j];
  float m = mx[0];
  for (float v : mx) m = v > m ? v : m;
  double acc[kLanes] = {};
  for (i = 0; i + kLanes <= n; i += kLanes)
    for (int j = 0; j < kLanes; ++j) {
      x[i + j] = exp_impl(x[i + j] - m);
      acc[j] += x[i + j];
    }
  for (int j = 0; i < n; ++i, ++j) {
    x[i] = exp_impl(x[i] - m);
    acc[j] += x[i];
  }
  double sum = 0.0;
  for (double a : acc) sum += a;
  const auto inv = static_cast<float>(1.0 / sum);
  for (i = 0; i < n; ++i) x[i] *= inv;
}

QLAB_VECTOR_CLONES
void silu_mul(float* g, const float* u, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) g[i] = g[i] / (1.0f + exp_impl(-g[i])) * u[i];
}

QLAB_VECTOR_CLONES
void add(float* y, const float* x, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) y[i] += x[i];
}

}  // namespace qlab::tensor
