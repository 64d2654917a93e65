#pragma once
// Hugging Face config.json for the Llama family: Llama, Mistral, Qwen2.
// Accepts transformers 4.x (rope_theta and rope_scaling at top level) and 5.x (rope_parameters) files.
#include <filesystem>
#include <string>

#include <nlohmann/json_fwd.hpp>

namespace qlab::io {

struct RopeConfig {
  double theta = 10000.0;
  std::string type = "default";   // default | linear | llama3
  double factor = 1.0;            // linear and llama3
  double low_freq_factor = 1.0;   // llama3
  double high_freq_factor = 4.0;  // llama3
  int original_max_position_embeddings = 8192;  // llama3
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
  bool mlp_bias = false;
  int bos_token_id = -1, eos_token_id = -1;
  std::string dtype = "float32";  // torch_dtype or dtype

  long long parameter_count() const;  // from the shapes this config implies
};

// Parses and validates; Error naming the file and the field on anything missing or absurd,
// "unsupported architecture X (supported: ...)" for other models.
ModelConfig load_model_config(const std::filesystem::path& config_json);
ModelConfig parse_model_config(const nlohmann::json& j, const std::string& source_name);
nlohmann::json model_config_to_json(const ModelConfig& c);  // transformers-5 style, loadable by transformers

}  // namespace qlab::io
