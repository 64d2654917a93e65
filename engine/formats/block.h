#pragma once
// Block (grouped) quantization formats, as data: one row per format in a single traits table that
// every consumer reads (CLI listing, memory calculator, fake quantization, packed weights, tests).
//   BlockFormatSpec     a traits row: names, block size, element bits, and the format's BlockCodec
//   BlockCodec          the format's storage sizes, quantize, and dequantize of a slab of rows;
//                       the codec alone knows its byte layout
//   QuantizedTensor     the storage a checkpoint would hold: up to five byte parts (below)
//   QuantizedView       the same parts borrowed (from a QuantizedTensor or a file mapping)
//   storage_sizes       the byte counts of each part, without quantizing (memory calculator)
//   quantize / dequantize / dequantize_rows   fast paths; KernelPath::Reference runs the plain code
//   padded_cols / pad_columns   zero-padding a tensor whose rows do not fill whole blocks
// Blocks run along a row (the last axis, the input dimension of a Linear weight [out, in]).
// The per-block parameter rules and element encoders are public in block_params.h (GPTQ and AWQ
// quantize a group with them); format names are looked up in format_lookup.h.
//
// A format owns its byte layout. Struct-of-arrays layouts (codes, scales and zero points in parts of
// their own, as ModelOpt and GPTQ checkpoints store them) use several parts; an interleaved layout
// (GGUF's block_q4_K: one buffer of 144-byte super-blocks, a static_asserted struct) puts everything
// in `data` and leaves the other parts empty. Either way storage_sizes() says what each part holds.
//
// Storage layouts of the formats in the table (tests/fixtures/formats/blocks; little-endian):
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

// The family a format belongs to: a label for listings and tests (int groups share one codec,
// parameterised by bits, block size and symmetry). Nothing dispatches on it; the codec does the work.
// Ggml: GGUF's ggml types, specs outside the table (engine/gguf/ggml_codec.h).
enum class BlockKind { NVFP4, MXFP4, NF4, NF4DQ, IntGroup, Int8Channel, FP8Tensor, FP8Channel, Ggml };

struct BlockCodec;
struct QuantizedTensor;
struct QuantizedView;

// Byte counts of each part of a QuantizedTensor of a given shape (what quantize() allocates).
struct StorageSizes {
  std::uint64_t data = 0, scales = 0, zeros = 0, aux = 0, tensor_scales = 0;
  std::uint64_t total() const { return data + scales + zeros + aux + tensor_scales; }
};

// Fast = vectorizable loops, rows spread over the thread pool; Reference = plain per-element code
// built on the scalar codecs and block_params.h. Both give the same bytes (tested bit for bit).
enum class KernelPath { Fast, Reference };

// One row of the traits table.
struct BlockFormatSpec {
  std::string name;         // CLI name: nvfp4 mxfp4 nf4 nf4-dq int4-g32 int4-g64 int4-g128 int8-ch ...
  std::string description;  // one line for `qlab formats list`
  int block_size;           // elements sharing a scale along a row; 0 = whole row; -1 = whole tensor
  bool needs_divisible_cols;  // cols must be a multiple of block_size (else: pad)
  BlockKind kind = BlockKind::NVFP4;
  int bits = 4;             // bits per element code
  bool symmetric = false;   // IntGroup: symmetric absmax (no zero point)
  bool e5m2 = false;        // FP8 kinds: element type E5M2 instead of E4M3
  const BlockCodec* codec = nullptr;  // the format's operations; set for every row of the table
};

// What a format does with its bytes. Each function gets a shape that check_shape() accepted; a
// format defined outside the table (a GGUF type, a checkpoint's own packing) is a spec with its
// own codec, and quantize / dequantize / tensor::Matrix take it like any other.
struct BlockCodec {
  // Byte counts of each part for a [rows, cols] tensor.
  StorageSizes (*sizes)(const BlockFormatSpec& spec, std::int64_t rows, std::int64_t cols);
  // Fills q's parts (q.format, rows and cols set; x.size() == rows * cols). Throws qlab::Error on a
  // non-finite input, naming row and column.
  void (*quantize)(const BlockFormatSpec& spec, std::span<const float> x, QuantizedTensor& q, KernelPath path);
  // Rows [r0, r0 + n) into out[n * cols]: the values a whole-tensor dequantize gives those rows, bit
  // for bit. Runs on the calling thread (callers spread slabs over threads). Parts already checked.
  void (*dequantize_rows)(const BlockFormatSpec& spec, const QuantizedView& q, std::int64_t r0, std::int64_t n,
                          float* out, KernelPath path);
};

