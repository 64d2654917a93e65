// The tensors of a model from its config, family by family, as transformers builds them; see tensor_map.h.
#include "engine/io/tensor_map.h"

#include <fmt/format.h>

namespace qlab::io {

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

bool quantized(TensorRole r, const QuantScope& scope) {
  if (scope.experts_only) return r == TensorRole::Experts;
  return is_linear_weight(r) || (scope.embeddings && (r == TensorRole::Embedding || r == TensorRole::LmHead));
}

namespace {

bool ends_with(std::string_view s, std::string_view tail) {
  return s.size() >= tail.size() && s.substr(s.size() - tail.size()) == tail;
}
bool has(std::string_view s, std::string_view part) { return s.find(part) != std::string_view::npos; }

}  // namespace

TensorRole role_of(std::string_view n) {
  if (n == "lm_head.weight") return TensorRole::LmHead;
  if (ends_with(n, "embed_tokens.weight") || ends_with(n, "word_embeddings.weight")) return TensorRole::Embedding;
  if (has(n, "layernorm.") || has(n, "norm.weight") || has(n, ".ln_attn.") || has(n, ".ln_mlp.") ||
      has(n, ".ln_f."))
    return TensorRole::Norm;
  if (has(n, ".mlp.experts.")) return ends_with(n, "_bias") ? TensorRole::Bias : TensorRole::Experts;
  if (ends_with(n, ".bias")) return TensorRole::Bias;
  if (ends_with(n, ".mlp.router.weight")) return TensorRole::Router;
  if (!ends_with(n, ".weight")) return TensorRole::Other;
  for (const char* p : {".self_attn.q_proj.", ".self_attn.k_proj.", ".self_attn.v_proj.", ".self_attn.o_proj.",
                        ".self_attention.query_key_value.", ".self_attention.dense."})
    if (has(n, p)) return TensorRole::Attention;
  for (const char* p : {".mlp.gate_proj.", ".mlp.up_proj.", ".mlp.down_proj.", ".mlp.dense_h_to_4h.",
                        ".mlp.dense_4h_to_h."})
    if (has(n, p)) return TensorRole::Mlp;
  return TensorRole::Other;
}

namespace {

class MapBuilder {
 public:
  std::vector<TensorEntry> entries;

