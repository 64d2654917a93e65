#pragma once
// What llama.cpp's CPU kernels do to the activations of a product (ggml-cpu's mul_mat): they are
// converted to the weight type's vec_dot_type before the dot products — q8_0 for q4_0, q5_0, q8_0 and
// mxfp4; q8_1 for q4_1 and q5_1; q8_K for q2_K .. q6_K; f16 for f16; bf16 for bf16; f32 weights take
// them as they are. qlab runs a GGUF file's weights the same way (tensor::Matrix::round_input), so
// its perplexity and logits are llama.cpp's, not a slightly more exact product's: on the built-in
// model the activation rounding alone moves a Q4_K_M perplexity by about 0.15 %.
//   llama_cpp_input_rounding   the rounding for a weight type (nullptr for f32)
// Each rounding gives the values ggml's dot product sees: q8_0 / q8_1 blocks of 32 with
// d = fp16(amax / 127) and q = roundf(x / d) (quantize_row_q8_0_ref; q8_1's extra block sum, used only
// by the min term of q4_1 / q5_1, is taken as sum(q) * d, unrounded), q8_K blocks of 256 with
// q = min(127, nearest_int(-127 / max * x)) and d = 1 / that scale in float32 (quantize_row_q8_K_ref),
// f16 / bf16 round to nearest even.
#include <cstdint>

#include "engine/gguf/ggml_type.h"

namespace qlab::gguf {

using RoundInput = void (*)(float* x, std::int64_t rows, std::int64_t cols);
RoundInput llama_cpp_input_rounding(GgmlType weight_type);

}  // namespace qlab::gguf
