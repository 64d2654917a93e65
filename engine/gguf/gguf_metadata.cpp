// Model hyper-parameters <-> GGUF keys (see gguf_metadata.h). Sources: convert_hf_to_gguf.py
// (TextModel.set_gguf_parameters, LlamaModel), llama-model.cpp (LLM_ARCH_LLAMA / QWEN2 hparams).
#include "engine/gguf/gguf_metadata.h"

#include <cmath>
#include <cstring>
#include <numbers>
#include <optional>

#include "engine/core/error.h"

namespace qlab::gguf {

namespace {

MetaValue u32(std::int64_t v) { return MetaValue::u32(static_cast<std::uint32_t>(v)); }

}  // namespace

std::string gguf_arch(const io::ModelConfig& c) {
  if (c.model_type == "qwen2") return "qwen2";
  if (c.model_type == "llama" || c.model_type == "mistral") return "llama";
  fail("model type {} cannot be written to GGUF by qlab (it writes llama, mistral and qwen2)", c.model_type);
}

bool permutes_qk(std::string_view arch) { return arch == "llama"; }

std::vector<std::pair<std::string, MetaValue>> model_metadata(const io::ModelConfig& c, const std::string& name) {
  const std::string a = gguf_arch(c);
  std::vector<std::pair<std::string, MetaValue>> kv;
  auto add = [&](std::string key, MetaValue v) { kv.emplace_back(std::move(key), std::move(v)); };
  add("general.architecture", MetaValue::string(a));
  add("general.type", MetaValue::string("model"));
  add("general.name", MetaValue::string(name));
  add(a + ".block_count", u32(c.num_hidden_layers));
  add(a + ".context_length", u32(c.max_position_embeddings));
  add(a + ".embedding_length", u32(c.hidden_size));
  add(a + ".feed_forward_length", u32(c.intermediate_size));
  add(a + ".attention.head_count", u32(c.num_attention_heads));
  add(a + ".attention.head_count_kv", u32(c.num_key_value_heads));
  add(a + ".rope.freq_base", MetaValue::f32(static_cast<float>(c.rope.theta)));
  add(a + ".attention.layer_norm_rms_epsilon", MetaValue::f32(static_cast<float>(c.rms_norm_eps)));
  if (c.head_dim * c.num_attention_heads != c.hidden_size) {  // the config gives head_dim explicitly
    add(a + ".attention.key_length", u32(c.head_dim));
    add(a + ".attention.value_length", u32(c.head_dim));
  }
  if (c.rope.type == "linear") {
    add(a + ".rope.scaling.type", MetaValue::string("linear"));
    add(a + ".rope.scaling.factor", MetaValue::f32(static_cast<float>(c.rope.factor)));
  }
  add(a + ".vocab_size", u32(c.vocab_size));  // the converter writes it for llama; no_vocab files need it
  if (a == "llama") add(a + ".rope.dimension_count", u32(c.head_dim));
  return kv;
}

std::vector<float> llama3_rope_factors(const io::ModelConfig& c) {
  if (c.rope.type != "llama3") return {};
  // LlamaModel.generate_extra_tensors, in float32 where torch computes in float32.
  const int dim = c.head_dim;
  const double factor = c.rope.factor, lo = c.rope.low_freq_factor, hi = c.rope.high_freq_factor;
  const double old_ctx = c.rope.original_max_position_embeddings;
  const double low_wavelen = old_ctx / lo, high_wavelen = old_ctx / hi;
  std::vector<float> out;
  for (int i = 0; i < dim; i += 2) {
    const float expo = static_cast<float>(i) / static_cast<float>(dim);
    const float freq = 1.0f / std::pow(static_cast<float>(c.rope.theta), expo);
    const float wavelen = static_cast<float>(2 * std::numbers::pi) / freq;
    if (wavelen < high_wavelen) {
      out.push_back(1.0f);
    } else if (wavelen > low_wavelen) {
      out.push_back(static_cast<float>(factor));
    } else {
      const float smooth = (static_cast<float>(old_ctx) / wavelen - static_cast<float>(lo)) / static_cast<float>(hi - lo);
      out.push_back(1.0f / ((1.0f - smooth) / static_cast<float>(factor) + smooth));
    }
  }
  return out;
}

io::ModelConfig model_config_from_gguf(const GgufFile& f) {
  const std::string& arch = f.get_string("general.architecture");
  io::ModelConfig c;
  if (arch == "llama") {
    c.architecture = "LlamaForCausalLM";
    c.model_type = "llama";
  } else if (arch == "qwen2") {
    c.architecture = "Qwen2ForCausalLM";
    c.model_type = "qwen2";
  } else {
    fail("{}: architecture '{}' is not one qlab runs (it runs llama, which covers Mistral, and qwen2)", f.label(), arch);
  }
  auto key = [&](const char* k) { return arch + "." + k; };
  // A count: one integer, or an array with one value per layer that must not vary.
  auto count = [&](const char* k, std::optional<std::int64_t> fallback) -> std::int64_t {
    const MetaValue* v = f.find(key(k));
    if (!v) {
      if (fallback) return *fallback;
      fail("{}: key {} is missing", f.label(), key(k));
    }
    std::int64_t x = 0;
    try {
      if (v->is_array()) {
        const auto a = v->as_array<std::uint32_t>(key(k));
        if (a.empty()) fail("empty");
        for (auto e : a)
          if (e != a[0]) fail("{}: {} differs between layers; qlab runs models whose layers share one shape", f.label(), key(k));
        x = a[0];
      } else {
        x = v->as_integer(key(k));
      }
    } catch (const Error& e) {
      fail("{}: {}", f.label(), e.what());
    }
    if (x < 1 || x > (1 << 24)) fail("{}: {} = {} is out of range", f.label(), key(k), x);
    return x;
  };
  c.hidden_size = static_cast<int>(count("embedding_length", std::nullopt));
  c.num_hidden_layers = static_cast<int>(count("block_count", std::nullopt));
  c.intermediate_size = static_cast<int>(count("feed_forward_length", std::nullopt));
  c.num_attention_heads = static_cast<int>(count("attention.head_count", std::nullopt));
  c.num_key_value_heads = static_cast<int>(count("attention.head_count_kv", c.num_attention_heads));
  c.max_position_embeddings = static_cast<int>(count("context_length", std::nullopt));
  if (c.hidden_size % c.num_attention_heads != 0 && !f.find(key("attention.key_length")))
    fail("{}: embedding_length {} is not a multiple of head_count {}", f.label(), c.hidden_size, c.num_attention_heads);
  c.head_dim = static_cast<int>(count("attention.key_length", c.hidden_size / c.num_attention_heads));
  if (count("attention.value_length", c.head_dim) != c.head_dim)
    fail("{}: value_length differs from key_length; qlab runs models whose K and V heads are alike", f.label());
  if (c.num_attention_heads % c.num_key_value_heads != 0)
    fail("{}: head_count {} is not a multiple of head_count_kv {}", f.label(), c.num_attention_heads, c.num_key_value_heads);
  if (count("rope.dimension_count", c.head_dim) != c.head_dim)
    fail("{}: rope.dimension_count differs from the head dim {}; partial rotary embeddings are not supported",
         f.label(), c.head_dim);
  c.rms_norm_eps = f.get_f32(key("attention.layer_norm_rms_epsilon"));
  c.rope.theta = f.find(key("rope.freq_base")) ? f.get_f32(key("rope.freq_base")) : 10000.0;
  if (const MetaValue* t = f.find(key("rope.scaling.type"))) {
    const std::string& type = f.get_string(key("rope.scaling.type"));
    (void)t;
    if (type == "linear") {
      c.rope.type = "linear";
      c.rope.factor = f.get_f32(key("rope.scaling.factor"));
      if (!(c.rope.factor > 0)) fail("{}: rope.scaling.factor must be positive", f.label());
    } else if (type != "none") {
      fail("{}: rope scaling '{}' is not one qlab runs (none, linear, or Llama 3's rope_freqs)", f.label(), type);
    }
  }
  if (const TensorInfo* rf = f.find_tensor("rope_freqs.weight")) {
    if (rf->type != GgmlType::F32 || rf->elements() != c.head_dim / 2)
      fail("{}: rope_freqs.weight must be f32 with {} values", f.label(), c.head_dim / 2);
    c.rope.freq_factors.resize(static_cast<std::size_t>(c.head_dim / 2));
    std::memcpy(c.rope.freq_factors.data(), rf->data.data(), rf->data.size());
    for (float v : c.rope.freq_factors)
      if (!(v > 0) || !std::isfinite(v)) fail("{}: rope_freqs.weight holds {} (factors must be positive)", f.label(), v);
  }
  const TensorInfo& embd = f.tensor("token_embd.weight");
  if (embd.shape.size() != 2 || embd.shape[0] != c.hidden_size)
    fail("{}: token_embd.weight must be [{}, vocab]", f.label(), c.hidden_size);
  c.vocab_size = static_cast<int>(embd.shape[1]);
  c.tie_word_embeddings = f.find_tensor("output.weight") == nullptr;
  c.attention_bias = f.find_tensor("blk.0.attn_q.bias") != nullptr;
  if (f.find("tokenizer.ggml.bos_token_id")) c.bos_token_id = static_cast<int>(f.get_u32("tokenizer.ggml.bos_token_id"));
  if (f.find("tokenizer.ggml.eos_token_id")) {
    c.eos_token_id = static_cast<int>(f.get_u32("tokenizer.ggml.eos_token_id"));
    c.eos_token_ids = {c.eos_token_id};
  }
  c.dtype = "gguf";
  return c;
}

}  // namespace qlab::gguf
