#pragma once
// Hugging Face config.json: the one reader of it in qlab. Every field is read with its type checked and
// its range bounded, and the shapes a config implies are bounded as a whole (at most 2^50 parameters),
// so a corrupt or hostile file stops here with a message naming the file and the field instead of
// turning into a huge allocation, a division by zero or an overflow later.
//   ConfigUse::Run     the families the runtime runs: Llama, Mistral, Qwen2; every field it needs (RoPE,
//                      activation, norm epsilon, special tokens, dtype) checked
//   ConfigUse::Shapes  also Falcon and GPT-OSS (MoE): only what shapes the tensors and the KV cache, for
//                      the memory calculator; RoPE and the like are not read
// Accepts transformers 4.x (rope_theta and rope_scaling at top level) and 5.x (rope_parameters) files.
// What the shapes mean tensor by tensor is engine/io/tensor_map.h.
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace qlab::io {

struct RopeConfig {
  double theta = 10000.0;
  std::string type = "default";   // default | linear | llama3
  double factor = 1.0;            // linear and llama3
  double low_freq_factor = 1.0;   // llama3
  double high_freq_factor = 4.0;  // llama3
  int original_max_position_embeddings = 8192;  // llama3
  // Per-frequency divisors as a GGUF file's rope_freqs tensor holds them (llama.cpp's converter
  // writes Llama 3.1's scaling that way): inv_freq_i / freq_factors[i]. Empty for HF configs.
  std::vector<float> freq_factors;
};

// The Falcon decoder's layout switches (transformers' FalconConfig).
struct FalconLayout {
  bool new_decoder_architecture = false;  // grouped KV heads (num_kv_heads), two norms per layer
  bool parallel_attn = true;              // attention and MLP read the same normed input
  int norms_per_layer = 1;                // LayerNorms (weight + bias) per layer: 1 or 2
  bool bias = false;                      // Linear biases
};

struct ModelConfig {
  std::string source;         // the file it was read from (for messages); "" when built in code
  std::string architecture;   // LlamaForCausalLM | MistralForCausalLM | Qwen2ForCausalLM (Run), and with
                              // ConfigUse::Shapes also FalconForCausalLM | GptOssForCausalLM
  std::string model_type;     // llama | mistral | qwen2 | falcon | gpt_oss
  int vocab_size = 0;
  int hidden_size = 0;
  int intermediate_size = 0;
  int num_hidden_layers = 0;
  int num_attention_heads = 0;
  int num_key_value_heads = 0;
  int head_dim = 0;           // hidden_size / num_attention_heads unless given
  int max_position_embeddings = 0;
  double rms_norm_eps = 1e-6;
  RopeConfig rope;
  bool tie_word_embeddings = false;
  bool attention_bias = false;  // q/k/v bias (Qwen2: true)
  bool o_proj_bias = false;     // o_proj bias: Llama's attention_bias covers it too, Qwen2 has none
  bool mlp_bias = false;
  int bos_token_id = -1, eos_token_id = -1;  // -1: not given; eos_token_id is the first of a list
  std::vector<int> eos_token_ids;            // every id a list gave (Llama 3.1 Instruct has three)
  std::string dtype = "float32";  // torch_dtype or dtype, without a "torch." prefix
  int sliding_window = 0;         // 0: full attention (Mistral v0.1 says 4096; Qwen2 only if use_sliding_window)
  int sliding_layers = 0;         // layers that keep only sliding_window tokens (Mistral: all; GPT-OSS: layer_types)

  // Shapes beyond the Llama family (ConfigUse::Shapes).
  bool gated_mlp = true;          // gate, up and down projections (SwiGLU); Falcon: up and down only
  int num_experts = 0;            // MoE experts per layer (GPT-OSS num_local_experts); 0: a dense MLP
  int num_experts_per_tok = 0;    // experts each token runs through
  std::string released_format;    // "mxfp4" when the publisher's quantization_config ships the experts so
  FalconLayout falcon;

  bool runnable() const;              // a family the runtime runs (Llama, Mistral, Qwen2)
  long long parameter_count() const;  // from the shapes this config implies (tensor_map.h)
  std::string name() const;           // source, or "model config" when built in code (for messages)
};

// A LlamaForCausalLM config of this shape (head_dim = hidden / heads, RMSNorm eps 1e-5, RoPE theta
// 10000); callers set the context, special tokens, dtype and tying their model needs.
ModelConfig llama_config(int layers, int hidden, int heads, int kv_heads, int intermediate, int vocab);

inline constexpr const char* kSupportedArchitectures = "LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM";
inline constexpr const char* kShapeArchitectures =
    "LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM, FalconForCausalLM, GptOssForCausalLM";
// Bound on the parameters a config may imply: about 1.1e15, a thousand times the largest published
// model, so every count and byte total derived from one fits 64 bits and is exact in a double.
inline constexpr long long kMaxParameters = 1LL << 50;

enum class ConfigUse { Run, Shapes };

// Parses and validates; Error naming the file and the field on anything missing or absurd,
// "unsupported architecture X (supported: ...)" for other models.
ModelConfig load_model_config(const std::filesystem::path& config_json,  // a config.json or its folder
                              ConfigUse use = ConfigUse::Run);
ModelConfig parse_model_config(const nlohmann::json& j, const std::string& source_name, ConfigUse use = ConfigUse::Run);

// transformers 4.x writes rope_theta / rope_scaling / torch_dtype at the top level; 5.x writes
// rope_parameters and dtype. Files in 4.x style load in both (5.x converts them on load); 5.x style
// files load correctly only in 5.x. Hence the default. A runnable config only (Error otherwise).
enum class ConfigStyle { Transformers4, Transformers5 };
nlohmann::json model_config_to_json(const ModelConfig& c, ConfigStyle style = ConfigStyle::Transformers4);

}  // namespace qlab::io
