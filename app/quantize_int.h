#pragma once
// `qlab quantize MODEL --method gptq|awq|rtn --format intB-gG[-sym] --out DIR [--export gptq|awq|
// compressed-tensors]`: the model loaded, quantized in memory (calibrated for gptq and awq), and written
// as an integer checkpoint (engine/exporter/int_export.h). cmd_quantize.cpp hands these methods here.
#include "app/cli.h"

namespace qlab::app {

bool is_int_quantize_method(const std::string& method);  // gptq, awq, rtn
int run_int_quantize(const Args& a);

}  // namespace qlab::app
