#pragma once
// Hugging Face config.json for the Llama family: Llama, Mistral, Qwen2.
// Accepts transformers 4.x (rope_theta and rope_scaling at top level) and 5.x (rope_parameters) files.
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

struct ModelConfig {
  std::string architecture;   // LlamaForCausalLM | MistralForCausalLM | Qwen2ForCausalLM
  std::string model_type;     // llama | mistral | qwen2
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

  long long parameter_count() const;  // from the shapes this config implies
};

// A LlamaForCausalLM config of this shape (head_dim = hidden / heads, RMSNorm eps 1e-5, RoPE theta
// 10000); callers set the context, special tokens, dtype and tying their model needs.
ModelConfig llama_config(int layers, int hidden, int heads, int kv_heads, int intermediate, int vocab);

inline constexpr const char* kSupportedArchitectures = "LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM";

// Parses and validates; Error naming the file and the field on anything missing or absurd,
// "unsupported architecture X (supported: ...)" for other models.
ModelConfig load_model_config(const std::filesystem::path& config_json);  // a config.json or its folder
ModelConfig parse_model_config(const nlohmann::json& j, const std::string& source_name);

// transformers 4.x writes rope_theta / rope_scaling / torch_dtype at the top level; 5.x writes
// rope_parameters and dtype. Files in 4.x style load in both (5.x converts them on load); 5.x style
// files load correctly only in 5.x. Hence the default.
enum class ConfigStyle { Transformers4, Transformers5 };
nlohmann::json model_config_to_json(const ModelConfig& c, ConfigStyle style = ConfigStyle::Transformers4);

}  // namespace qlab::io