  // A Linear weight [out, in] (or any 2-D tensor read as one).
  void matrix(std::string name, TensorRole role, int layer, std::int64_t out, std::int64_t in) {
    entries.push_back({std::move(name), role, layer, {out, in}, out, in, 1});
  }
  void vector(std::string name, TensorRole role, int layer, std::int64_t n) {
    entries.push_back({std::move(name), role, layer, {n}, 1, n, 1});
  }
  // `experts` Linear weights [out, in] stored as one [experts, in, out] tensor (GPT-OSS).
  void experts(std::string name, int layer, std::int64_t experts, std::int64_t out, std::int64_t in) {
    entries.push_back({std::move(name), TensorRole::Experts, layer, {experts, in, out}, out, in, experts});
  }
  void expert_bias(std::string name, int layer, std::int64_t experts, std::int64_t n) {
    entries.push_back({std::move(name), TensorRole::Bias, layer, {experts, n}, 1, n, experts});
  }
};

void llama_family(const ModelConfig& c, MapBuilder& b) {
  const std::int64_t H = c.hidden_size, I = c.intermediate_size, V = c.vocab_size, E = c.num_experts;
  const std::int64_t q = std::int64_t{c.num_attention_heads} * c.head_dim;
  const std::int64_t kv = std::int64_t{c.num_key_value_heads} * c.head_dim;
  const bool moe = E > 0;
  b.matrix("model.embed_tokens.weight", TensorRole::Embedding, -1, V, H);
  for (int l = 0; l < c.num_hidden_layers; ++l) {
    const std::string p = fmt::format("model.layers.{}.", l);
    b.vector(p + "input_layernorm.weight", TensorRole::Norm, l, H);
    b.matrix(p + "self_attn.q_proj.weight", TensorRole::Attention, l, q, H);
    b.matrix(p + "self_attn.k_proj.weight", TensorRole::Attention, l, kv, H);
    b.matrix(p + "self_attn.v_proj.weight", TensorRole::Attention, l, kv, H);
    b.matrix(p + "self_attn.o_proj.weight", TensorRole::Attention, l, H, q);
    if (c.attention_bias) {
      b.vector(p + "self_attn.q_proj.bias", TensorRole::Bias, l, q);
      b.vector(p + "self_attn.k_proj.bias", TensorRole::Bias, l, kv);
      b.vector(p + "self_attn.v_proj.bias", TensorRole::Bias, l, kv);
    }
    if (c.o_proj_bias) b.vector(p + "self_attn.o_proj.bias", TensorRole::Bias, l, H);
    if (moe) b.vector(p + "self_attn.sinks", TensorRole::Other, l, c.num_attention_heads);
    b.vector(p + "post_attention_layernorm.weight", TensorRole::Norm, l, H);
    if (moe) {
      b.matrix(p + "mlp.router.weight", TensorRole::Router, l, E, H);
      b.vector(p + "mlp.router.bias", TensorRole::Bias, l, E);
      b.experts(p + "mlp.experts.gate_up_proj", l, E, 2 * I, H);  // gate and up interleaved
      b.expert_bias(p + "mlp.experts.gate_up_proj_bias", l, E, 2 * I);
      b.experts(p + "mlp.experts.down_proj", l, E, H, I);
      b.expert_bias(p + "mlp.experts.down_proj_bias", l, E, H);
      continue;
    }
    b.matrix(p + "mlp.gate_proj.weight", TensorRole::Mlp, l, I, H);
    b.matrix(p + "mlp.up_proj.weight", TensorRole::Mlp, l, I, H);
    b.matrix(p + "mlp.down_proj.weight", TensorRole::Mlp, l, H, I);
    if (c.mlp_bias) {
      b.vector(p + "mlp.gate_proj.bias", TensorRole::Bias, l, I);
      b.vector(p + "mlp.up_proj.bias", TensorRole::Bias, l, I);
      b.vector(p + "mlp.down_proj.bias", TensorRole::Bias, l, H);
    }
  }
  b.vector("model.norm.weight", TensorRole::Norm, -1, H);
  if (!c.tie_word_embeddings) b.matrix("lm_head.weight", TensorRole::LmHead, -1, V, H);
}

void falcon(const ModelConfig& c, MapBuilder& b) {
  const std::int64_t H = c.hidden_size, I = c.intermediate_size, V = c.vocab_size;
  const std::int64_t qkv = (std::int64_t{c.num_attention_heads} + 2 * c.num_key_value_heads) * c.head_dim;
  const std::int64_t q = std::int64_t{c.num_attention_heads} * c.head_dim;
  const FalconLayout& f = c.falcon;
  b.matrix("transformer.word_embeddings.weight", TensorRole::Embedding, -1, V, H);
  for (int l = 0; l < c.num_hidden_layers; ++l) {
    const std::string p = fmt::format("transformer.h.{}.", l);
    auto norm = [&](const std::string& n) {
      b.vector(p + n + ".weight", TensorRole::Norm, l, H);
      b.vector(p + n + ".bias", TensorRole::Norm, l, H);
    };
    if (f.norms_per_layer == 2 && f.parallel_attn) {
      norm("ln_attn");
      norm("ln_mlp");
    } else {
      norm("input_layernorm");
    }
    b.matrix(p + "self_attention.query_key_value.weight", TensorRole::Attention, l, qkv, H);
    if (f.bias) b.vector(p + "self_attention.query_key_value.bias", TensorRole::Bias, l, qkv);
    b.matrix(p + "self_attention.dense.weight", TensorRole::Attention, l, H, q);
    if (f.bias) b.vector(p + "self_attention.dense.bias", TensorRole::Bias, l, H);
    if (!f.parallel_attn) norm("post_attention_layernorm");
    b.matrix(p + "mlp.dense_h_to_4h.weight", TensorRole::Mlp, l, I, H);
    if (f.bias) b.vector(p + "mlp.dense_h_to_4h.bias", TensorRole::Bias, l, I);
    b.matrix(p + "mlp.dense_4h_to_h.weight", TensorRole::Mlp, l, H, I);
    if (f.bias) b.vector(p + "mlp.dense_4h_to_h.bias", TensorRole::Bias, l, H);
  }
  b.vector("transformer.ln_f.weight", TensorRole::Norm, -1, H);
  b.vector("transformer.ln_f.bias", TensorRole::Norm, -1, H);
  if (!c.tie_word_embeddings) b.matrix("lm_head.weight", TensorRole::LmHead, -1, V, H);
}

}  // namespace

std::vector<TensorEntry> tensor_map(const ModelConfig& c) {
  MapBuilder b;
  if (c.architecture == "FalconForCausalLM")
    falcon(c, b);
  else
    llama_family(c, b);  // Llama, Mistral, Qwen2, GPT-OSS (num_experts > 0)
  return std::move(b.entries);
}

std::vector<TensorHeader> tensor_headers(const std::vector<TensorEntry>& map, DType dtype) {
  std::vector<TensorHeader> out;
  out.reserve(map.size());
  for (const auto& t : map) out.push_back({t.name, dtype, t.shape});
  return out;
}

}  // namespace qlab::io
