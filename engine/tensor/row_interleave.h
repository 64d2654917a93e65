#pragma once
// Packed weights laid out for decoding: a copy of a matrix's rows interleaved eight at a time, so one
// vector load brings a block of eight rows and one conversion their eight scales (llama.cpp's CPU
// "repack" of Q4_0 and Q4_K into block_q4_0x8 / block_q4_Kx8 does the same for its gemv; the layouts
// here are qlab's own, made for AVX-512 VNNI's 512-bit dot product). The same bytes serve NEON: each
// 16 of them hold 4 codes of each of 4 rows, which SDOT by element sums against one 4-byte lane of the
// activations (row_dot_q8_x8_neon.h), so one copy per format serves both. qlab's formats' copies are
// read by float kernels too (ProductMath::Fast, row_dot_x8_avx512.cpp): two groups' same 32-byte
// halves loaded as one vector hold sixteen rows at the same values, one row per 32-bit lane, so one
// broadcast activation serves them all; the copy is the same for both maths.
//   kInterleaveRows      rows per group (8)
//   interleave_q4_0      ggml q4_0 rows [rows x blocks of 18 bytes] -> the x8 layout below, same size
//   interleave_q8_0      ggml q8_0 rows [rows x blocks of 34 bytes] -> the x8 layout below, same size
//   interleave_q4_k      ggml Q4_K rows [rows x super-blocks of 144 bytes] -> the x8 layout below,
//                        1184 bytes per eight rows' super-block (the 6-bit scales unpacked to bytes)
//   interleave_q6_k      ggml Q6_K rows [rows x super-blocks of 210 bytes] -> the x8 layout below, same size
//   interleave_nvfp4, interleave_mxfp4, interleave_int_groups   qlab's formats (parts: codes, scales,
//                        zeros) -> one buffer in the x8 layouts below, read under ProductMath::Fast
//                        (float activations) and Native (int8 ones)
//   interleaved_bytes    the copy's size for a matrix, or 0 where its format has no x8 layout
//   InterleavedRows      a matrix's copy, made once, at the first product that reads it
//   interleave_for_decode  makes that copy now where a product would read it (tests, benchmarks)
//   interleaved_kernel   the RowDotSet member that reads a format's x8 layout on float or int8
//                        activations, or nullptr
//
// When the copy is made. Matrix::borrowed_packed gives every packed matrix whose format has an x8
// layout (and whose rows are whole groups) an empty InterleavedRows; bind_row_dot (row_dot_table.h)
// fills it the first time it binds an x8 kernel: a one-row product (decoding) of a ggml type under
// llama.cpp's rounding, or of qlab's format under ProductMath::Fast (AVX-512) or Native (AVX-512 VNNI),
// on a CPU with the kernel; ProductMath::Exact never reads it. Loading makes no copy, so a model that
// only reads prompts, or runs on a GPU, never holds one; the mapped original stays beside it (prompts
// widen it).
//
// The x8 layout of q4_0 (ggml: d fp16, then qs[16], value j in the low nibble of qs[j], value j + 16
// in the high one). Group g holds rows 8g .. 8g + 7, at the byte offset of row 8g in the plain layout
// (so a group is eight rows' bytes, and the copy is as large as the original). Within the group,
// block b is 144 bytes:
//   bytes   0 ..  15   the eight rows' d, row order
//   bytes  16 ..  79   qs[0..3] of rows 0..7, then qs[4..7] of rows 0..7        (4 bytes each)
//   bytes  80 .. 143   qs[8..11] of rows 0..7, then qs[12..15] of rows 0..7
// so 32-bit lane k of each 64-byte half holds 4 codes of row k % 8: a dot product lane by lane against
// activations repeated to match sums one row per lane (row_dot_q8_x8_avx512.cpp).
//
// The x8 layout of q8_0 (ggml: d fp16, then 32 int8 values): as q4_0's, group g at the byte offset of
// row 8g; block b is 272 bytes: the eight rows' d, then four 64-byte vectors, vector t's lane k holding
// values 8t + 4 (k / 8) .. + 3 of row k % 8.
//
// The x8 layout of Q4_K (ggml: d, dmin fp16; 12 bytes of eight 6-bit scales sc_j and mins m_j; qs[128],
// bytes 32i .. 32i + 31 holding sub-block 2i in low nibbles and 2i + 1 in high ones; value =
// d sc_j q - dmin m_j). Group g holds rows 8g .. 8g + 7 from byte g / 8 * 1184 * super-blocks; within
// it, super-block b is 1184 bytes:
//   bytes    0 ..   15   the eight rows' d;  16 .. 31 their dmin
//   bytes   32 ..   95   sc_j of rows 0..7 for j = 0..7 (byte 32 + 8j + r)
//   bytes   96 ..  159   m_j likewise
//   bytes  160 .. 1183   for each i = 0..3, 256 bytes: for t = 0..3, 64 bytes whose lane k holds bytes
//                        32i + 8t + 4 (k / 8) .. + 3 of row k % 8's qs (q8_0's arrangement of 32 bytes)
//
// The x8 layout of Q6_K (ggml: ql[128] low nibbles, qh[64] high bit pairs, 16 int8 scales (one per
// 16 values), d; value = d sc (q - 32); half h of 128 values takes ql[64h ..], qh[32h ..], its four
// 32-value runs from ql[64h + l] low, ql[64h + 32 + l] low, ql[64h + l] high, ql[64h + 32 + l] high
// nibbles, with bits 0-1, 2-3, 4-5, 6-7 of qh[32h + l]). As q4_0's, group g at the byte offset of row
// 8g; super-block b is 1680 bytes:
//   bytes   0 ..  15   the eight rows' d
//   bytes  16 .. 143   scale s of rows 0..7 for s = 0..15 (byte 16 + 8s + r)
//   bytes 144 .. 911   half 0: ql[0..31], ql[32..63], qh[0..31] of the eight rows, each in q8_0's
//                      arrangement of 32 bytes (256 bytes each); bytes 912 .. 1679 half 1 likewise
//
// qlab's 4-bit formats (block.h: value 2k in the low nibble of row byte k, 2k + 1 in the high one) are
// copied with each 32-value block's 16 bytes in ggml's order instead (value j low, j + 16 high, in
// byte j) and arranged as q4_0's x8 codes (bytes 16 .. 143 above): a block of eight rows is 128 code
// bytes. The copy is one buffer, the scales beside the codes; eight rows (rows 8g .. 8g + 7) take the
// bytes from g times their size, block after block, 32 values each:
//   nvfp4   144 bytes per block (as the original: 8 x (16 + 2)): bytes 0 .. 7 the E4M3 scales of
//           values 0-15 of rows 0..7, bytes 8 .. 15 those of values 16-31, then the codes; the tensor
//           scale stays where it is
//   mxfp4   136 bytes per block (as the original): the eight rows' E8M0 scales, then the codes
// Int groups (intB-gG and intB-gG-sym, B = 4 or 8; G values per scale, the whole row for -ch): per
// group of G values, a 24-byte header, then the group's G / 32 blocks:
//   bytes 0 .. 15   the eight rows' fp16 scales; 16 .. 23 their zero points, a byte each (the
//                   symmetric formats: 2^(B-1), the offset of their codes)
//   int4    128 code bytes per block, as the 4-bit formats above
//   int8    256 code bytes per block, q8_0's arrangement (bytes 16 .. 271 above)
// so eight rows take cols / G x (24 + 4G) bytes (int4), cols / G x (24 + 8G) (int8): the unpacked
// zeros add 4 bytes per group of eight rows over the original (8 for a symmetric format).
#include <atomic>
#include <cstdint>
#include <mutex>
#include <vector>

