#pragma once
// Round-to-nearest of every decoder-layer Linear of a model in memory, with the int formats' group rule
// (awq.h round_to_nearest): the data-free baseline `qlab quantize --method rtn` writes in the same
// GPTQ / AWQ / compressed-tensors layouts as the calibrated methods. The quantized weights replace the
// model's as owned float32 matrices; each Linear's codes, scales and zeros go to on_linear.
#include <stop_token>

#include "engine/core/progress.h"
#include "engine/model/model.h"
#include "engine/quant/gptq_model.h"

namespace qlab::quant {

ModelQuantReport quantize_model_rtn(model::Model& m, int bits, std::int64_t group, bool symmetric,
                                    Progress& progress = Progress::none(), std::stop_token stop = {},
                                    const LinearSink& on_linear = {});

}  // namespace qlab::quant
