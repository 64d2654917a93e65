#pragma once
// A Hugging Face model folder -> one GGUF file, as llama.cpp's convert_hf_to_gguf.py followed by
// llama-quantize would make it (`qlab gguf`).
//   ConvertOptions    the file type and llama-quantize's flags (type_mix.h MixOptions), the importance
//                     matrix (if any) and its description for the quantize.imatrix.* keys
//   convert_to_gguf   streams the model: tensors are read from the mapped safetensors one at a time
//                     (widened to float32, Q/K permuted for the llama architecture), quantized over
//                     all threads, written, and their source pages released, so the memory in use
//                     stays near the largest tensor (in float32) whatever the model's size
// The file: metadata in the order the converter writes it (general.*, hyper-parameters, tokenizer,
// hf_vocab.h) then general.quantization_version and general.file_type last, as llama-quantize
// leaves them; tensors in llama.cpp's loader order (what llama-quantize writes); alignment 32.
// Every quantized tensor's bytes equal llama-quantize's from an F32 (or F16 / BF16) GGUF of the
// same weights, with or without the same imatrix (quantize.h, type_mix.h). 1-D tensors stay F32.
// Written to a temporary beside `out` and renamed when complete; an error or a cancel (Cancelled
// from check_cancel) leaves nothing behind.
#include <cstdint>
#include <filesystem>
#include <map>
#include <stop_token>
#include <string>
#include <vector>

#include "engine/core/progress.h"
#include "engine/gguf/ggml_type.h"
#include "engine/gguf/type_mix.h"

namespace qlab::gguf {

struct ConvertOptions {
  MixOptions mix;
  // Per-tensor importance weights (imatrix_file.h importance_weights), or empty.
  std::map<std::string, std::vector<float>> importance;
  std::string imatrix_file;           // recorded as quantize.imatrix.file
  std::string imatrix_dataset;        // first dataset, quantize.imatrix.dataset
  std::uint32_t imatrix_chunks = 0;   // quantize.imatrix.chunks_count
  std::string name;                   // general.name (default: the folder's name)
};

struct ConvertedTensor {
  std::string name;
  GgmlType type;
  std::vector<std::int64_t> shape;  // ggml order
  std::uint64_t bytes = 0;
  bool fell_back = false;           // the mix's type could not take the row length
  bool used_imatrix = false;
};

struct ConvertResult {
  std::vector<ConvertedTensor> tensors;  // in file order
  std::uint64_t file_bytes = 0;
  std::uint64_t source_f32_bytes = 0;    // the weights in float32 (the MB/s of `bench gguf` count these)
  std::int64_t parameters = 0;
  double seconds = 0;
  std::string architecture;              // "llama" / "qwen2"
  std::string tokenizer_model, tokenizer_pre;
  std::string chat_template;
  std::vector<std::string> eos_tokens;
  std::uint64_t tensor_bytes() const;
  // Over the tensors' bytes (metadata and padding not counted), as llama.cpp reports a model's BPW.
  double bits_per_weight() const;
};

ConvertResult convert_to_gguf(const std::filesystem::path& model_dir, const std::filesystem::path& out,
                              const ConvertOptions& o, Progress& progress = Progress::none(), std::stop_token stop = {});

}  // namespace qlab::gguf
