// config.json of the families qlab reads for their shapes only (ConfigUse::Shapes): what sizes the
// tensors transformers builds for them, and their KV cache.
//   Falcon   FalconConfig: hidden_size, num_attention_heads (head_dim = hidden / heads), num_kv_heads
//            with new_decoder_architecture else multi_query (1 KV head) or one per head,
//            ffn_hidden_size (default 4 x hidden, up and down projections, no gate), LayerNorm
//            weight + bias, embeddings tied unless the config says otherwise
//   GPT-OSS  GptOssConfig: the Llama-style sizes, num_local_experts experts per layer of which
//            num_experts_per_tok run, sliding-window layers listed in layer_types, biases on every
//            attention projection; quantization_config names the format the experts ship in
#include <algorithm>

#include "engine/io/config_reader.h"

namespace qlab::io::config {

void read_falcon(const Reader& r, ModelConfig& c) {
  c.hidden_size = r.dim("hidden_size");
  c.num_hidden_layers = r.count("num_hidden_layers");
  c.num_attention_heads = r.count("num_attention_heads");
  if (c.hidden_size % c.num_attention_heads != 0)
    fail("{}: \"hidden_size\" = {} is not divisible by num_attention_heads = {}", r.source(), c.hidden_size,
         c.num_attention_heads);
  c.head_dim = c.hidden_size / c.num_attention_heads;
  c.vocab_size = static_cast<int>(r.integer("vocab_size", 1, kMaxVocab, {}));
  FalconLayout& f = c.falcon;
  f.new_decoder_architecture = r.boolean("new_decoder_architecture", false);
  if (f.new_decoder_architecture)
    c.num_key_value_heads = r.count("num_kv_heads");
  else
    c.num_key_value_heads = r.boolean("multi_query", true) ? 1 : c.num_attention_heads;
  if (c.num_attention_heads % c.num_key_value_heads != 0)
    fail("{}: \"num_kv_heads\" = {} does not divide num_attention_heads = {}", r.source(), c.num_key_value_heads,
         c.num_attention_heads);
  const long long ffn = r.integer("ffn_hidden_size", 1, kMaxDim, 4LL * c.hidden_size);
  if (ffn > kMaxDim)
    fail("{}: the MLP width 4 x hidden_size = {} is out of range (at most {}); give ffn_hidden_size", r.source(), ffn,
         kMaxDim);
  c.intermediate_size = static_cast<int>(ffn);
  c.gated_mlp = false;
  // transformers' default for a config that does not say is to tie
  c.tie_word_embeddings = r.boolean("tie_word_embeddings", true);
  f.bias = r.boolean("bias", false);
  f.parallel_attn = r.boolean("parallel_attn", true);
  // FalconDecoderLayer: two norms when attention and MLP run in sequence, or in parallel with
  // num_ln_in_parallel_attn = 2 (the new architecture's default); one otherwise.
  const long long ln_parallel = r.integer("num_ln_in_parallel_attn", 1, 2, f.new_decoder_architecture ? 2 : 1);
  f.norms_per_layer = !f.parallel_attn ? 2 : static_cast<int>(ln_parallel);
}

void read_gpt_oss(const Reader& r, ModelConfig& c) {
  c.num_experts = r.count("num_local_experts");
  c.num_experts_per_tok =
      static_cast<int>(r.integer("num_experts_per_tok", 1, kMaxCount, r.integer("experts_per_token", 1, kMaxCount, 1)));
  if (c.num_experts_per_tok > c.num_experts)
    fail("{}: \"num_experts_per_tok\" = {} is more than the {} experts", r.source(), c.num_experts_per_tok,
         c.num_experts);
  c.tie_word_embeddings = r.boolean("tie_word_embeddings", false);
  c.attention_bias = c.o_proj_bias = true;  // GptOssAttention: bias on q, k, v and o
  const json& j = r.raw();
  if (r.has("layer_types")) {
    const json& lt = j["layer_types"];
    if (!lt.is_array() || static_cast<long long>(lt.size()) != c.num_hidden_layers)
      fail("{}: \"layer_types\" must list the {} layers, got {}", r.source(), c.num_hidden_layers,
           lt.dump().substr(0, 60));
    for (const json& t : lt) {
      if (!t.is_string() || (t != "sliding_attention" && t != "full_attention"))
        fail("{}: \"layer_types\" holds {}; expected sliding_attention or full_attention", r.source(),
             t.dump().substr(0, 60));
      if (t == "sliding_attention") ++c.sliding_layers;
    }
    if (c.sliding_layers > 0)
      c.sliding_window = static_cast<int>(r.integer("sliding_window", 1, std::numeric_limits<int>::max(), {}));
  }
  if (r.has("quantization_config")) {
    const json& q = j["quantization_config"];
    if (!q.is_object()) fail("{}: \"quantization_config\" must be an object", r.source());
    auto m = q.find("quant_method");
    if (m != q.end() && m->is_string() && *m == "mxfp4") c.released_format = "mxfp4";
  }
}

}  // namespace qlab::io::config
