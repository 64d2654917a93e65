// Tensor shapes of a model from its config.json, family by family, as transformers builds them.
#include "engine/capacity/model_arch.h"

#include <algorithm>
#include <cctype>

#include <nlohmann/json.hpp>

#include "engine/core/error.h"

namespace qlab::capacity {

using nlohmann::json;

const char* role_name(TensorRole r) {
  switch (r) {
    case TensorRole::Attention: return "attention";
    case TensorRole::Mlp: return "mlp";
    case TensorRole::Experts: return "experts";
    case TensorRole::Router: return "router";
    case TensorRole::Embedding: return "embedding";
    case TensorRole::LmHead: return "lm_head";
    case TensorRole::Norm: return "norm";
    case TensorRole::Bias: return "bias";
    case TensorRole::Other: return "other";
  }
  return "?";
}

bool is_linear_weight(TensorRole r) {
  return r == TensorRole::Attention || r == TensorRole::Mlp || r == TensorRole::Experts;
}

std::int64_t ModelArch::parameter_count() const {
  std::int64_t n = 0;
  for (const auto& t : tensors) n += t.parameters();
  return n;
}

std::int64_t ModelArch::active_parameter_count() const {
  std::int64_t n = 0;
  for (const auto& t : tensors) {
    if (t.role == TensorRole::Embedding) continue;  // a table lookup, not a matmul
    if (t.role == TensorRole::Experts || (experts > 0 && t.role == TensorRole::Bias && t.name.find("experts") != std::string::npos))
      n += t.parameters() / experts * experts_per_token;
    else
      n += t.parameters();
  }
  return n;
}

namespace {

class ConfigReader {
 public:
  ConfigReader(const json& j, const std::string& source) : j_(j), source_(source) {}

  int positive(const char* key) const {
    auto it = j_.find(key);
    if (it == j_.end()) fail("{}: config field '{}' is missing", source_, key);
    if (!it->is_number_integer() || it->get<long long>() <= 0 || it->get<long long>() > (1LL << 30))
      fail("{}: config field '{}' must be a positive whole number, got {}", source_, key, it->dump());
    return it->get<int>();
  }
  int positive_or(const char* key, int fallback) const { return j_.contains(key) ? positive(key) : fallback; }
  bool flag(const char* key, bool fallback) const {
    auto it = j_.find(key);
    if (it == j_.end() || it->is_null()) return fallback;
    if (!it->is_boolean()) fail("{}: config field '{}' must be true or false, got {}", source_, key, it->dump());
    return it->get<bool>();
  }
  const json& raw() const { return j_; }
  const std::string& source() const { return source_; }