// A quantized 2-D tensor [rows, cols] as real bytes.
struct QuantizedTensor {
  std::string format;            // spec name
  std::int64_t rows = 0, cols = 0;
  std::vector<std::uint8_t> data;        // packed element codes (or the whole interleaved blocks)
  std::vector<std::uint8_t> scales;      // per-block scales as stored (e4m3 / e8m0 / f16 / f32 bytes)
  std::vector<std::uint8_t> zeros;       // zero points (asymmetric int), packed; empty otherwise
  std::vector<float> tensor_scales;      // per-tensor scalars (NVFP4 weight_scale_2, NF4-DQ offset, ...)
  std::vector<std::uint8_t> aux;         // second-level data (NF4-DQ absmax2, ...)

  std::uint64_t storage_bytes() const;  // every byte above (tensor scalars included)
  double bits_per_weight() const;       // 8 * storage_bytes() / (rows * cols)
  // Borrowed view of the parts; the spec is the table's row named `format` (UnknownFormat if none).
  QuantizedView view() const;
  // The same with a given spec (a format outside the table).
  QuantizedView view(const BlockFormatSpec& spec) const;
};

// The parts of a quantized tensor, borrowed: from a QuantizedTensor, or straight from a file
// mapping (a checkpoint's qweight / scales / qzeros tensors) without copying.
struct QuantizedView {
  const BlockFormatSpec* spec = nullptr;
  std::int64_t rows = 0, cols = 0;
  std::span<const std::uint8_t> data, scales, zeros, aux;
  std::span<const float> tensor_scales;
  std::uint64_t storage_bytes() const;
};

const std::vector<BlockFormatSpec>& all_block_formats();
// The row named `name` ("intB-gch" is accepted for "intB-ch"), or nullopt. format_lookup.h has the
// lookup that throws the one "unknown format" error.
std::optional<BlockFormatSpec> block_format_from_name(std::string_view name);

// Throws qlab::Error if the shape does not fit the format (names the format and the block size,
// and suggests padding). Returns normally otherwise.
void check_shape(const BlockFormatSpec& spec, std::int64_t rows, std::int64_t cols);
StorageSizes storage_sizes(const BlockFormatSpec& spec, std::int64_t rows, std::int64_t cols);
// Bits per weight of a tensor of this shape, from storage_sizes (tensor scalars included).
double bits_per_weight(const BlockFormatSpec& spec, std::int64_t rows, std::int64_t cols);
// Throws qlab::Error unless every part of q has the size its format and shape need.
void check_parts(const QuantizedView& q);

// Smallest column count >= cols that the format accepts; pad_columns copies x into a zero-filled
// [rows, new_cols] tensor.
std::int64_t padded_cols(const BlockFormatSpec& spec, std::int64_t cols);
std::vector<float> pad_columns(std::span<const float> x, std::int64_t rows, std::int64_t cols,
                               std::int64_t new_cols);

// Quantize a row-major float32 tensor. Throws qlab::Error if cols does not fit the block size
// (the message says which and suggests padding), if x.size() != rows * cols, or if x holds a
// NaN or an infinity.
QuantizedTensor quantize(const BlockFormatSpec& spec, std::span<const float> x, std::int64_t rows,
                         std::int64_t cols, KernelPath path = KernelPath::Fast);
// out.size() must be rows * cols. Throws qlab::Error if q's parts do not have the sizes its
// format and shape need.
void dequantize(const QuantizedTensor& q, std::span<float> out, KernelPath path = KernelPath::Fast);
void dequantize(const QuantizedView& q, std::span<float> out, KernelPath path = KernelPath::Fast);
// Rows [r0, r0 + n) into out[n * cols], on the calling thread: the same values dequantize() gives
// them. The unit a matrix product widens at a time (tensor::Matrix holding packed weights).
void dequantize_rows(const QuantizedView& q, std::int64_t r0, std::int64_t n, float* out,
                     KernelPath path = KernelPath::Fast);

// Round-trip in place ("fake quantization"): what the runtime applies to every linear weight.
void fake_quantize(const BlockFormatSpec& spec, std::span<float> x, std::int64_t rows, std::int64_t cols);

}  // namespace qlab::formats
