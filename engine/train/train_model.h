#pragma once
// The trainable Llama-family model: every parameter in one flat float32 array (the way llm.c keeps
// them), with a table of where each tensor lives and its Hugging Face name.
//   ParamTensor      name ("model.layers.0.self_attn.q_proj.weight"), shape, offset, weight decay
//   LayerParams      offsets of one decoder layer's tensors
//   TrainModel       config + layout + values; init (seeded), save/load in HF layout
//   builtin_config   the shape of the built-in model
// Linear weights are [out, in] row-major as in transformers; RMSNorm weights start at 1.
// Initialisation follows GPT-2/llm.c: normal(0, 0.02), the two residual projections (o_proj,
// down_proj) scaled by 1/sqrt(2 * layers).
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "engine/io/model_config.h"

namespace qlab::train {

struct ParamTensor {
  std::string name;
  std::vector<std::int64_t> shape;
  std::size_t offset = 0, size = 0;
  bool decay = false;  // AdamW weight decay applies (matrices, not norm gains)
};

struct LayerParams {
  std::size_t attn_norm, wq, wk, wv, wo, mlp_norm, w_gate, w_up, w_down;
};

struct TrainModel {
  io::ModelConfig cfg;
  std::vector<ParamTensor> tensors;
  std::vector<LayerParams> layers;
  std::size_t embed = 0, final_norm = 0, lm_head = 0;  // lm_head == embed when tied
  std::vector<float> values;

  static TrainModel create(const io::ModelConfig& cfg);  // layout only, values zero
  void init(std::uint64_t seed);
  std::size_t parameter_count() const { return values.size(); }
  const float* at(std::size_t offset) const { return values.data() + offset; }
  float* at(std::size_t offset) { return values.data() + offset; }

  // config.json (transformers 4.x style) + model.safetensors (F32, or BF16 when bf16 is set).
  void save(const std::filesystem::path& dir, bool bf16 = false) const;
  // Reads a folder save() wrote (or any LlamaForCausalLM of the supported shape without biases).
  static TrainModel load(const std::filesystem::path& dir);
};

// A small Llama: vocab 768, hidden 192, 4 layers, 6 heads of 32 (2 key/value heads), MLP 512,
// context 128, tied embeddings.
io::ModelConfig builtin_config(int vocab_size);
// A few thousand parameters, for gradient checks and tests.
io::ModelConfig tiny_config(int vocab_size);

}  // namespace qlab::train
