#pragma once
// A Llama-family causal LM (Llama, Mistral, Qwen2) ready to run on the CPU.
//   LayerWeights / Weights   every tensor the forward pass reads, by role
//   Model::load              config.json + safetensors folder; shapes checked against the config
//   Model (copyable)         copies share the mapping and untouched weights, so a fake-quantized
//                            twin of a model costs only the weights it replaces
// Memory: linear and embedding weights stay in the safetensors mapping in their stored dtype
// (f32 used in place; f16/bf16 widened a slab at a time during each product), so an 8B bf16 model
// occupies its file size, not twice it. Norm weights and biases (tiny) are copied to float32.
// Fake quantization replaces a weight by an owned float32 copy (4 bytes per weight it touches).
#include <cstdint>
#include <filesystem>
#include <memory>
#include <vector>

#include "engine/io/model_config.h"
#include "engine/model/rope.h"
#include "engine/tensor/matrix.h"

namespace qlab::io {
class TensorStore;
}

namespace qlab::model {

// How a Linear's input is quantized at run time, as a checkpoint with static activation scales says
// (NVFP4 W4A4, ModelOpt FP8 W8A8); emulated in float32 (formats/activation_qdq.h) before the product.
// Members of a fused group (q/k/v, gate/up) share their input, and the scale vLLM makes of theirs.
struct ActivationQuant {
  enum class Kind { None, Nvfp4, Fp8 } kind = Kind::None;
  float scale = 0;  // Nvfp4: the global scale (1 / input_scale); Fp8: the per-tensor scale (input_scale)
  explicit operator bool() const { return kind != Kind::None; }
};

struct LayerWeights {
  tensor::Matrix wq, wk, wv, wo;       // [n_heads*hd, H], [n_kv*hd, H] x2, [H, n_heads*hd]
  tensor::Matrix w_gate, w_up, w_down;  // [I, H] x2, [H, I]
  std::vector<float> bq, bk, bv;        // empty unless attention_bias (Qwen2)
  std::vector<float> attn_norm, mlp_norm;
  ActivationQuant act_qkv, act_o, act_gate_up, act_down;  // none unless the checkpoint quantizes inputs
};

struct Weights {
  tensor::Matrix embed;    // [vocab, H]
  tensor::Matrix lm_head;  // [vocab, H]; the same storage as embed when tied
  std::vector<float> final_norm;
  std::vector<LayerWeights> layers;
};

class Model {
 public:
  static Model load(const std::filesystem::path& dir);
  // A model over weights read elsewhere (a GGUF file: engine/gguf/gguf_model.h), checked against the
  // config's shapes like load()'s. keep_alive holds what the matrices borrow (the file mapping);
  // source is the path the model came from.
  static Model from_weights(io::ModelConfig cfg, Weights w, std::filesystem::path source,
                            std::shared_ptr<const void> keep_alive);

  const io::ModelConfig& config() const { return cfg_; }
  const Weights& weights() const { return w_; }
  Weights& mutable_weights() { return w_; }
  const Rope& rope() const { return rope_; }
  int vocab_size() const { return cfg_.vocab_size; }
  // How every weight's products sum (tensor::ProductMath); Fast unless set.
  void set_product_math(tensor::ProductMath math);
  const std::filesystem::path& dir() const { return dir_; }

 private:
  io::ModelConfig cfg_;
  std::filesystem::path dir_;
  std::shared_ptr<const io::TensorStore> store_;  // keeps the mapping alive
  std::shared_ptr<const void> keep_alive_;        // the same for weights read elsewhere
  Weights w_;
  Rope rope_;
};

}  // namespace qlab::model
