#pragma once
// GPTQ over a whole model in memory (algorithms.md 2.2), layer by layer on a LayerRunner:
//   for each decoder layer, for each group of Linears sharing an input -- [q, k, v], [o], [gate, up],
//   [down] with true_sequential (IST-DASLab/gptq --true-sequential, AutoGPTQ's default), or all seven
//   at once without it -- run the layer on the held inputs with the earlier groups already quantized,
//   accumulating each input's Hessian, and quantize the group's Linears (gptq.h); then run the quantized
//   layer to make the next layer's inputs. Only one input's Hessian (true sequential) or the layer's
//   four is held at a time.
// The quantized weights replace the model's as owned float32 matrices (the values a checkpoint holds);
// each Linear's codes, scales, zeros and g_idx go to on_linear when set (a checkpoint writer's input).
// With a journal (layer_journal.h) each finished layer is recorded, and the layers it already holds are
// replayed (weights decoded, calibration inputs carried through them) instead of quantized again.
#include <functional>
#include <stop_token>
#include <string>
#include <vector>

#include "engine/core/progress.h"
#include "engine/model/model.h"
#include "engine/quant/calibration.h"
#include "engine/quant/gptq.h"

namespace qlab::quant {

struct GptqModelOptions {
  GptqOptions gptq;               // allow_partial_group is set for the in-memory model
  bool true_sequential = true;
  // Where the calibration passes run and X^T X accumulates (nullptr: the CPU), and GPTQ's solve
  // (the Cholesky factorisations, the column updates) where the backend has a solver for it.
  model::Backend* backend = nullptr;
};

struct LinearReport {
  std::string name;               // "layer 3 mlp.down_proj"
  std::int64_t rows = 0, cols = 0;
  double output_error = 0;        // ||(Q - W) X^T||^2 / ||W X^T||^2 on its calibration inputs
  double damp = 0;
  int damp_raises = 0;
  int dead_columns = 0;
  double seconds = 0;
};

// One AWQ scale search (awq_model.h): the input's per-channel mean |x| and the scales chosen for it.
struct AwqSearchReport {
  int layer = 0;
  std::string where;            // "self_attn" (q/k/v), "self_attn.o_proj", "mlp" (gate/up), "mlp.down_proj"
  std::vector<float> x_mean;    // [input channels]
  std::vector<float> scales;    // [input channels]
  double ratio = 0;             // the grid ratio chosen
};

struct ModelQuantReport {
  std::vector<LinearReport> linears;
  std::vector<AwqSearchReport> awq_searches;  // AWQ only
  CalibrationMemory memory;
  double seconds = 0;
  double pass_seconds = 0;  // of seconds, the calibration passes through the layers (LayerRunner)
};

using LinearSink = std::function<void(int layer, const char* name, QuantizedLinear&&)>;

class LayerJournal;  // layer_journal.h

// The bytes GPTQ calibration holds for this model and calibration shape (LayerRunner + Hessians).
CalibrationMemory gptq_memory(const io::ModelConfig& c, std::int64_t samples, std::int64_t seq_len, bool true_sequential);

ModelQuantReport quantize_model_gptq(model::Model& m, const CalibrationSet& calib, const GptqModelOptions& opt,
                                     Progress& progress = Progress::none(), std::stop_token stop = {},
                                     const Warn& warn = {}, const LinearSink& on_linear = {},
                                     LayerJournal* journal = nullptr);

}  // namespace qlab::quant
