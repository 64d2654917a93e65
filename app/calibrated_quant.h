#pragma once
// `--method gptq|awq|rtn` for the commands that quantize a whole model in memory (qlab ppl): the
// calibration options, their checks, and the run that replaces the model's Linear weights.
#include <filesystem>
#include <stop_token>
#include <vector>

#include <nlohmann/json.hpp>

#include "app/cli.h"
#include "engine/core/progress.h"
#include "engine/formats/block.h"
#include "engine/model/model.h"
#include "engine/quant/gptq_model.h"

namespace qlab::app {

// --method, --calib, --samples, --seq-len, --seed, --act-order (appended to a command's options).
std::vector<Option> calibration_options();
// c with calibration_options() appended to its options.
Command with_calibration_options(Command c);

// --calib, or the model folder's calib.txt, else the built-in model's.
std::filesystem::path calibration_text(const Args& a, const std::filesystem::path& model_dir);

// "rtn" (default), "gptq" or "awq"; UsageError for anything else, for calibration flags without a
// calibrated method, and for a method without --quant.
std::string quant_method(const Args& a);

// Quantizes `m` (loaded from model_dir) to `spec` with the calibrated method: prints the calibration
// plan and warnings (stderr) unless json, and adds a "calibration" object to j.
// on_linear receives each Linear's codes, scales and zeros (a checkpoint writer's input); stop cancels;
// journal keeps finished layers and replays those it holds (quant/layer_journal.h); backend runs the
// calibration passes (nullptr: the CPU).
void quantize_calibrated(const Args& a, const std::string& method, const std::filesystem::path& model_dir,
                         model::Model& m, const formats::BlockFormatSpec& spec, Progress& progress,
                         nlohmann::json& j, bool json, const quant::LinearSink& on_linear = {},
                         std::stop_token stop = {}, quant::LayerJournal* journal = nullptr,
                         model::Backend* backend = nullptr);

}  // namespace qlab::app
