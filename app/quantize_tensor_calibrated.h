#pragma once
// qlab quantize-tensor --method gptq|awq: one Linear weight quantized with its calibration activations,
// its output error beside round-to-nearest's on the same format.
#include <vector>

#include "app/cli.h"

namespace qlab::app {

// --method, --acts, --samples, --act-order, --static-groups, --damp (appended to quantize-tensor's options).
std::vector<Option> calibrated_tensor_options();
// Command c with those options appended.
Command with_calibrated_tensor_options(Command c);
// "rtn" (default) or the calibrated method; UsageError for a bad name or calibration flags with rtn.
std::string tensor_method(const Args& a);
// Runs --method gptq|awq; returns the exit code.
int run_calibrated_tensor(const Args& a, const std::string& method);

}  // namespace qlab::app
