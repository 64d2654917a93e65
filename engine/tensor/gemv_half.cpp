#include "engine/tensor/gemv_half.h"

#include "engine/tensor/convert.h"
#include "engine/tensor/vector_clones.h"

namespace qlab::tensor {

namespace {

// Partial sums in 16 independent lanes: enough to fill the vector units and hide add latency.
constexpr int kLanes = 16;

inline float bf16_value(std::uint16_t b) { return bits_to_f32(static_cast<std::uint32_t>(b) << 16); }

template <float (*Widen)(std::uint16_t)>
float dot(const std::uint16_t* w, const float* x, std::int64_t K) {
  float acc[kLanes] = {};
  std::int64_t k = 0;
  for (; k + kLanes <= K; k += kLanes)
    for (int j = 0; j < kLanes; ++j) acc[j] += x[k + j] * Widen(w[k + j]);
  for (int j = 0; k < K; ++k, ++j) acc[j] += x[k] * Widen(w[k]);
  // Pairwise reduction of the lanes.
  for (int width = kLanes / 2; width > 0; width /= 2)
    for (int j = 0; j < width; ++j) acc[j] += acc[j + width];
  return acc[0];
}

template <float (*Widen)(std::uint16_t)>
void gemv(const std::uint16_t* W, std::int64_t rows, std::int64_t K, const float* x, float* y) {
  for (std::int64_t r = 0; r < rows; ++r) y[r] = dot<Widen>(W + r * K, x, K);
}

}  // namespace

QLAB_VECTOR_CLONES
void gemv_bf16(const std::uint16_t* W, std::int64_t rows, std::int64_t K, const float* x, float* y) {
  gemv<bf16_value>(W, rows, K, x, y);
}

QLAB_VECTOR_CLONES
void gemv_f16(const std::uint16_t* W, std::int64_t rows, std::int64_t K, const float* x, float* y) {
  gemv<f16_bits_to_f32>(W, rows, K, x, y);
}

}  // namespace qlab::tensor
