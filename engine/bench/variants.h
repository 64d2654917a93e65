#pragma once
// The variants a benchmark runs, made from one loaded model without writing files:
//   "base"               the model as stored
//   "f32" "f16" "bf16"   every Linear weight and lm_head converted to that type (round to nearest)
//   a block format       every Linear weight quantized round-to-nearest and kept packed (nvfp4,
//                        int4-g128, ...: `qlab formats list`); embeddings and lm_head as stored
// A variant shares every weight it does not replace with the base model.
#include <string>

#include "engine/core/progress.h"
#include "engine/model/model.h"

namespace qlab::bench {

struct Variant {
  std::string name;
  std::string storage;  // what its Linear weights hold, in words ("nvfp4, packed", "bf16")
  model::Model model;
};

// Throws qlab::Error naming the variant when it is neither a dtype nor a format of the table.
Variant make_variant(const model::Model& base, const std::string& name, Progress& progress = Progress::none());

// Bytes of every weight matrix a decoded token reads: the seven Linears of each layer, lm_head, and
// one embedding row.
std::uint64_t weight_bytes_per_token(const model::Model& m);

}  // namespace qlab::bench
