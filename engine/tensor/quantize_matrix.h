#pragma once
// Round-to-nearest quantization of one weight matrix to a block format, kept either way the runtime
// can use it:
//   QuantizedStorage::F32      dequantized back to an owned float32 matrix ("fake quantization":
//                              4 bytes per weight, the values a checkpoint in that format holds)
//   QuantizedStorage::Packed   the quantized bytes themselves (the format's size), widened a slab of
//                              rows at a time inside each product
// Both give a product the same float32 weights, so a model run either way gives the same logits.
// Rows that do not fill whole blocks are zero-padded first, as a checkpoint writer pads them.
#include "engine/formats/block.h"
#include "engine/tensor/matrix.h"

namespace qlab::tensor {

enum class QuantizedStorage { F32, Packed };

Matrix quantize_matrix(const Matrix& w, const formats::BlockFormatSpec& spec, QuantizedStorage storage);

}  // namespace qlab::tensor
