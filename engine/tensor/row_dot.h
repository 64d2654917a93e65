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
// weight), so results agree with it to float rounding (tests/unit/tensor bound the difference). The
// *_float_x8 kernels (AVX-512) read a copy of the rows interleaved by 8 (row_interleave.h) and sum
// sixteen rows per instruction, one row per lane, each activation broadcast once for all sixteen: the
// same products, summed in another order.
//
// Kernels over int8 activations (the integer kernels, row_dot_q8_impl.h) take the activation row
// quantized once per product (row_dot_activations.h): int8 codes in blocks with a float scale each,
// and the sum of every 16 codes. Each block's products are summed as int32, exactly, and a block's
// float scale multiplies that sum, as ggml's vec_dot does: ggml's types (whose activations llama.cpp
// rounds to those very blocks before the product, so the result is the float product's to float
// rounding) and, under ProductMath::Native, qlab's integer and FP4 formats. The *_x8 kernels read a
// copy of the rows interleaved by 8 (row_interleave.h) and sum 8 (AVX-512) or 4 (NEON) rows per
// instruction; a row's block sums are the same integers, only the float accumulation runs in another order.
//
// The instruction-set files (row_dot_avx512.cpp, row_dot_avx2.cpp, row_dot_neon.cpp and the integer
// kernels' row_dot_q8_*.cpp) are compiled with their own target flags; they see only this header, so
// no inline function of the rest of the program is ever compiled for an instruction set the CPU may
// lack.
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
  // The integer kernels' activation row (their RowDotKernel names the blocks, ActivationBlocks):
  const std::int8_t* xq = nullptr;       // [cols] int8 codes
  const float* xd = nullptr;             // [cols / block] each block's scale: x = xd * xq
  const std::int16_t* xs = nullptr;      // [cols / 16] sums of each 16 consecutive codes
  // 65536 floats, an IEEE half's value by its bits: the integer kernels' block scales on x86.
  const float* half_table = nullptr;
};

// The blocks an integer kernel takes its activations in (ggml's names; row_dot_activations.h):
//   Q8_0  32 codes, scale fp16(amax / 127) (q8_1 is the same with its block sums, here in xs)
//   Q8_K  256 codes, scale 1 / (-127 / x_max) in float32 (ggml's k-quants' activations)
enum class ActivationBlocks { Float, Q8_0, Q8_K };

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
  // Integer kernels, int8 activations (Q8_0 blocks unless noted). ggml's blocks as GGUF stores them
  // (engine/gguf/blocks.h), each with the activations llama.cpp gives it:
  RowDot ggml_q4_0, ggml_q4_1, ggml_q5_0, ggml_q5_1, ggml_q8_0, ggml_mxfp4;  // q4_1 / q5_1: Q8_0 + sums
  RowDot ggml_q2_k, ggml_q3_k, ggml_q4_k, ggml_q5_k, ggml_q6_k;              // Q8_K
  // ProductMath::Native on qlab's formats (storage as the float kernels above read it):
  RowDot nvfp4_q8, mxfp4_q8, int4_q8, int8_q8, int8_row_q8;
  // ggml's q4_0, q8_0 (Q8_0 activations), Q4_K and Q6_K (Q8_K) with rows interleaved by 8
  // (row_interleave.h: args.data the copy; args.row_bytes a plain row's bytes); r0 and n multiples of
  // 8. AVX-512 VNNI and NEON with SDOT (the same copy); AVX2 has none.
  RowDot ggml_q4_0_x8, ggml_q8_0_x8, ggml_q4_k_x8, ggml_q6_k_x8;
  // ProductMath::Native on qlab's nvfp4, mxfp4, int4 and int8 groups with rows interleaved by 8
  // (row_interleave.h; args bound as for the row-at-a-time kernels, args.data the copy); r0 and n
  // multiples of 8. AVX-512 VNNI and NEON with SDOT; AVX2 has none.
  RowDot nvfp4_x8, mxfp4_x8, int4_x8, int8_x8;
  // Float activations (ProductMath::Fast, the float kernels above) on the same interleaved copy, args
  // likewise; r0 and n multiples of 8. AVX-512 (F, BW, VL) only.
  RowDot nvfp4_float_x8, mxfp4_float_x8, int4_float_x8, int8_float_x8;
};

// kRowDots: the float kernels (the integer ones nullptr); kIntRowDots: only the integer kernels,
// built with the integer dot product each set needs (AVX-512 VNNI; AVX2's VPMADDUBSW; NEON's SDOT,
// Armv8.2 dotprod), so a CPU with the float set but not that instruction still runs the float one.
namespace avx512 {
extern const RowDotSet kRowDots;
extern const RowDotSet kIntRowDots;
#include "engine/tensor/row_dot_q8_x8.h"
// row_dot_x8_avx512.cpp
void nvfp4_float_x8(const RowDotArgs& a, std::int64_t r0, std::int64_t n, float* y);
void mxfp4_float_x8(const RowDotArgs& a, std::int64_t r0, std::int64_t n, float* y);
void int4_float_x8(const RowDotArgs& a, std::int64_t r0, std::int64_t n, float* y);
void int8_float_x8(const RowDotArgs& a, std::int64_t r0, std::int64_t n, float* y);
}
namespace avx2 {
extern const RowDotSet kRowDots;
extern const RowDotSet kIntRowDots;
}
namespace neon {
extern const RowDotSet kRowDots;
extern const RowDotSet kIntRowDots;
#include "engine/tensor/row_dot_q8_x8.h"
}

}  // namespace qlab::tensor::kernels
