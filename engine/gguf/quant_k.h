#pragma once
// The k-quant super-block types Q2_K, Q3_K, Q4_K, Q5_K, Q6_K: 256 elements per block, split into
// 16 sub-blocks of 16 (Q2_K, Q3_K, Q6_K) or 8 of 32 (Q4_K, Q5_K), each with its own small scale
// (and min) code, and one or two fp16 super-scales for those codes.
//   quantize_*_ref       what llama-quantize writes without an importance matrix
//                        (ggml's quantize_row_*_ref)
//   quantize_*_weighted  what it writes with one (ggml's quantize_row_*_impl given quant_weights);
//                        qw = the block's 256 importance weights
//   dequantize_*         block -> 256 floats, bit-identical to ggml's dequantize_row_*
#include "engine/gguf/blocks.h"

namespace qlab::gguf {

void quantize_q2_k_ref(const float* x, BlockQ2_K& out);
void quantize_q3_k_ref(const float* x, BlockQ3_K& out);
void quantize_q4_k_ref(const float* x, BlockQ4_K& out);
void quantize_q5_k_ref(const float* x, BlockQ5_K& out);
void quantize_q6_k_ref(const float* x, BlockQ6_K& out);

void quantize_q2_k_weighted(const float* x, const float* qw, BlockQ2_K& out);
void quantize_q3_k_weighted(const float* x, const float* qw, BlockQ3_K& out);
void quantize_q4_k_weighted(const float* x, const float* qw, BlockQ4_K& out);
void quantize_q5_k_weighted(const float* x, const float* qw, BlockQ5_K& out);
void quantize_q6_k_weighted(const float* x, const float* qw, BlockQ6_K& out);

void dequantize_q2_k(const BlockQ2_K& b, float* y);
void dequantize_q3_k(const BlockQ3_K& b, float* y);
void dequantize_q4_k(const BlockQ4_K& b, float* y);
void dequantize_q5_k(const BlockQ5_K& b, float* y);
void dequantize_q6_k(const BlockQ6_K& b, float* y);

// The 6-bit (scale code, min code) of sub-block s (0..7) of a Q4_K / Q5_K block.
void unpack_scale_min_k4(const std::uint8_t* scales, int s, std::uint8_t* sc, std::uint8_t* m);
// The 6-bit scale code (0..63, stored +32) of sub-block s (0..15) of a Q3_K block.
int unpack_scale_q3_k(const std::uint8_t* scales, int s);

}  // namespace qlab::gguf
