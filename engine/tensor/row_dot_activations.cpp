// ggml's activation quantizers for the integer row-dot kernels (see row_dot_activations.h).
#include "engine/tensor/row_dot_activations.h"

#include <algorithm>
#include <cmath>

#include "engine/core/error.h"
#include "engine/formats/scalar_fast.h"
#include "engine/tensor/convert.h"

namespace qlab::tensor {

namespace {

bool q8_0_block(const float* x, std::int8_t* q, float& d_out) {
  float amax = 0.0f;
  bool finite = true;
  for (int j = 0; j < 32; ++j) {
    amax = std::max(amax, std::fabs(x[j]));
    finite = finite && std::isfinite(x[j]);
  }
  if (!finite) return false;
  const float d = amax / 127.0f;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  for (int j = 0; j < 32; ++j) q[j] = static_cast<std::int8_t>(std::roundf(x[j] * id));
  d_out = f16_bits_to_f32(formats::f32_to_f16(d));
  return true;
}

bool q8_k_block(const float* x, std::int8_t* q, float& d_out) {
  float max = 0.0f, amax = 0.0f;
  bool finite = true;
  for (int j = 0; j < 256; ++j) {
    const float ax = std::fabs(x[j]);
    finite = finite && std::isfinite(x[j]);
    if (ax > amax) {
      amax = ax;
      max = x[j];
    }
  }
  if (amax == 0.0f) {
    std::fill(q, q + 256, std::int8_t{0});
    d_out = 0.0f;
    return finite;
  }
  const float iscale = -127.0f / max;
  if (!finite || !std::isfinite(iscale)) return false;  // a largest value below 127 / FLT_MAX too
  // lrintf rounds ties to even, as ggml's nearest_int (the 1.5 * 2^23 trick) does for |v| < 2^22.
  for (int j = 0; j < 256; ++j) q[j] = static_cast<std::int8_t>(std::min(127L, std::lrintf(iscale * x[j])));
  d_out = 1 / iscale;
  return true;
}

}  // namespace

bool quantize_activations(const float* x, std::int64_t n, kernels::ActivationBlocks blocks, QuantizedActivations& out) {
  const int block = blocks == kernels::ActivationBlocks::Q8_K ? 256 : 32;
  if (blocks == kernels::ActivationBlocks::Float || n % block != 0)
    fail("quantize_activations: {} values are not whole blocks of {}", n, block);
  out.q.resize(static_cast<std::size_t>(n));
  out.d.resize(static_cast<std::size_t>(n / block));
  out.s.resize(static_cast<std::size_t>(n / 16));
  for (std::int64_t b = 0; b < n / block; ++b) {
    std::int8_t* q = out.q.data() + b * block;
    float& d = out.d[static_cast<std::size_t>(b)];
    if (!(block == 32 ? q8_0_block(x + b * block, q, d) : q8_k_block(x + b * block, q, d))) return false;
  }
  for (std::int64_t g = 0; g < n / 16; ++g) {
    int s = 0;
    for (int j = 0; j < 16; ++j) s += out.q[static_cast<std::size_t>(16 * g + j)];
    out.s[static_cast<std::size_t>(g)] = static_cast<std::int16_t>(s);
  }
  return true;
}

}  // namespace qlab::tensor
