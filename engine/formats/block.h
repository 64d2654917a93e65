#pragma once
// Block (grouped) quantization formats: a plain struct of packed bytes plus scales, with
// quantize / dequantize, and bits per weight computed from the bytes actually held.
//   BlockFormatSpec     name, element type, block size, what a CLI user types ("nvfp4", "int4-g128")
//   QuantizedTensor     the storage a checkpoint would hold: packed codes, scales, zero points, scalars
//   storage_sizes       the byte counts of each part, without quantizing (memory calculator)
//   quantize / dequantize   fast paths; KernelPath::Reference runs the plain per-element code
//   padded_cols / pad_columns   zero-padding a tensor whose rows do not fill whole blocks
// Blocks run along a row (the last axis, the input dimension of a Linear weight [out, in]).
//
// Storage layouts (what tests/fixtures/formats/blocks holds; all multi-byte values little-endian):
//   nvfp4    data: E2M1 codes, byte k of a row = code[2k] | code[2k+1] << 4; scales: E4M3 [rows, cols/16];
//            tensor_scales: {weight_scale_2 = amax / 2688}  (NVIDIA Model Optimizer)
//   mxfp4    data as nvfp4; scales: E8M0 [rows, cols/32], X = floor(log2 amax) - 2  (OCP MX v1.0)
//   nf4      bitsandbytes blockwise 64 over the flattened tensor, first element in the HIGH nibble;
//            scales: float32 absmax per block (a short last block is allowed)
//   nf4-dq   as nf4, scales: uint8 codes of (absmax - offset) in the signed dynamic map, blocks of 256;
//            aux: float32 absmax2 per 256 first-level blocks; tensor_scales: {offset}
//   intB-gG  (B in 2,3,4,8; G in 32,64,128, or "ch" = whole row) GPTQ asymmetric rule; data: codes
//            bit-packed LSB-first within each row; scales: float16 [rows, groups]; zeros: packed like data
//   intB-gG-sym  scale = amax / (2^(B-1) - 1), codes q + 2^(B-1) packed like data; no zeros
//   int8-ch  int8 two's complement codes; scales: float32 amax/127 per row
//   fp8-tensor / fp8-channel (E4M3), fp8-e5m2-tensor / fp8-e5m2-channel (E5M2): codes one byte each;
//            per-tensor: tensor_scales {amax/max}; per-channel: scales float32 per row
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace qlab::formats {

enum class BlockKind { NVFP4, MXFP4, NF4, NF4DQ, IntGroup, Int8Channel, FP8Tensor, FP8Channel };

struct BlockFormatSpec {
  std::string name;         // CLI name: nvfp4 mxfp4 nf4 nf4-dq int4-g32 int4-g64 int4-g128 int8-ch ...
  std::string description;  // one line for `qlab formats list`
  int block_size;           // elements sharing a scale along a row; 0 = whole row; -1 = whole tensor
  bool needs_divisible_cols;  // cols must be a multiple of block_size (else: pad)
  BlockKind kind = BlockKind::NVFP4;
  int bits = 4;             // bits per element code
  bool symmetric = false;   // IntGroup: symmetric absmax (no zero point)
  bool e5m2 = false;        // FP8 kinds: element type E5M2 instead of E4M3
};

// A quantized 2-D tensor [rows, cols] as real bytes.
struct QuantizedTensor {
  std::string format;            // spec name
  std::int64_t rows = 0, cols = 0;
  std::vector<std::uint8_t> data;        // packed element codes
  std::vector<std::uint8_t> scales;      // per-block scales as stored (e4m3 / e8m0 / f16 / f32 bytes)
  std::vector<std::uint8_t> zeros;       // zero points (asymmetric int), packed; empty otherwise
  std::vector<float> tensor_scales;      // per-tensor scalars (NVFP4 weight_scale_2, NF4-DQ offset, ...)
  std::vector<std::uint8_t> aux;         // second-level data (NF4-DQ absmax2, ...)

  std::uint64_t storage_bytes() const;  // every byte above (tensor scalars included)
  double bits_per_weight() const;       // 8 * storage_bytes() / (rows * cols)
};

// Byte counts of each part of a QuantizedTensor of this shape (what quantize() allocates).
struct StorageSizes {
  std::uint64_t data = 0, scales = 0, zeros = 0, aux = 0, tensor_scales = 0;
  std::uint64_t total() const { return data + scales + zeros + aux + tensor_scales; }
};

const std::vector<BlockFormatSpec>& all_block_formats();
std::optional<BlockFormatSpec> block_format_from_name(std::string_view name);

// Throws qlab::Error if the shape does not fit the format (names the format and the block size,
// and suggests padding). Returns normally otherwise.
void check_shape(const BlockFormatSpec& spec, std::int64_t rows, std::int64_t cols);
StorageSizes storage_sizes(const BlockFormatSpec& spec, std::int64_t rows, std::int64_t cols);
// Bits per weight of a tensor of this shape, from storage_sizes (tensor scalars included).
double bits_per_weight(const BlockFormatSpec& spec, std::int64_t rows, std::int64_t cols);

// Smallest column count >= cols that the format accepts; pad_columns copies x into a zero-filled
// [rows, new_cols] tensor.
std::int64_t padded_cols(const BlockFormatSpec& spec, std::int64_t cols);
std::vector<float> pad_columns(std::span<const float> x, std::int64_t rows, std::int64_t cols,
                               std::int64_t new_cols);

// Fast = vectorizable loops, rows spread over the thread pool; Reference = plain per-element code
// built on the scalar codecs. Both give the same bytes (tested bit for bit).
enum class KernelPath { Fast, Reference };

// Quantize a row-major float32 tensor. Throws qlab::Error if cols does not fit the block size
// (the message says which and suggests padding), if x.size() != rows * cols, or if x holds a
// NaN or an infinity.
QuantizedTensor quantize(const BlockFormatSpec& spec, std::span<const float> x, std::int64_t rows,
                         std::int64_t cols, KernelPath path = KernelPath::Fast);
// out.size() must be rows * cols. Throws qlab::Error if q's parts do not have the sizes its
// format and shape need.
void dequantize(const QuantizedTensor& q, std::span<float> out, KernelPath path = KernelPath::Fast);

// Round-trip in place ("fake quantization"): what the runtime applies to every linear weight.
void fake_quantize(const BlockFormatSpec& spec, std::span<float> x, std::int64_t rows, std::int64_t cols);

}  // namespace qlab::formats
