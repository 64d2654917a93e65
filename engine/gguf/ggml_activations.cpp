// ggml's activation conversions for the CPU dot products (see ggml_activations.h).
#include "engine/gguf/ggml_activations.h"

#include <cmath>

#include "engine/gguf/half.h"
#include "engine/gguf/quant_search.h"

namespace qlab::gguf {

namespace {

void round_q8_0(float* x, std::int64_t rows, std::int64_t cols) {
  const std::int64_t n = rows * cols;
  for (std::int64_t b = 0; b < n; b += 32) {
    float amax = 0.0f;
    for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[b + j]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    const float dh = fp16_to_fp32(fp32_to_fp16(d));
    for (int j = 0; j < 32; ++j) x[b + j] = std::roundf(x[b + j] * id) * dh;
  }
}

void round_q8_k(float* x, std::int64_t rows, std::int64_t cols) {
  const std::int64_t n = rows * cols;
  for (std::int64_t b = 0; b < n; b += 256) {
    float max = 0.0f, amax = 0.0f;
    for (int j = 0; j < 256; ++j) {
      const float ax = std::fabs(x[b + j]);
      if (ax > amax) {
        amax = ax;
        max = x[b + j];
      }
    }
    if (amax == 0.0f) {
      for (int j = 0; j < 256; ++j) x[b + j] = 0.0f;
      continue;
    }
    const float iscale = -127.0f / max;
    const float d = 1 / iscale;
    for (int j = 0; j < 256; ++j) x[b + j] = static_cast<float>(std::min(127, detail::nearest_int(iscale * x[b + j]))) * d;
  }
}

void round_f16(float* x, std::int64_t rows, std::int64_t cols) {
  for (std::int64_t i = 0; i < rows * cols; ++i) x[i] = fp16_to_fp32(fp32_to_fp16(x[i]));
}

void round_bf16(float* x, std::int64_t rows, std::int64_t cols) {
  for (std::int64_t i = 0; i < rows * cols; ++i) x[i] = bf16_to_fp32(fp32_to_bf16(x[i]));
}

}  // namespace

RoundInput llama_cpp_input_rounding(GgmlType t) {
  switch (t) {
    case GgmlType::F16: return round_f16;
    case GgmlType::BF16: return round_bf16;
    case GgmlType::Q4_0: case GgmlType::Q5_0: case GgmlType::Q8_0: case GgmlType::MXFP4:
    case GgmlType::Q4_1: case GgmlType::Q5_1:  // q8_1: the same values (its block sum aside)
      return round_q8_0;
    case GgmlType::Q2_K: case GgmlType::Q3_K: case GgmlType::Q4_K: case GgmlType::Q5_K: case GgmlType::Q6_K:
      return round_q8_k;
    default: return nullptr;
  }
}

}  // namespace qlab::gguf
