#pragma once
// Runs of 32-element blocks (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, MXFP4) and of fp16 values: the fast path
// beside quant_legacy's and quant_mxfp4's one-block codecs and half.h's one-value conversion, writing
// the same bytes (quant_rows32_test.cpp compares them block by block, and the llama-quantize file
// tests check the whole).
//   quantize_*_ref_blocks      nblocks consecutive blocks from x to dst (packed, any alignment): what
//                              quantize_*_ref writes for each. Eight-float vectors over a block's
//                              32 values; a block whose scale is not finite, or whose extreme value
//                              is a zero (whose sign the stored bytes keep), goes through the one-block
//                              reference instead.
//   quantize_*_weighted_row    one row of cols values with its importance weights qw[cols]: what
//                              quantize_*_weighted writes for each block, the blocks searched eight
//                              at a time (search_*_x8, lane for lane the one-group search).
//   quantize_mxfp4_blocks      what quantize_mxfp4 writes per block: the nearest-code search eight
//                              values at a time
//   fp32_to_fp16_row           n values to fp16 bits, half.h's fp32_to_fp16 eight lanes at a time
// Input must be finite (quantize_rows checks it first).
#include <cstddef>
#include <cstdint>

namespace qlab::gguf {

void quantize_q4_0_ref_blocks(const float* x, std::int64_t nblocks, std::byte* dst);
void quantize_q4_1_ref_blocks(const float* x, std::int64_t nblocks, std::byte* dst);
void quantize_q5_0_ref_blocks(const float* x, std::int64_t nblocks, std::byte* dst);
void quantize_q5_1_ref_blocks(const float* x, std::int64_t nblocks, std::byte* dst);
void quantize_q8_0_ref_blocks(const float* x, std::int64_t nblocks, std::byte* dst);

void quantize_mxfp4_blocks(const float* x, std::int64_t nblocks, std::byte* dst);
void fp32_to_fp16_row(const float* x, std::int64_t n, std::byte* dst);

void quantize_q4_0_weighted_row(const float* x, const float* qw, std::int64_t cols, std::byte* dst);
void quantize_q4_1_weighted_row(const float* x, const float* qw, std::int64_t cols, std::byte* dst);
void quantize_q5_0_weighted_row(const float* x, const float* qw, std::int64_t cols, std::byte* dst);
void quantize_q5_1_weighted_row(const float* x, const float* qw, std::int64_t cols, std::byte* dst);

}  // namespace qlab::gguf
