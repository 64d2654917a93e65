#pragma once
// A model as llama.cpp would run it after `llama-quantize MODEL.gguf OUT.gguf TYPE`: every tensor gets
// the ggml type llama-quantize's rules give it (engine/gguf/type_mix.h: the file type's mix, with the
// fallbacks a short row forces), is quantized with llama.cpp's reference quantizers (byte for byte,
// no importance matrix) and kept packed as the GGUF runtime keeps a file's tensors (products
// dequantize slabs of rows with ggml's dequantization), so the runtime computes with exactly the
// weights the GGUF file holds, in its memory and at its decode speed. Each product first rounds its
// activations to the type's dot-product type, as llama.cpp's CPU kernels do
// (engine/gguf/ggml_activations.h), so the numbers are llama-perplexity's.
//   gguf_tensor_list   the model's tensors under their GGUF names (convert_hf_to_gguf.py's llama and
//                      qwen2 mapping; a tied lm_head is no tensor of its own), shapes in ggml order
//                      ([cols, rows]), source types as stored (F32, F16, BF16; norms and biases F32)
//   make_gguf_variant  quantizes `m` in place; returns the bytes of those tensors in the GGUF file
//                      (rows x row_bytes of each tensor's type; the header and metadata not counted)
// The source is the checkpoint's own values, as llama-quantize sees them after a lossless conversion
// (convert_hf_to_gguf.py --outtype f32 for a float32 model, bf16 for a bf16 one). Row order does not
// matter: the converter's permutation of q/k rows for RoPE moves whole rows, and every type quantizes
// a row on its own.
#include <cstdint>
#include <stop_token>
#include <string>
#include <vector>

#include "engine/core/progress.h"
#include "engine/gguf/type_mix.h"
#include "engine/model/model.h"

namespace qlab::suite {

struct GgufTensorRef {
  gguf::TensorDesc desc;          // GGUF name, ggml shape, source type
  tensor::Matrix* matrix = nullptr;  // the runtime's matrix (nullptr for norms and biases: stay F32)
  std::int64_t numel = 0;
};

// llama.cpp's architecture name and the facts its rules read. Error for a family llama.cpp's converter
// maps differently from the runtime.
gguf::ModelFacts gguf_model_facts(const io::ModelConfig& c);

std::vector<GgufTensorRef> gguf_tensor_list(model::Model& m);

struct GgufVariantStats {
  double bytes = 0;                // tensor data in the GGUF file
  int quantized = 0;               // tensors converted to another type
  int fell_back = 0;               // of those, given a fallback type by a short row
  std::vector<std::string> types;  // "q4_K x 12", ... in first-seen order
};

// Error naming the file type for a name llama-quantize does not know, and the tensor for any the
// quantizers refuse; Cancelled (checked before each tensor) when stop is requested.
GgufVariantStats make_gguf_variant(model::Model& m, const std::string& file_type, Progress& progress = Progress::none(),
                                   std::stop_token stop = {});

}  // namespace qlab::suite
