#pragma once
// The one map of a model's tensors: every tensor a Hugging Face checkpoint of a config holds, its role,
// and what a weight-format export does with it. `qlab info`, the memory calculator, RTN, synth-model and
// the exporters read it, so "which tensors are Linear weights" is decided here and nowhere else.
//   TensorRole / role_name    what a tensor is: an attention / MLP / expert projection, a router, ...
//   is_linear_weight          the roles a weight format quantizes (attention, MLP, experts)
//   role_of                   the role from the HF name alone (a file read without its config)
//   TensorEntry / tensor_map  every tensor a config implies, layer by layer
//   QuantScope / quantized    the default storage: the weight format for Linear weights, 16 bits for the
//                             rest (Model Optimizer's rule; see engine/capacity/memory_model.h)
// Names and shapes are transformers' (a Linear weight is [out, in]):
//   Llama / Mistral / Qwen2  model.embed_tokens.weight [V, H]; per layer model.layers.N.input_layernorm,
//       self_attn.{q,k,v,o}_proj (+ biases), post_attention_layernorm, mlp.{gate,up,down}_proj (+ biases);
//       model.norm.weight; lm_head.weight [V, H] unless tied
//   GPT-OSS  as Llama with biases on q/k/v/o, self_attn.sinks [heads], mlp.router (+ bias) [E, H] and the
//       experts stacked per layer: mlp.experts.gate_up_proj [E, H, 2I] (+ _bias [E, 2I]) and
//       mlp.experts.down_proj [E, I, H] (+ _bias [E, H]), stored [in, out] per expert
//   Falcon   transformer.word_embeddings.weight; per layer transformer.h.N.self_attention.{query_key_value,
//       dense}, mlp.{dense_h_to_4h, dense_4h_to_h} (+ biases), LayerNorms with biases (ln_attn and ln_mlp,
//       or input_layernorm [and post_attention_layernorm]); transformer.ln_f; lm_head.weight unless tied
// Order: embeddings, then each layer's tensors in the order the layer uses them, then the final norm and
// lm_head (synth-model packs shards greedily in this order).
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "engine/io/model_config.h"
#include "engine/io/safetensors.h"

namespace qlab::io {

enum class TensorRole {
  Attention,  // q/k/v/o projections (Linear)
  Mlp,        // dense MLP projections (Linear)
  Experts,    // MoE expert projections (Linear, stacked one per expert)
  Router,     // MoE router (Linear, kept in 16 bits by every exporter)
  Embedding,  // token embedding table
  LmHead,     // output projection
  Norm,       // RMSNorm / LayerNorm weights and biases
  Bias,       // Linear biases
  Other,      // e.g. GPT-OSS attention sinks; names the map does not know
};
const char* role_name(TensorRole r);
bool is_linear_weight(TensorRole r);  // Attention, Mlp, Experts: what a weight format quantizes
TensorRole role_of(std::string_view hf_name);

struct TensorEntry {
  std::string name;                  // "model.layers.3.self_attn.q_proj.weight"
  TensorRole role = TensorRole::Other;
  int layer = -1;                    // decoder layer; -1 outside the layers
  std::vector<std::int64_t> shape;   // as the checkpoint stores it
  // The tensor as `stack` matrices of rows x cols, cols along a Linear weight's input (the axis a
  // weight format's blocks run along); stack > 1 for MoE experts. A 1-D tensor is 1 x n.
  std::int64_t rows = 1, cols = 1, stack = 1;
  std::int64_t numel() const { return rows * cols * stack; }
  bool linear_weight() const { return is_linear_weight(role); }
};

// Every tensor a checkpoint of this config holds. Sizes are bounded by the config reader
// (model_config.h): each entry's numel fits 64 bits, and the sum is at most kMaxParameters for a
// parsed config.
std::vector<TensorEntry> tensor_map(const ModelConfig& c);

// The map as safetensors headers, every tensor in `dtype`.
std::vector<TensorHeader> tensor_headers(const std::vector<TensorEntry>& map, DType dtype);

// Which tensors take the weight format when a model is quantized; the rest keep 16 bits (or their
// stored type).
struct QuantScope {
  bool embeddings = false;    // the token embeddings and lm_head too (`qlab ppl --quant-all`)
  bool experts_only = false;  // only the MoE experts (how GPT-OSS is published)
};
bool quantized(TensorRole r, const QuantScope& scope = {});

}  // namespace qlab::io
