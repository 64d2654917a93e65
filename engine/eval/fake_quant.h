#pragma once
// Round-to-nearest "fake quantization" of a model: every Linear weight (q, k, v, o, gate, up, down)
// is quantized to a block format and immediately dequantized back to float32, so the runtime
// computes with exactly the values a checkpoint in that format would hold. Embeddings and lm_head
// stay as stored unless include_embeddings. Replaced weights become owned float32 copies.
#include <stop_token>

#include "engine/core/progress.h"
#include "engine/formats/block.h"
#include "engine/model/model.h"

namespace qlab::eval {

struct FakeQuantStats {
  int matrices = 0;
  double weights = 0;  // number of weights replaced
};

// release_originals: drop the replaced weights' mapped pages from the resident set as each is
// done (peak memory = the float32 copies, not copies + original). Harmless when another Model still
// reads them (they are paged back in from the file), but then it saves nothing.
FakeQuantStats fake_quantize_model(model::Model& m, const formats::BlockFormatSpec& spec, bool include_embeddings,
                                   Progress& progress = Progress::none(), bool release_originals = false,
                                   std::stop_token stop = {});

}  // namespace qlab::eval
