#pragma once
// Round-to-nearest (RTN) "fake quantization" of a model: every tensor the tensor map says a weight
// format takes (io::quantized: the Linear weights q, k, v, o, gate, up, down; with scope.embeddings
// also the token embeddings and lm_head) is quantized to a block format and immediately dequantized
// back to float32, so the runtime computes with exactly the values a checkpoint in that format would
// hold. Rows that do not fill whole blocks are zero-padded first, as a checkpoint writer pads them.
// Replaced weights become owned float32 copies, or with keep_packed the quantized bytes themselves
// (tensor::quantize_matrix): the same logits, at the format's size in memory. The rest stay as stored.
#include <stop_token>

#include "engine/core/progress.h"
#include "engine/formats/block.h"
#include "engine/io/tensor_map.h"
#include "engine/model/model.h"

namespace qlab::quant {

struct FakeQuantStats {
  int matrices = 0;
  double weights = 0;  // number of weights replaced
};

// release_originals: drop the replaced weights' mapped pages from the resident set as each is
// done (peak memory = the float32 copies, not copies + original). Harmless when another Model still
// reads them (they are paged back in from the file), but then it saves nothing.
// stop is checked before each matrix (one matrix of an 8B model takes about a second): Cancelled.
FakeQuantStats fake_quantize_model(model::Model& m, const formats::BlockFormatSpec& spec,
                                   const io::QuantScope& scope = {}, Progress& progress = Progress::none(),
                                   bool release_originals = false, bool keep_packed = false,
                                   std::stop_token stop = {});

}  // namespace qlab::quant