 private:
  const json& j_;
  const std::string& source_;
};

void add(ModelArch& a, std::string name, TensorRole role, std::int64_t rows, std::int64_t cols, std::int64_t count) {
  a.tensors.push_back({std::move(name), role, rows, cols, count});
}

void common_ends(ModelArch& a, bool final_norm_bias) {
  add(a, "norm", TensorRole::Norm, 1, a.hidden, final_norm_bias ? 2 : 1);
  if (!a.tied_embeddings) add(a, "lm_head", TensorRole::LmHead, a.vocab, a.hidden, 1);
}

void llama_family(ModelArch& a, const ConfigReader& c) {
  a.hidden = c.positive("hidden_size");
  a.layers = c.positive("num_hidden_layers");
  a.heads = c.positive("num_attention_heads");
  a.kv_heads = c.positive_or("num_key_value_heads", a.heads);
  a.head_dim = c.positive_or("head_dim", a.hidden / a.heads);
  a.intermediate = c.positive("intermediate_size");
  a.vocab = c.positive("vocab_size");
  a.tied_embeddings = c.flag("tie_word_embeddings", false);
  if (c.raw().contains("sliding_window") && c.raw()["sliding_window"].is_number_integer() &&
      c.flag("use_sliding_window", a.model_type == "mistral")) {
    // Mistral-style: every layer slides (Qwen2 sets use_sliding_window false in its published configs)
    a.sliding_window = c.positive("sliding_window");
    a.sliding_layers = a.layers;
  }
  const std::int64_t L = a.layers, H = a.hidden, q = std::int64_t(a.heads) * a.head_dim,
                     kv = std::int64_t(a.kv_heads) * a.head_dim, I = a.intermediate;
  add(a, "embed_tokens", TensorRole::Embedding, a.vocab, H, 1);
  add(a, "self_attn.q_proj", TensorRole::Attention, q, H, L);
  add(a, "self_attn.k_proj", TensorRole::Attention, kv, H, L);
  add(a, "self_attn.v_proj", TensorRole::Attention, kv, H, L);
  add(a, "self_attn.o_proj", TensorRole::Attention, H, q, L);
  bool qkv_bias = a.model_type == "qwen2" || c.flag("attention_bias", false);
  if (qkv_bias) {
    add(a, "self_attn.q_proj.bias", TensorRole::Bias, 1, q, L);
    add(a, "self_attn.k_proj.bias", TensorRole::Bias, 1, kv, 2 * L);  // k and v
    if (a.model_type != "qwen2") add(a, "self_attn.o_proj.bias", TensorRole::Bias, 1, H, L);
  }
  add(a, "mlp.gate_proj", TensorRole::Mlp, I, H, L);
  add(a, "mlp.up_proj", TensorRole::Mlp, I, H, L);
  add(a, "mlp.down_proj", TensorRole::Mlp, H, I, L);
  if (c.flag("mlp_bias", false)) {
    add(a, "mlp.gate_up.bias", TensorRole::Bias, 1, I, 2 * L);
    add(a, "mlp.down_proj.bias", TensorRole::Bias, 1, H, L);
  }
  add(a, "input_layernorm+post_attention_layernorm", TensorRole::Norm, 1, H, 2 * L);
  common_ends(a, false);
}

void falcon(ModelArch& a, const ConfigReader& c) {
  a.hidden = c.positive("hidden_size");
  a.layers = c.positive("num_hidden_layers");
  a.heads = c.positive("num_attention_heads");
  a.head_dim = a.hidden / a.heads;
  a.vocab = c.positive("vocab_size");
  bool new_arch = c.flag("new_decoder_architecture", false);
  if (new_arch) a.kv_heads = c.positive("num_kv_heads");
  else a.kv_heads = c.flag("multi_query", true) ? 1 : a.heads;
  a.intermediate = c.positive_or("ffn_hidden_size", 4 * a.hidden);
  a.gated_mlp = false;
  // transformers' default for a config that does not say is to tie
  a.tied_embeddings = c.flag("tie_word_embeddings", true);
  bool bias = c.flag("bias", false), parallel = c.flag("parallel_attn", true);
  const std::int64_t L = a.layers, H = a.hidden, I = a.intermediate;
  const std::int64_t qkv = (std::int64_t(a.heads) + 2 * a.kv_heads) * a.head_dim;
  add(a, "word_embeddings", TensorRole::Embedding, a.vocab, H, 1);
  add(a, "self_attention.query_key_value", TensorRole::Attention, qkv, H, L);
  add(a, "self_attention.dense", TensorRole::Attention, H, std::int64_t(a.heads) * a.head_dim, L);
  add(a, "mlp.dense_h_to_4h", TensorRole::Mlp, I, H, L);
  add(a, "mlp.dense_4h_to_h", TensorRole::Mlp, H, I, L);
  if (bias) {
    add(a, "query_key_value.bias", TensorRole::Bias, 1, qkv, L);
    add(a, "dense.bias+dense_4h_to_h.bias", TensorRole::Bias, 1, H, 2 * L);
    add(a, "dense_h_to_4h.bias", TensorRole::Bias, 1, I, L);
  }
  // LayerNorm has weight and bias. The new architecture has ln_attn and ln_mlp per layer; the old one
  // has input_layernorm, plus post_attention_layernorm when attention and MLP run in sequence.
  int norms_per_layer = new_arch ? 2 : (parallel ? 1 : 2);
  add(a, "layernorms (weight+bias)", TensorRole::Norm, 1, H, 2 * norms_per_layer * L);
  common_ends(a, true);
}

void gpt_oss(ModelArch& a, const ConfigReader& c) {
  a.hidden = c.positive("hidden_size");
  a.layers = c.positive("num_hidden_layers");
  a.heads = c.positive("num_attention_heads");
  a.kv_heads = c.positive("num_key_value_heads");
  a.head_dim = c.positive_or("head_dim", a.hidden / a.heads);
  a.intermediate = c.positive("intermediate_size");
  a.vocab = c.positive("vocab_size");
  a.experts = c.positive("num_local_experts");
  a.experts_per_token = c.positive_or("num_experts_per_tok", c.positive_or("experts_per_token", 1));
  a.tied_embeddings = c.flag("tie_word_embeddings", false);
  const auto& j = c.raw();
  if (j.contains("layer_types") && j["layer_types"].is_array()) {
    const auto& lt = j["layer_types"];
    if (static_cast<int>(lt.size()) != a.layers)
      fail("{}: layer_types lists {} layers, num_hidden_layers says {}", c.source(), lt.size(), a.layers);
    a.sliding_layers = static_cast<int>(std::count(lt.begin(), lt.end(), json("sliding_attention")));
    if (a.sliding_layers > 0) a.sliding_window = c.positive("sliding_window");
  }
  if (j.contains("quantization_config") && j["quantization_config"].value("quant_method", "") == "mxfp4")
    a.released_expert_format = "mxfp4";

  const std::int64_t L = a.layers, H = a.hidden, q = std::int64_t(a.heads) * a.head_dim,
                     kv = std::int64_t(a.kv_heads) * a.head_dim, I = a.intermediate, E = a.experts;
  add(a, "embed_tokens", TensorRole::Embedding, a.vocab, H, 1);
  add(a, "self_attn.q_proj", TensorRole::Attention, q, H, L);
  add(a, "self_attn.k_proj", TensorRole::Attention, kv, H, L);
  add(a, "self_attn.v_proj", TensorRole::Attention, kv, H, L);
  add(a, "self_attn.o_proj", TensorRole::Attention, H, q, L);
  add(a, "self_attn.q_proj.bias", TensorRole::Bias, 1, q, L);
  add(a, "self_attn.k_proj.bias+v_proj.bias", TensorRole::Bias, 1, kv, 2 * L);
  add(a, "self_attn.o_proj.bias", TensorRole::Bias, 1, H, L);
  add(a, "self_attn.sinks", TensorRole::Other, 1, a.heads, L);
  add(a, "mlp.router", TensorRole::Router, E, H, L);
  add(a, "mlp.router.bias", TensorRole::Bias, 1, E, L);
  // gate_up_proj holds gate and up interleaved: [2I, H] per expert; blocks run along H
  add(a, "mlp.experts.gate_up_proj", TensorRole::Experts, 2 * I, H, L * E);
  add(a, "mlp.experts.down_proj", TensorRole::Experts, H, I, L * E);
  add(a, "mlp.experts.gate_up_proj_bias", TensorRole::Bias, 1, 2 * I, L * E);
  add(a, "mlp.experts.down_proj_bias", TensorRole::Bias, 1, H, L * E);
  add(a, "input_layernorm+post_attention_layernorm", TensorRole::Norm, 1, H, 2 * L);
  common_ends(a, false);
}

std::string lower(std::string s) {
  for (auto& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return s;
}

}  // namespace

ModelArch arch_from_hf_config(const json& config, const std::string& source) {
  if (!config.is_object()) fail("{}: a config.json must be a JSON object", source);
  ModelArch a;
  a.model_type = config.value("model_type", "");
  ConfigReader c(config, source);
  if (a.model_type == "llama" || a.model_type == "mistral" || a.model_type == "qwen2") llama_family(a, c);
  else if (a.model_type == "falcon") falcon(a, c);
  else if (a.model_type == "gpt_oss") gpt_oss(a, c);
  else
    fail("{}: model_type '{}' is not supported by the memory calculator (supported: llama, mistral, qwen2, falcon, gpt_oss)",
         source, a.model_type);
  if (a.heads % a.kv_heads != 0)
    fail("{}: num_attention_heads ({}) is not a multiple of the KV heads ({})", source, a.heads, a.kv_heads);
  return a;
}

std::vector<ModelArch> load_model_catalog(const json& catalog, const std::string& source) {
  if (!catalog.is_object() || !catalog.contains("models") || !catalog["models"].is_array())
    fail("{}: expected an object with a 'models' array", source);
  std::vector<ModelArch> out;
  for (const auto& m : catalog["models"]) {
    std::string id = m.value("id", "");
    if (id.empty()) fail("{}: a model has no 'id'", source);
    if (!m.contains("config")) fail("{}: model '{}' has no 'config'", source, id);
    ModelArch a = arch_from_hf_config(m["config"], source + ": " + id);
    a.id = id;
    a.name = m.value("name", id);
    a.repo = m.value("repo", "");
    a.note = m.value("note", "");
    if (m.contains("published_parameters")) {
      const auto& p = m["published_parameters"];
      a.published_parameters = p.value("value", 0.0);
      a.published_rounded_to = p.value("rounded_to", 0.0);
      a.published_source = p.value("source", "");
    }
    out.push_back(std::move(a));
  }
  return out;
}

}  // namespace qlab::capacity

extern const char qlab_model_configs_json[];
extern const unsigned long qlab_model_configs_json_size;

namespace qlab::capacity {

const std::vector<ModelArch>& builtin_models() {
  static const std::vector<ModelArch> models = [] {
    auto j = json::parse(qlab_model_configs_json, qlab_model_configs_json + qlab_model_configs_json_size);
    return load_model_catalog(j, "assets/model_configs.json");
  }();
  return models;
}

const ModelArch& builtin_model(const std::string& id_or_name) {
  std::string want = lower(id_or_name);
  std::string ids;
  for (const auto& m : builtin_models()) {
    if (lower(m.id) == want || lower(m.name) == want) return m;
    ids += (ids.empty() ? "" : ", ") + m.id;
  }
  fail("unknown model '{}' (known: {})", id_or_name, ids);
}

}  // namespace qlab::capacity
