#pragma once
// Lab 2's perplexity step (its own file: the resumable scoring loop and the paired measures).
#include <stop_token>

#include "engine/core/progress.h"
#include "labs/lab.h"

namespace qlab::labs {

// Settings: format (block format), text ("" = the model's held-out text), chunks (0 = all).
StepResult lab02_perplexity_job(const JobContext& ctx, Progress& progress, std::stop_token stop);

}  // namespace qlab::labs
