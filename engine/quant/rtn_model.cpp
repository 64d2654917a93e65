#include "engine/quant/rtn_model.h"

#include <chrono>

#include <fmt/format.h>

#include "engine/core/error.h"
#include "engine/quant/awq.h"
#include "engine/quant/layer_linears.h"

namespace qlab::quant {

ModelQuantReport quantize_model_rtn(model::Model& m, int bits, std::int64_t group, bool symmetric, Progress& progress,
                                    std::stop_token stop, const LinearSink& on_linear) {
  const auto t0 = std::chrono::steady_clock::now();
  ModelQuantReport report;
  const int L = m.config().num_hidden_layers;
  for (int layer = 0; layer < L; ++layer) {
    model::LayerWeights& lw = m.mutable_weights().layers[static_cast<std::size_t>(layer)];
    progress.report(static_cast<double>(layer) / L, fmt::format("layer {}/{}: rtn", layer + 1, L));
    for (const LayerLinear& l : kLayerLinears) {
      check_cancel(stop);
      tensor::Matrix& w = lw.*(l.weight);
      const std::string name = linear_label(layer, l);
      QuantizedLinear q = round_to_nearest(w.to_f32(), w.rows, w.cols, bits, group, symmetric, name);
      LinearReport r;
      r.name = name;
      r.rows = w.rows;
      r.cols = w.cols;
      w = tensor::Matrix::owned_f32(q.dequantized, w.rows, w.cols);
      if (on_linear) on_linear(layer, l.name, std::move(q));
      report.linears.push_back(std::move(r));
    }
  }
  progress.report(1, fmt::format("rtn: {} layers done", L));
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return report;
}

}  // namespace qlab::quant
