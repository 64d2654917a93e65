#pragma once
// Block (grouped) quantization formats: a plain struct of packed bytes plus scales, with
// quantize / dequantize, and bits per weight computed from the bytes actually held.
//   BlockFormatSpec     name, element type, block size, what a CLI user types ("nvfp4", "int4-g128")
//   QuantizedTensor     the storage a checkpoint would hold: packed codes, scales, zero points, scalars
//   quantize / dequantize   reference (scalar) and fast paths side by side in the .cpp files
// Blocks run along a row (the last axis, the input dimension of a Linear weight [out, in]).
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace qlab::formats {

struct BlockFormatSpec {
  std::string name;         // CLI name: nvfp4 mxfp4 nf4 nf4-dq int4-g32 int4-g64 int4-g128 int8-ch ...
  std::string description;  // one line for `qlab formats list`
  int block_size;           // elements sharing a scale along a row; 0 = whole row; -1 = whole tensor
  bool needs_divisible_cols;  // cols must be a multiple of block_size (else: pad)
};

// A quantized 2-D tensor [rows, cols] as real bytes.
struct QuantizedTensor {
  std::string format;            // spec name
  std::int64_t rows = 0, cols = 0;
  std::vector<std::uint8_t> data;        // packed element codes
  std::vector<std::uint8_t> scales;      // per-block scales as stored (e4m3 / e8m0 / f16 / f32 bytes)
  std::vector<std::uint8_t> zeros;       // zero points (asymmetric int), packed; empty otherwise
  std::vector<float> tensor_scales;      // per-tensor scalars (NVFP4 weight_scale_2, NF4-DQ offset, ...)
  std::vector<std::uint8_t> aux;         // second-level data (NF4-DQ quantized absmax, ...)

  std::uint64_t storage_bytes() const;  // every byte above (tensor scalars included)
  double bits_per_weight() const;       // 8 * storage_bytes() / (rows * cols)
};

const std::vector<BlockFormatSpec>& all_block_formats();
std::optional<BlockFormatSpec> block_format_from_name(std::string_view name);

// Quantize a row-major float32 tensor. Throws qlab::Error if cols does not fit the block size
// (the message says which and suggests padding).
QuantizedTensor quantize(const BlockFormatSpec& spec, std::span<const float> x, std::int64_t rows,
                         std::int64_t cols);
void dequantize(const QuantizedTensor& q, std::span<float> out);

// Round-trip in place ("fake quantization"): what the runtime applies to every linear weight.
void fake_quantize(const BlockFormatSpec& spec, std::span<float> x, std::int64_t rows, std::int64_t cols);

}  // namespace qlab::formats
