#pragma once
// Which ggml type llama-quantize gives each tensor of a model: its file types ("Q4_K_M", ...) and
// flags as data, and the selection as a function of the tensor list, the model's facts and the
// options. Nothing here touches tensor data.
//   FileType / file_type_from_name / file_type_name / base_type   llama_ftype: the mixes qlab writes
//   MixOptions     --pure, --leave-output-tensor, --output-tensor-type, --token-embedding-type,
//                  --tensor-type REGEX=TYPE (in order; first match wins), whether an imatrix is given
//   ModelFacts     what the rules read from the model: architecture, layers, heads, experts
//   plan_types     one TensorPlan per tensor (same order as given). The tensors are visited in
//                  llama.cpp's loader order (loader_order_less), because some rules count tensors
//                  as they go (the i-th attn_v, the i-th ffn_down).
// Source: llama.cpp src/llama-quant.cpp (tensor_allows_quantization, llama_tensor_get_type and its
// _impl, tensor_type_fallback, tensor_requires_imatrix, llama_ftype_get_default_type) and the
// loader's tensor order (llama-model-loader.h weight_name_comparer). Rules for the IQ/TQ file
// types are left out: qlab does not write those types.
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/gguf/ggml_type.h"

namespace qlab::gguf {

enum class FileType : std::uint32_t {
  ALL_F32 = 0, MOSTLY_F16 = 1, Q4_0 = 2, Q4_1 = 3, Q8_0 = 7, Q5_0 = 8, Q5_1 = 9,
  Q2_K = 10, Q3_K_S = 11, Q3_K_M = 12, Q3_K_L = 13, Q4_K_S = 14, Q4_K_M = 15, Q5_K_S = 16, Q5_K_M = 17,
  Q6_K = 18, Q2_K_S = 21, MOSTLY_BF16 = 32, MXFP4_MOE = 38,
};

// llama-quantize's names ("Q4_K_M", "F16", aliases "Q3_K" "Q4_K" "Q5_K" for the _M mixes),
// ASCII case-insensitive; nullopt for anything else (including the IQ mixes).
std::optional<FileType> file_type_from_name(std::string_view name);
std::string_view file_type_name(FileType f);
std::string file_type_names();      // "Q4_0 Q4_1 ... F32", for messages
GgmlType base_type(FileType f);     // the type of every tensor no rule changes

struct MixOptions {
  FileType file_type = FileType::Q4_K_M;
  bool pure = false;                  // --pure: every quantizable tensor gets the base type
  bool leave_output_tensor = false;   // --leave-output-tensor: output.weight is not requantized
  std::optional<GgmlType> output_tensor_type;    // --output-tensor-type
  std::optional<GgmlType> token_embedding_type;  // --token-embedding-type
  // --tensor-type REGEX=TYPE in order. The regex is lowercased and searched (std::regex ECMAScript,
  // regex_search) in the tensor name, as llama-quantize does.
  std::vector<std::pair<std::string, GgmlType>> tensor_types;
  bool has_imatrix = false;
};

struct ModelFacts {
  std::string arch = "llama";  // general.architecture
  int n_layer = 0;             // <arch>.block_count
  int n_head = 0;              // heads of layer 0
  int n_head_kv = 0;           // KV heads of layer 0
  int n_expert = 0;            // <arch>.expert_count (0 for dense models)
  bool is_70b = false;         // llama.cpp's LLM_TYPE_70B: see model_is_70b
};

// What llama.cpp's loaders call a 70B model (it bumps attn_v for those): llama with 80 layers and
// grouped KV heads; qwen2, olmo and deci with 80 layers; jais2 with 68.
bool model_is_70b(std::string_view arch, int n_layer, int n_head, int n_head_kv);

struct TensorDesc {
  std::string name;
  std::vector<std::int64_t> shape;  // ggml order: shape[0] = row length
  GgmlType type;                    // its type in the source file
};

struct TensorPlan {
  GgmlType type;                    // the type llama-quantize writes
  bool convert = false;             // type differs from the source's (else the bytes are copied)
  bool requires_imatrix = false;    // the type needs an importance matrix for this file type
  bool fell_back = false;           // the row length forced a fallback type
};

// llama.cpp's loader order: tensors without "blk.N." first (by name), then layer by layer
// (numerically), names within a layer in byte order.
bool loader_order_less(const std::string& a, const std::string& b);

// Whether llama-quantize may quantize this tensor at all (2+ dims, name ends in "weight", not a
// norm, not output.weight under --leave-output-tensor, not one of the small special tensors).
bool quantization_allowed(const TensorDesc& t, const MixOptions& o);

// Error (naming the tensor) where llama-quantize fails: a row length no fallback type can take,
// an expert tensor without a layer number.
std::vector<TensorPlan> plan_types(std::span<const TensorDesc> tensors, const ModelFacts& model, const MixOptions& o);

}  // namespace qlab::gguf
