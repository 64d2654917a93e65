#pragma once
// MXFP4 as ggml stores it: 32 values share one E8M0 exponent e, each value is an E2M1 code.
//   quantize_mxfp4      ggml's quantize_row_mxfp4_ref (ggml ignores an importance matrix here)
//   dequantize_mxfp4    code value * 2^(e - 127), bit-identical to ggml's dequantize_row_mxfp4
//   mxfp4_exponent      the block's shared exponent e from its largest |x| (0 for an all-zero block)
//   e8m0_half           2^(e - 128): ggml keeps E2M1 values doubled (kMxfp4Doubled) and halves e
#include <cstdint>

#include "engine/gguf/blocks.h"

namespace qlab::gguf {

// E2M1 code -> 2 x its value (0, 0.5, 1, 1.5, 2, 3, 4, 6 and negatives), as ggml's kvalues_mxfp4.
inline constexpr std::int8_t kMxfp4Doubled[16] = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};

std::uint8_t mxfp4_exponent(float amax);
float e8m0_half(std::uint8_t e);
void quantize_mxfp4(const float* x, BlockMXFP4& out);
void dequantize_mxfp4(const BlockMXFP4& b, float* y);

}  // namespace qlab::gguf
