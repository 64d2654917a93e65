#pragma once
// ggml's quantized types as block formats of the runtime (formats/block.h): a traits row per type,
// outside the table of `qlab formats list`, whose codec is this folder's byte-exact ggml code. A
// tensor::Matrix holding a GGUF tensor's bytes with one of these specs is a packed weight: the
// products widen a slab of rows at a time (ggml's dequantize_row_*), nothing is copied to float32.
//   ggml_block_spec   the spec of a quantized ggml type qlab reads (q4_0 .. q6_K, mxfp4); nullptr for
//                     the plain types (f32, f16, bf16 are the Matrix's own element types) and for
//                     types qlab does not read
// Layout: one buffer of whole blocks per row, in QuantizedView::data (scales, zeros, aux empty);
// a row of `cols` elements is row_bytes(type, cols) bytes, so cols must be a multiple of the block.
#include "engine/formats/block.h"
#include "engine/gguf/ggml_type.h"

namespace qlab::gguf {

const formats::BlockFormatSpec* ggml_block_spec(GgmlType t);

}  // namespace qlab::gguf
