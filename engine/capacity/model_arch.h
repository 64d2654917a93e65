#pragma once
// A model's weights as a list of tensor groups, derived from its Hugging Face config.json, for
// counting parameters and bytes without the weights themselves.
//   TensorRole / TensorGroup   what a group of same-shaped tensors is, and whether quantizers touch it
//   ModelArch                  the shapes that matter for memory: tensors, KV heads, sliding layers
//   arch_from_hf_config        llama / mistral / qwen2, falcon, gpt_oss (MoE) configs
//   builtin_models             the published configs in assets/model_configs.json (compiled in)
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace qlab::capacity {

enum class TensorRole {
  Attention,  // q/k/v/o projections (Linear)
  Mlp,        // dense MLP projections (Linear)
  Experts,    // MoE expert projections (Linear, one per expert)
  Router,     // MoE router (Linear, kept in 16 bits by every exporter)
  Embedding,  // token embedding table
  LmHead,     // output projection (kept in 16 bits by ModelOpt; see memory_model.h)
  Norm,       // RMSNorm / LayerNorm weights and biases
  Bias,       // Linear biases
  Other,      // e.g. GPT-OSS attention sinks
};
const char* role_name(TensorRole r);
bool is_linear_weight(TensorRole r);  // Attention, Mlp, Experts: what a weight format quantizes

// `count` tensors of shape [rows, cols]; a Linear weight is [out, in], so cols is the input width along
// which quantization blocks run. 1-D tensors have rows = 1.
struct TensorGroup {
  std::string name;  // "self_attn.q_proj", "mlp.experts.down_proj", ...
  TensorRole role;
  std::int64_t rows = 0, cols = 0, count = 0;
  std::int64_t parameters() const { return rows * cols * count; }
};

struct ModelArch {
  std::string id;           // "llama-3.1-70b"
  std::string name;         // "Llama 3.1 70B"
  std::string repo;         // "meta-llama/Llama-3.1-70B"
  std::string model_type;   // config.json model_type
  double published_parameters = 0;   // as the publisher states it (0 when unknown)
  double published_rounded_to = 0;   // the precision of that statement
  std::string published_source;
  std::string note;

  int layers = 0, hidden = 0, heads = 0, kv_heads = 0, head_dim = 0, vocab = 0;
  int intermediate = 0;        // dense MLP width, or per-expert width for MoE
  bool gated_mlp = true;       // SwiGLU-style gate+up (3 matrices) vs plain up/down (2)
  bool tied_embeddings = false;
  int experts = 0, experts_per_token = 0;  // 0 for dense models
  int sliding_window = 0;      // tokens a sliding-window layer keeps (0: none)
  int sliding_layers = 0;      // how many layers use the sliding window
  std::string released_expert_format;  // "mxfp4" when the publisher ships the experts quantized

  std::vector<TensorGroup> tensors;

  std::int64_t parameter_count() const;
  // Parameters a token passes through: experts_per_token of the experts, and not the embedding table
  // (a lookup; the gpt-oss model card counts "active" this way).
  std::int64_t active_parameter_count() const;
};

// Reads the architecture fields of an HF config.json. Error naming `source` and the field for a
// missing/absurd field or an unsupported model_type.
ModelArch arch_from_hf_config(const nlohmann::json& config, const std::string& source);

// Reads a catalog in the layout of assets/model_configs.json.
std::vector<ModelArch> load_model_catalog(const nlohmann::json& catalog, const std::string& source);

// The compiled-in catalog (assets/model_configs.json).
const std::vector<ModelArch>& builtin_models();
// By id ("llama-3.1-8b") or name, case-insensitive; Error listing the ids when unknown.
const ModelArch& builtin_model(const std::string& id_or_name);

}  // namespace qlab::capacity
