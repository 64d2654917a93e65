#pragma once
// The legacy 32-element block types: Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, one block at a time.
//   quantize_*_ref       what llama-quantize writes without an importance matrix
//                        (ggml's quantize_row_*_ref): one scale from the block's extreme value(s)
//   quantize_*_weighted  what it writes with one (ggml's quantize_row_*_impl): a weighted scale
//                        search; qw = the block's 32 importance weights, row_sigma2 = mean of x^2
//                        over the whole row (row_sigma2() computes it)
//   dequantize_*         block -> 32 floats, bit-identical to ggml's dequantize_row_*
//   pack_nibbles / pack_5bit   32 codes (0..15 / 0..31) into qs (element j low, j + 16 high) and qh
//                        (5th bit of element j at bit j of a little-endian u32)
//   importance_weights   the imatrix searches' weights of n values: qw * sqrt(row_sigma2 + x^2)
// Q8_0 has no weighted variant: ggml ignores the importance matrix for it.
#include <cstdint>

#include "engine/gguf/blocks.h"

namespace qlab::gguf {

// Mean of x^2 over a row of n values (float32, in order), as the weighted legacy paths use it.
float row_sigma2(const float* x, std::int64_t n);
void importance_weights(const float* x, const float* qw, float row_sigma2, int n, float* w);

void pack_nibbles(const std::uint8_t* L, std::uint8_t* qs);
void pack_5bit(const std::uint8_t* L, std::uint8_t* qs, std::uint8_t* qh);

void quantize_q4_0_ref(const float* x, BlockQ4_0& out);
void quantize_q4_1_ref(const float* x, BlockQ4_1& out);
void quantize_q5_0_ref(const float* x, BlockQ5_0& out);
void quantize_q5_1_ref(const float* x, BlockQ5_1& out);
void quantize_q8_0_ref(const float* x, BlockQ8_0& out);

void quantize_q4_0_weighted(const float* x, const float* qw, float row_sigma2, BlockQ4_0& out);
void quantize_q4_1_weighted(const float* x, const float* qw, float row_sigma2, BlockQ4_1& out);
void quantize_q5_0_weighted(const float* x, const float* qw, float row_sigma2, BlockQ5_0& out);
void quantize_q5_1_weighted(const float* x, const float* qw, float row_sigma2, BlockQ5_1& out);

void dequantize_q4_0(const BlockQ4_0& b, float* y);
void dequantize_q4_1(const BlockQ4_1& b, float* y);
void dequantize_q5_0(const BlockQ5_0& b, float* y);
void dequantize_q5_1(const BlockQ5_1& b, float* y);
void dequantize_q8_0(const BlockQ8_0& b, float* y);

}  // namespace qlab::gguf
