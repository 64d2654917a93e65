#pragma once
// A real weight matrix of the model in use, for the labs that measure formats on it.
// Only the chosen tensor's bytes are read (the file is memory-mapped), so it is quick even on 70B.
#include <cstdint>
#include <string>
#include <vector>

#include "labs/lab.h"

namespace qlab::labs {

struct WeightSample {
  std::string name;              // "model.layers.0.self_attn.q_proj.weight"
  std::int64_t rows = 0, cols = 0;  // rows kept (at most the tensor's), cols = the tensor's input width
  std::int64_t full_rows = 0;
  std::vector<float> data;       // rows x cols, row-major float32
};

// The first attention or MLP projection of layer 0 (q_proj preferred), up to max_elements values
// (whole rows). NotAvailable when the built-in model is not installed; Error for a broken folder.
WeightSample load_weight_sample(const ModelRef& model, std::int64_t max_elements);

}  // namespace qlab::labs
