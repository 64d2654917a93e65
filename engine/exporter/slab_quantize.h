#pragma once
// One Linear weight quantized a slab of rows at a time, so a tensor never has to be float32 whole.
//   tensor_scale_for     the per-tensor scale of a format from the group's amax and the layout
//   quantize_slab        rows of a weight with the per-tensor scale fixed from outside
//   check_error_bound    every dequantized value within its format's bound of the source
//   hash_values          FNV-1a over float32 words: the re-read check compares written and in-memory
// Why the scale comes from outside: the members of a fused group (q/k/v, gate/up) must share one
// per-tensor scale (ModelOpt's preprocess_linear_fusion; vLLM keeps only the max of weight_scale_2 over
// a fused layer's members, so members quantized with their own would be dequantized wrongly), and a
// slab does not know its tensor's amax. Rows are independent once that scale is fixed, and the
// per-block rules are block_params.h's, which the whole-tensor codecs are tested bit for bit against:
// a slab quantized with the tensor's own amax holds the same bytes as formats::quantize of the tensor.
// Formats without a per-tensor scale (mxfp4, fp8-channel) go straight to formats::quantize.
#include <cstdint>
#include <span>
#include <string>

#include "engine/formats/block.h"
#include "engine/io/quant_checkpoint.h"

namespace qlab::exporter {

// The value the format keeps in tensor_scales for a group of amax `amax` (nvfp4, fp8-tensor), 0 for
// formats without one. NVFP4: ModelOpt's amax / 2688; in compressed-tensors the file holds
// global_scale = 2688 / amax (compressed-tensors generate_gparam) and the codes use 1 / global_scale,
// so the scale a reader recovers is the one the codes were made with, bit for bit.
float tensor_scale_for(const io::QuantScheme& s, float amax);

// Rows x [rows, cols] (row-major float32, finite) quantized with tensor scale `tensor_scale`.
formats::QuantizedTensor quantize_slab(const formats::BlockFormatSpec& spec, std::span<const float> x,
                                       std::int64_t rows, std::int64_t cols, float tensor_scale);

// Throws qlab::Error naming the tensor, row and column where |dequantized - source| exceeds the
// format's bound. Bounds (e = the element scale of the block or row, a = the block's amax):
//   nvfp4 / mxfp4   e + max(0, a - 6e)    half the widest E2M1 gap (4 to 6) plus what saturation clips
//   fp8             max(|w| / 16, e / 1024)  half an E4M3 ulp, relative (normals) or absolute (subnormals)
void check_error_bound(const formats::QuantizedTensor& q, std::span<const float> source,
                       std::span<const float> dequantized, const std::string& tensor, std::int64_t row0);

// FNV-1a 64 over the values' float32 bit patterns a 32-bit word per step, continuing from h.
std::uint64_t hash_values(std::span<const float> v, std::uint64_t h = 0xcbf29ce484222325ull);

}  // namespace qlab::exporter