#include "engine/formats/block.h"
#include "engine/tensor/matrix.h"
#include "engine/tensor/row_dot.h"

namespace qlab::tensor {

inline constexpr std::int64_t kInterleaveRows = 8;

// src: rows x blocks q4_0 blocks, row-major; dst: the same byte count; rows a multiple of 8.
void interleave_q4_0(const std::uint8_t* src, std::int64_t rows, std::int64_t blocks, std::uint8_t* dst);

// src: rows x blocks q8_0 blocks; dst: the same byte count; rows a multiple of 8.
void interleave_q8_0(const std::uint8_t* src, std::int64_t rows, std::int64_t blocks, std::uint8_t* dst);

// src: rows x blocks Q4_K super-blocks; dst: rows / 8 * blocks * 1184 bytes; rows a multiple of 8.
void interleave_q4_k(const std::uint8_t* src, std::int64_t rows, std::int64_t blocks, std::uint8_t* dst);

// src: rows x blocks Q6_K super-blocks; dst: the same byte count; rows a multiple of 8.
void interleave_q6_k(const std::uint8_t* src, std::int64_t rows, std::int64_t blocks, std::uint8_t* dst);

// Rows [r0, r0 + rows) of q (r0 and rows multiples of 8, q.cols a multiple of 32) -> dst, the bytes of
// those rows' groups in the layouts above. q: an nvfp4 / mxfp4 / intB-gG tensor of the table's codec.
void interleave_nvfp4(const formats::QuantizedView& q, std::int64_t r0, std::int64_t rows, std::uint8_t* dst);
void interleave_mxfp4(const formats::QuantizedView& q, std::int64_t r0, std::int64_t rows, std::uint8_t* dst);
void interleave_int_groups(const formats::QuantizedView& q, std::int64_t r0, std::int64_t rows, std::uint8_t* dst);

// Bytes of w's copy; 0 where w is not packed in a format with an x8 layout, or its rows are not whole
// groups of 8 (or not whole blocks).
std::int64_t interleaved_bytes(const Matrix& w);

// A matrix's copy: empty until rows() is first called, then made once (by the pool's threads); the
// calls that race with the first wait for it. Copies of a Matrix share it (their packed bytes are the
// same); a matrix whose packed bytes are not the ones it was made from does not get it.
class InterleavedRows {
 public:
  // The copy of w's rows, made on the first call; nullptr where interleaved_bytes(w) is 0 or w's
  // packed bytes are not those of the first call.
  const std::uint8_t* rows(const Matrix& w);
  // Whether the copy has been made, and its size (0 before).
  bool made() const;
  std::size_t size() const;

 private:
  std::once_flag once_;
  std::vector<std::uint8_t> bytes_;
  const std::uint8_t* source_ = nullptr;  // w.packed.data of the first call
  std::atomic<bool> made_{false};
};

// Makes w's copy now where bind_row_dot on this CPU's set would read it (see above); returns whether
// it did. For tests and benchmarks: products make it themselves at their first use.
bool interleave_for_decode(Matrix& w);

// The RowDotSet member that reads spec's x8 layout on the given activations (bind_row_dot's choice for
// a matrix with a copy), or nullptr.
kernels::RowDot kernels::RowDotSet::*interleaved_kernel(const formats::BlockFormatSpec& spec,
                                                         kernels::ActivationBlocks activations);

}  // namespace qlab::tensor
