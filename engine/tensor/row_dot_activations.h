#pragma once
// The activation row of an integer row-dot kernel (row_dot.h), quantized once per product:
//   QuantizedActivations   int8 codes, a float scale per block, the sum of every 16 codes
//   quantize_activations   x[n] -> those, in Q8_0 or Q8_K blocks (n a multiple of the block)
// The rules are ggml's reference quantizers, value for value:
//   Q8_0 (quantize_row_q8_0_ref): blocks of 32, d = amax / 127, q = roundf(x / d) (x * (1 / d)), the
//        scale kept as fp16(d), the value the products use
//   Q8_K (quantize_row_q8_K_ref): blocks of 256, with max the value of largest magnitude,
//        iscale = -127 / max, q = min(127, nearest(iscale * x)) (ties to even), d = 1 / iscale
// so that the kernels of a GGUF weight see the values llama.cpp's do, the values
// engine/gguf/ggml_activations.h rounds the float activations to (its tests hold the two equal).
// A block of zeros gets d = 0 and codes 0. A row with a NaN or an infinity (or, in Q8_K, a largest
// value so small that 127 / it overflows) has no such blocks: false, and the product takes the
// float kernels, which carry the value through as the float product does.
#include <cstdint>
#include <vector>

#include "engine/tensor/row_dot.h"

namespace qlab::tensor {

struct QuantizedActivations {
  std::vector<std::int8_t> q;    // [n]
  std::vector<float> d;          // [n / block]
  std::vector<std::int16_t> s;   // [n / 16]
};

bool quantize_activations(const float* x, std::int64_t n, kernels::ActivationBlocks blocks, QuantizedActivations& out);

}  // namespace qlab::tensor
