#include "engine/tensor/ops.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "engine/tensor/lanes.h"
#include "engine/tensor/vector_clones.h"

namespace qlab::tensor {

namespace {

// Reductions keep this many independent partial sums: without -ffast-math a compiler may not
// reorder a single running sum, so one accumulator would run at one add per add-latency.
constexpr int kLanes = kLaneCount;
// Float partial sums of at most this many values each go into a double total.
constexpr std::int64_t kFlush = 1024;

// Any x: clamped into exp_core's range, then 0 below -87 (true values there are under 1.7e-38),
// inf above 88.72, NaN kept.
inline float exp_impl(float x) {
  const float scaled = exp_core(x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x));
  const float out = x < -87.0f ? 0.0f : (x > 88.72283f ? std::numeric_limits<float>::infinity() : scaled);
  return x != x ? x : out;
}

// exp_impl for x <= 0 (a softmax's x - max): no overflow to handle, and a NaN stays NaN through
// the arithmetic, so only the underflow select remains.
inline float exp_nonpositive(float x) {
  const float scaled = exp_core(x < -87.0f ? -87.0f : x);
  return x < -87.0f ? 0.0f : scaled;
}

// The two passes of a softmax over x[0, n). A row's last n % kLanes values go through a copy padded
// with -inf (whose exp is 0), so they take the vector path too: attention rows are short, and a
// scalar tail of up to 15 exps costs as much as the rest of a 64-wide row.
struct RowTail {
  std::int64_t full = 0, rem = 0;
  float v[kLanes];
  RowTail(const float* x, std::int64_t n) : full(n - n % kLanes), rem(n - full) {
    std::fill_n(v, kLanes, -std::numeric_limits<float>::infinity());
    for (std::int64_t j = 0; j < rem; ++j) v[j] = x[full + j];
  }
};

// The max as a vector-extension loop: a compiler does not vectorize a float max reduction without
// -ffast-math, even with the lanes spelled out, and a scalar max costs as much as the exps.
inline float row_max(const float* x, const RowTail& tail) {
  lanes mx, v;
  std::memcpy(&mx, tail.rem > 0 ? tail.v : x, sizeof mx);
  for (std::int64_t i = 0; i < tail.full; i += kLanes) {
    std::memcpy(&v, x + i, sizeof v);
    mx = v > mx ? v : mx;
  }
  return tree_max(mx);
}

// Sum of e^(x - m), each term also stored to out when out is not null. Partial sums in float lanes
// of at most kFlush / kLanes terms each, totalled in double: rows of any width stay within a few
// float roundings of the exact sum, without widening every value.
inline double sum_exp(const float* x, RowTail& tail, float m, float* out) {
  double sum = 0.0;
  for (std::int64_t i0 = 0; i0 < tail.full; i0 += kFlush) {
    float acc[kLanes] = {};
    const std::int64_t end = std::min(tail.full, i0 + kFlush);
    for (std::int64_t i = i0; i < end; i += kLanes) {
      float e[kLanes];
      for (int j = 0; j < kLanes; ++j) {
        e[j] = exp_nonpositive(x[i + j] - m);
        acc[j] += e[j];
      }
      if (out) std::copy_n(e, kLanes, out + i);
    }
    sum += tree_sum(acc);
  }
  if (tail.rem > 0) {
    for (float& t : tail.v) t = exp_nonpositive(t - m);
    sum += tree_sum(tail.v);
    if (out) std::copy_n(tail.v, tail.rem, out + tail.full);
  }
  return sum;
}

}  // namespace

float exp_fast(float x) { return exp_impl(x); }

QLAB_VECTOR_CLONES
void rmsnorm(const float* x, const float* w, float eps, std::int64_t n, float* out) {
  // Float partial sums added into a double every kFlush values (rows can be 8k wide): a double per
  // value halves the vector width, and a hidden row of 64 is mostly per-row overhead anyway.
  double ss = 0.0;
  std::int64_t i = 0;
  while (i + kLanes <= n) {
    float acc[kLanes] = {};
    const std::int64_t end = std::min(n - n % kLanes, i + kFlush);
    for (; i < end; i += kLanes)
      for (int j = 0; j < kLanes; ++j) acc[j] += x[i + j] * x[i + j];
    ss += tree_sum(acc);
  }
  for (; i < n; ++i) ss += static_cast<double>(x[i]) * x[i];
  const auto inv = static_cast<float>(1.0 / std::sqrt(ss / static_cast<double>(n) + eps));
  for (i = 0; i < n; ++i) out[i] = w[i] * (x[i] * inv);
}

QLAB_VECTOR_CLONES
float softmax_exp(float* x, std::int64_t n) {
  if (n <= 0) return 0.0f;
  RowTail tail(x, n);
  const float m = row_max(x, tail);
  return static_cast<float>(1.0 / sum_exp(x, tail, m, x));
}

QLAB_VECTOR_CLONES
double log_sum_exp(const float* x, std::int64_t n) {
  if (n <= 0) return -std::numeric_limits<double>::infinity();
  RowTail tail(x, n);
  const float m = row_max(x, tail);
  return static_cast<double>(m) + std::log(sum_exp(x, tail, m, nullptr));
}

QLAB_VECTOR_CLONES
void scale(float* x, float s, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) x[i] *= s;
}

void softmax(float* x, std::int64_t n) { scale(x, softmax_exp(x, n), n); }

QLAB_VECTOR_CLONES
void silu_mul(float* g, const float* u, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) {
    // Clamps instead of exp_impl's selects: below -87, silu(g) is under 2e-36 in magnitude, so g is
    // raised to -87; above 87, e^-g is under 2e-38 and 1 + e^-g rounds to 1 either way. Each is one
    // max or min that keeps a NaN.
    const float x = g[i] < -87.0f ? -87.0f : g[i];
    const float a = -x < -87.0f ? -87.0f : -x;
    g[i] = x / (1.0f + exp_core(a)) * u[i];
  }
}

QLAB_VECTOR_CLONES
void add(float* y, const float* x, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) y[i] += x[i];
}

}  // namespace qlab::tensor
