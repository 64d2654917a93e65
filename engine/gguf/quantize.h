#pragma once
// Converting float32 tensors to ggml types and back, row by row, exactly as llama-quantize does.
//   quantize_tensor     rows x cols float32 (row-major; ggml ne = [cols, rows]) -> the tensor's bytes
//                       in type t. With an importance matrix (cols weights, one per input column)
//                       the types that use one take ggml's weighted path; the others ignore it,
//                       as ggml does (Q8_0, MXFP4, F32, F16, BF16). Multi-threaded over rows;
//                       threads never change the bytes (every row, and without an imatrix every
//                       block, is quantized on its own).
//   quantize_rows       the same on one thread, into a caller's buffer
//   dequantize_rows     bytes of whole rows of type t -> float32
//   validate_tensor_data  ggml's check of quantized data (finite fp16 scales, no NaN/inf values,
//                       E8M0 exponent not 0xFF), which llama-quantize applies to what it writes
// What llama-quantize refuses, these refuse with an Error naming the tensor: a row length that is
// not a whole number of blocks, non-finite input (llama.cpp's loader checks every float32 value),
// a non-finite importance weight, and output that fails validation (an fp16 scale overflowing).
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "engine/gguf/ggml_type.h"

namespace qlab::gguf {

// Whether an importance matrix changes the bytes of this type (Q4_0 .. Q5_1 and Q2_K .. Q6_K).
bool uses_imatrix(GgmlType t);

std::vector<std::byte> quantize_tensor(GgmlType t, const float* src, std::int64_t rows, std::int64_t cols,
                                       const float* imatrix = nullptr, std::string_view name = "tensor");

// dst.size() must be rows x row_bytes(t, cols); src holds rows x cols values.
void quantize_rows(GgmlType t, const float* src, std::int64_t rows, std::int64_t cols, const float* imatrix,
                   std::span<std::byte> dst, std::string_view name = "tensor");

// src holds whole rows of type t (src.size() a multiple of row_bytes(t, cols)); dst gets
// src.size() / row_bytes(t, cols) * cols values.
void dequantize_rows(GgmlType t, std::span<const std::byte> src, std::int64_t cols, std::span<float> dst,
                     std::string_view name = "tensor");

// Error naming `name` and the first bad block or value if the data would fail ggml's validation.
void validate_tensor_data(GgmlType t, std::span<const std::byte> data, std::string_view name = "tensor");

}  // namespace qlab::gguf
