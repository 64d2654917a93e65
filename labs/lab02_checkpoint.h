#pragma once
// Lab 2's checkpoint step: the model streamed to NVFP4 (and MXFP4 and FP8 beside it) by the engine's
// streaming quantizer, as `qlab quantize` writes it, then read back and scored.
#include <stop_token>

#include "engine/core/progress.h"
#include "labs/lab.h"

namespace qlab::labs {

// A model of at least this many parameters earns the milestone "NVFP4 quantization of a 70B model".
inline constexpr double kLab02MilestoneParameters = 60e9;

// Settings: method (nvfp4 = W4A4, calibrated; nvfp4-w4a16 = weights only), beside ("mxfp4 and fp8" or
// "none"), text ("" = the model's held-out text), chunks (0 = all; a model of 20B parameters or more
// scores 4 unless asked, and says how long all of them would take).
StepResult lab02_checkpoint_job(const JobContext& ctx, Progress& progress, std::stop_token stop);

}  // namespace qlab::labs
