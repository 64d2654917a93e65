#pragma once
// Lab 3's experiment as data for its screen, `qlab train --lab3 --json` and lab3.json: per run the loss
// curve, grad norms, the per-step share of values saturated / flushed to zero for weights, activations
// and gradients, totals, final held-out perplexity and tokens/s; the protocol they were scored with;
// and the FP8 inference table. Non-finite numbers become null (JSON has none).
#include <nlohmann/json.hpp>

#include "engine/train/lab3.h"

namespace qlab::labs {

nlohmann::json lab3_to_json(const train::Lab3Result& r);

}  // namespace qlab::labs
