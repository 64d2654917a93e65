#pragma once
// Running a GGUF file: its tensors as the runtime's weights, without a float32 copy.
//   load_gguf_model   a model::Model over the file's mapping. f32 / f16 / bf16 tensors are used in place
//                     as the Matrix element types they are; quantized ones (q4_0 .. q6_K, mxfp4) become
//                     packed matrices whose products dequantize a slab of rows at a time with ggml's
//                     own dequantization (ggml_codec.h); q4_0, q8_0, Q4_K and Q6_K ones also get a copy
//                     with rows interleaved by 8 that decoding reads, where the CPU has its kernel,
//                     made at the first decode (tensor/row_interleave.h, llama.cpp's CPU repack). Q and K of the llama architecture are
//                     un-permuted (gguf.md §2.3: old row a*hd/2 + i = stored row 2i + a, per head) into
//                     owned copies of their bytes, rows moved whole, so nothing is re-quantized. Norm
//                     weights and biases (1-D) are widened to float32.
//   GgufModel         the model, the file (shared: the model's matrices point into its mapping) and
//                     the tokenizer it carries, if any
// Refused, one line naming the file and tensor: what model_config_from_gguf refuses; a missing
// tensor; a tensor of another shape than the config implies; a tensor the architecture does not
// have; a tensor type qlab does not read (the IQ and TQ types, q8_1, q8_K, integer types).
#include <filesystem>
#include <memory>
#include <optional>

#include "engine/gguf/gguf_file.h"
#include "engine/io/tokenizer.h"
#include "engine/model/model.h"

namespace qlab::gguf {

model::Model load_gguf_model(std::shared_ptr<const GgufFile> file);

struct GgufModel {
  std::shared_ptr<const GgufFile> file;
  model::Model model;
  std::optional<io::Tokenizer> tokenizer;
};
GgufModel open_gguf_model(const std::filesystem::path& path);

// Whether a path names a GGUF file (a regular file starting with the magic "GGUF").
bool is_gguf_file(const std::filesystem::path& path);

}  // namespace qlab::gguf
