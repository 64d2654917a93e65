#pragma once
// Decoding's hot loop: one activation row against rows of a weight matrix, the weights read as they
// are stored (ggml's vec_dot per type, with float32 activations):
//   RowDotArgs   a weight matrix's parts as raw pointers, plus the activation row
//   RowDot       y[i] = W[r0 + i, :] . x for i in [0, n)
//   RowDotSet    one kernel per storage type, for one instruction set (AVX-512, AVX2, NEON)
// Each kernel decodes a few blocks of codes into float32 lanes in registers (a 16-entry byte table
// for 4-bit codes, widening for 8-bit ones, F16C / NEON for half precision), multiplies by the
// activations and sums block by block: one pass over the stored bytes, nothing written back.
// The products are float32, exactly those of the dequantized weights; only the order of the sums
// differs from a dequantize-then-BLAS product (and scales multiply a block's sum instead of each
// weight), so results agree with it to float rounding (tests/unit/tensor bound the difference).
//
// The instruction-set files (row_dot_avx512.cpp, row_dot_avx2.cpp, row_dot_neon.cpp) are compiled
// with their own target flags; they see only this header, so no inline function of the rest of the
// program is ever compiled for an instruction set the CPU may lack.
#include <cstdint>

namespace qlab::tensor::kernels {

// Every kernel handles rows of `cols` values, cols a multiple of 32 (kRowDotChunk).
inline constexpr std::int64_t kRowDotChunk = 32;

struct RowDotArgs {
  const std::uint8_t* data = nullptr;    // row r's codes (or half / float values) at data + r * row_bytes
  std::int64_t row_bytes = 0;
  const std::uint8_t* scales = nullptr;  // row r's block scales, as stored, at scales + r * scale_row_bytes
  std::int64_t scale_row_bytes = 0;
  const std::uint8_t* zeros = nullptr;   // asymmetric int groups: row r's packed zero points
  std::int64_t zero_row_bytes = 0;
  std::int64_t cols = 0;                 // values per row (the activation row's length)
  int group = 0;                         // int groups: values per scale (a multiple of 32)
  float tensor_scale = 1;                // multiplies every row's sum (nvfp4's s2, fp8-tensor's scale)
  // 256 floats: a one-byte scale code's value (nvfp4: E4M3 / 2, mxfp4: E8M0 / 2: the 4-bit
  // table holds 2 x E2M1, small integers); row scales (fp8/int8 per channel) are float32 as stored.
  const float* scale_table = nullptr;
  const float* x = nullptr;              // the activation row, [cols]
};

using RowDot = void (*)(const RowDotArgs& a, std::int64_t r0, std::int64_t n, float* y);

// One instruction set's kernels; nullptr where it has none. The storage each one reads:
struct RowDotSet {
  RowDot f32;        // float32 values
  RowDot bf16;       // bfloat16 values (widened exactly: the top half of a float32)
  RowDot f16;        // IEEE half values (widened exactly)
  RowDot nvfp4;      // E2M1 nibbles (even element low), E4M3 scale per 16, tensor scale
  RowDot mxfp4;      // E2M1 nibbles, E8M0 scale per 32
  RowDot int4;       // 4-bit codes LSB-first, f16 scale per group; zeros packed 4-bit (nullptr: 8)
  RowDot int8;       // 8-bit codes, f16 scale per group; zeros one byte each (nullptr: 128)
  RowDot int8_row;   // int8 two's complement, float32 scale per row
  RowDot fp8_e4m3;   // E4M3 bytes; float32 scale per row (scale_row_bytes 4) or the tensor scale
  RowDot fp8_e5m2;   // E5M2 bytes, likewise
};

namespace avx512 {
extern const RowDotSet kRowDots;
}
namespace avx2 {
extern const RowDotSet kRowDots;
}
namespace neon {
extern const RowDotSet kRowDots;
}

}  // namespace qlab::tensor::kernels
