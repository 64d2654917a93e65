#pragma once
// A model's weights as groups of same-shaped tensors, from the tensor map of its config.json
// (engine/io/tensor_map.h), for counting parameters and bytes without the weights themselves.
//   TensorGroup        `count` matrices rows x cols of one role: one tensor name across the layers
//   ModelArch          the config, its tensor groups, and what the catalog says of the model
//   arch_from_config   groups the config's tensor map
//   builtin_models     the published configs in assets/model_configs.json (compiled in)
// Every count fits 64 bits: the config reader bounds a model at io::kMaxParameters.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "engine/io/model_config.h"
#include "engine/io/tensor_map.h"

namespace qlab::capacity {

// `count` tensors of shape [rows, cols]; for a Linear weight cols is the input width, along which
// quantization blocks run. 1-D tensors have rows = 1.
struct TensorGroup {
  std::string name;  // "model.layers.*.self_attn.q_proj.weight", ...
  io::TensorRole role = io::TensorRole::Other;
  std::int64_t rows = 0, cols = 0, count = 0;
  std::int64_t parameters() const { return rows * cols * count; }
};

struct ModelArch {
  std::string id;           // "llama-3.1-70b"
  std::string name;         // "Llama 3.1 70B"
  std::string repo;         // "meta-llama/Llama-3.1-70B"
  double published_parameters = 0;   // as the publisher states it (0 when unknown)
  double published_rounded_to = 0;   // the precision of that statement
  std::string published_source;
  std::string note;

  io::ModelConfig config;   // read with io::ConfigUse::Shapes
  std::vector<TensorGroup> tensors;

  std::int64_t parameter_count() const;
  // Parameters a token passes through: experts_per_token of the experts, and not the embedding table
  // (a lookup; the gpt-oss model card counts "active" this way).
  std::int64_t active_parameter_count() const;
};

// The config's tensor map in groups, in the order each name first appears.
ModelArch arch_from_config(io::ModelConfig config);
// Reads an HF config.json object (io::parse_model_config with ConfigUse::Shapes) and groups it. Error
// naming `source` and the field for a missing or absurd field or an unsupported architecture.
ModelArch arch_from_hf_config(const nlohmann::json& config, const std::string& source);

// Reads a catalog in the layout of assets/model_configs.json.
std::vector<ModelArch> load_model_catalog(const nlohmann::json& catalog, const std::string& source);

// The compiled-in catalog (assets/model_configs.json).
const std::vector<ModelArch>& builtin_models();
// By id ("llama-3.1-8b") or name, case-insensitive; Error listing the ids when unknown.
const ModelArch& builtin_model(const std::string& id_or_name);

}  // namespace qlab::capacity
