#pragma once
// What a `qlab quantize` run will do with each tensor of a model, decided before a byte is written.
//   plan_quantize   the items in write order: a fused group of Linear weights quantized with one
//                   per-tensor scale (q/k/v, gate/up; o and down alone), or one tensor kept as stored
// Which tensors are Linear weights is the tensor map's call (io::role_of / is_linear_weight); the
// embeddings, lm_head, norms and biases are kept in their stored dtype, as ModelOpt's export keeps them.
// --exclude patterns are fnmatch wildcards over module names ("model.layers.0.mlp*", as ModelOpt's
// exclude_modules); a pattern that matches no Linear module is reported in `unmatched` (the caller
// warns). A fused group must be excluded whole: vLLM loads q/k/v (gate/up) as one layer and refuses a
// layer with some members quantized and some not (is_layer_skipped).
// Refused here, each with the tensor named: a Linear weight that is not F32/F16/BF16, one that is not
// 2-D (MoE experts), and one whose input dimension is not a multiple of the format's block.
#include <cstdint>
#include <string>
#include <vector>

#include "engine/io/quant_checkpoint.h"
#include "engine/io/safetensors.h"

namespace qlab::exporter {

struct PlanItem {
  std::vector<const io::TensorRef*> members;  // one unless a fused group
  bool quantize = false;
};

struct QuantizePlan {
  std::vector<PlanItem> items;
  io::QuantScheme scheme;              // with `ignore` filled: lm_head and every excluded Linear module
  std::vector<std::string> unmatched;  // --exclude patterns that matched no Linear module
  std::uint64_t source_bytes = 0;      // every tensor
  std::uint64_t linear_bytes = 0;      // the tensors quantized
  std::size_t quantized = 0, kept = 0;
};

// `order`: tensor names in the order to write them (the tensor map's; names the store lacks are
// skipped, and the store's other tensors follow in name order).
QuantizePlan plan_quantize(const io::TensorStore& store, const std::vector<std::string>& order,
                           io::QuantScheme scheme, const std::vector<std::string>& exclude);

// The module of a Linear weight's tensor name ("model.layers.0.mlp.up_proj.weight" -> "...up_proj").
std::string module_of(const std::string& tensor_name);

}  // namespace qlab::exporter
