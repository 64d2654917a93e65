#pragma once
// Activation ranges for static input scales (algorithms.md 5: Model Optimizer's "max" calibration): the
// calibration text run through the model layer by layer (quant::LayerRunner, so only one layer's
// activations for every sample are held), each Linear's input amax kept, and each layer's mapped weights
// released once it has run. The model runs in its stored precision (weights not yet quantized); members
// of a fused group see the same input, so they share one amax, as ModelOpt's export makes them.
//   activation_amax   module name ("model.layers.0.self_attn.q_proj") -> max |input| over every token
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <stop_token>
#include <string>

#include "engine/core/progress.h"

namespace qlab::model {
class Backend;
}

namespace qlab::exporter {

struct CalibrationOptions {
  std::filesystem::path text;  // plain text or JSONL with a "text" field (quant::read_calibration_text)
  std::int64_t samples = 64;   // windows; ModelOpt's hf_ptq.py uses 512 x 512 on a GPU
  std::int64_t seq_len = 512;  // capped by the model's context
  std::uint64_t seed = 0;
  model::Backend* backend = nullptr;  // where the passes run (nullptr: the CPU)
};

struct ActivationAmax {
  std::map<std::string, float> by_module;
  std::int64_t samples = 0, seq_len = 0;
  std::uint64_t hidden_bytes = 0;  // the one layer's activations held
  std::string source;
};

ActivationAmax activation_amax(const std::filesystem::path& model_dir, const CalibrationOptions& options,
                               Progress& progress, std::stop_token stop,
                               const std::function<void(const std::string&)>& warn = {});

}  // namespace qlab::exporter
