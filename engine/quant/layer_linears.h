#pragma once
// The Linears of a Llama-family decoder layer, by the input they share (decoder_layer.h LinearInput),
// in the order the layer runs them, with their Hugging Face names (for messages, reports and, later,
// checkpoint tensor names).
#include <array>
#include <cstdint>
#include <string>

#include "engine/model/decoder_layer.h"
#include "engine/model/model.h"

namespace qlab::quant {

struct LayerLinear {
  model::LinearInput input;
  const char* name;                          // "self_attn.q_proj", ...
  tensor::Matrix model::LayerWeights::*weight;
};

inline constexpr std::array<LayerLinear, 7> kLayerLinears = {{
    {model::LinearInput::QKV, "self_attn.q_proj", &model::LayerWeights::wq},
    {model::LinearInput::QKV, "self_attn.k_proj", &model::LayerWeights::wk},
    {model::LinearInput::QKV, "self_attn.v_proj", &model::LayerWeights::wv},
    {model::LinearInput::O, "self_attn.o_proj", &model::LayerWeights::wo},
    {model::LinearInput::GateUp, "mlp.gate_proj", &model::LayerWeights::w_gate},
    {model::LinearInput::GateUp, "mlp.up_proj", &model::LayerWeights::w_up},
    {model::LinearInput::Down, "mlp.down_proj", &model::LayerWeights::w_down},
}};

inline constexpr std::array<model::LinearInput, 4> kLinearInputs = {
    model::LinearInput::QKV, model::LinearInput::O, model::LinearInput::GateUp, model::LinearInput::Down};

// The width of the input a group of Linears reads (its weights' column count).
inline std::int64_t linear_input_cols(const io::ModelConfig& c, model::LinearInput in) {
  switch (in) {
    case model::LinearInput::QKV:
    case model::LinearInput::GateUp: return c.hidden_size;
    case model::LinearInput::O: return static_cast<std::int64_t>(c.num_attention_heads) * c.head_dim;
    case model::LinearInput::Down: return c.intermediate_size;
  }
  return 0;
}

inline std::string linear_label(int layer, const LayerLinear& l) {
  return "layer " + std::to_string(layer) + " " + l.name;
}

}  // namespace qlab::quant
