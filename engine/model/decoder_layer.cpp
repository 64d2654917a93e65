// One decoder layer, read top to bottom (transformers' LlamaDecoderLayer / Qwen2DecoderLayer):
// pre-norm attention block then pre-norm SwiGLU MLP, each added to the residual stream. Every step
// is one backend operation over all rows of the pass; the hook sees each Linear's input in between,
// as the Linear reads it (quantized first where the checkpoint quantizes activations).
#include "engine/model/decoder_layer.h"

#include <vector>

#include "engine/core/error.h"

namespace qlab::model {

namespace {

// Hands the hook a Linear's input where the backend holds it (LinearInputView::host copies on demand).
void see(const LayerHook& hook, Backend& be, int layer, LinearInput which, const float* x, std::int64_t rows,
         std::int64_t cols) {
  if (!hook) return;
  LinearInputView v;
  v.layer = layer;
  v.which = which;
  v.rows = rows;
  v.cols = cols;
  v.backend = &be;
  v.data = x;
  hook(v);
}

void check_ids(const io::ModelConfig& c, std::span<const std::int32_t> tokens, std::int64_t T) {
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    const std::int32_t id = tokens[i];
    if (id < 0 || id >= c.vocab_size)
      fail("token id {} at position {} is out of range for the model's vocabulary of {}", id,
           static_cast<std::int64_t>(i) % T, c.vocab_size);
  }
}

}  // namespace

const float* LinearInputView::host() const {
  if (host_) return host_;
  if (!backend || backend->host_memory()) return host_ = data;
  // One buffer per thread: a pass's hook runs on the pass's thread, and the copy lives until the
  // next view's host() on that thread (the hook's call only, as documented).
  thread_local std::vector<float> copy;
  copy.resize(static_cast<std::size_t>(rows * cols));
  backend->download(data, rows * cols, copy.data());
  return host_ = copy.data();
}

const char* linear_input_name(LinearInput which) {
  switch (which) {
    case LinearInput::QKV: return "qkv";
    case LinearInput::O: return "o";
    case LinearInput::GateUp: return "gate_up";
    case LinearInput::Down: return "down";
  }
  return "?";
}

void decoder_layer(Backend& be, Pass& p, int layer, const LayerHook& hook) {
  const io::ModelConfig& c = p.model->config();
  const LayerWeights& lw = p.model->weights().layers[static_cast<std::size_t>(layer)];
  const std::int64_t R = p.R, H = c.hidden_size, I = c.intermediate_size;
  const std::int64_t q_dim = static_cast<std::int64_t>(c.num_attention_heads) * c.head_dim;
  const auto eps = static_cast<float>(c.rms_norm_eps);

  // Self-attention: h = RMSNorm(x); q, k, v projections (+ biases), RoPE; k, v into the caches.
  be.rmsnorm(p.x, lw.attn_norm, eps, R, H, p.h);
  be.quantize_activations(p.h, R, H, lw.act_qkv);  // W4A4 / W8A8 checkpoints only
  see(hook, be, layer, LinearInput::QKV, p.h, R, H);
  const NewKV kv = be.new_kv(p, layer);
  be.matmul(p.h, R, lw.wq, p.q);
  be.matmul(p.h, R, lw.wk, kv.k);
  be.matmul(p.h, R, lw.wv, kv.v);
  be.bias_rope(p, lw, kv);
  be.store_kv(p, layer, kv);
  // att = softmax(q K^T / sqrt(hd), causal) V per head, K and V of the head's KV group.
  be.attention(p, layer);
  be.quantize_activations(p.att, R, q_dim, lw.act_o);
  see(hook, be, layer, LinearInput::O, p.att, R, q_dim);
  be.matmul(p.att, R, lw.wo, p.h);

  // MLP: x += o; h = RMSNorm(x); x += down(silu(gate(h)) * up(h)).
  be.residual_rmsnorm(p.x, p.h, lw.mlp_norm, eps, R, H, p.h);
  be.quantize_activations(p.h, R, H, lw.act_gate_up);
  see(hook, be, layer, LinearInput::GateUp, p.h, R, H);
  be.matmul(p.h, R, lw.w_gate, p.gate);
  be.matmul(p.h, R, lw.w_up, p.up);
  be.swiglu(p.gate, p.up, R, I);
  be.quantize_activations(p.gate, R, I, lw.act_down);
  see(hook, be, layer, LinearInput::Down, p.gate, R, I);
  be.matmul(p.gate, R, lw.w_down, p.h);
  be.residual_add(p.x, p.h, R, H);
}

void run_decoder_layer(const Model& m, int layer, std::span<KVCache* const> caches, float* x, std::int64_t T,
                       const LayerHook& hook) {
  const io::ModelConfig& c = m.config();
  if (layer < 0 || layer >= c.num_hidden_layers)
    fail("decoder layer {} does not exist: the model has {} layers", layer, c.num_hidden_layers);
  if (caches.empty() || T <= 0) return;
  check_caches(c, caches, T, false);
  Backend& be = caches[0]->backend();
  Pass& p = be.begin_pass(m, caches, T);
  const std::int64_t n = p.R * c.hidden_size;
  be.upload(x, n, p.x);
  decoder_layer(be, p, layer, hook);
  be.download(p.x, n, x);
  for (KVCache* cache : caches) cache->advance(T);
}

void embed_tokens(const Model& m, std::span<const std::int32_t> tokens, float* x) {
  if (tokens.empty()) return;
  check_ids(m.config(), tokens, static_cast<std::int64_t>(tokens.size()));
  cpu_backend().embed(m.weights().embed, tokens, x);
}

}  // namespace qlab::model
