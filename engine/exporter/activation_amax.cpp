// Calibration amax of every Linear input (activation_amax.h).
#include "engine/exporter/activation_amax.h"

#include <array>
#include <cmath>

#include <fmt/format.h>

#include "engine/core/error.h"
#include "engine/io/tokenizer.h"
#include "engine/model/decoder_layer.h"
#include "engine/model/model.h"
#include "engine/quant/calibration.h"

namespace qlab::exporter {

ActivationAmax activation_amax(const std::filesystem::path& model_dir, const CalibrationOptions& o,
                               Progress& progress, std::stop_token stop,
                               const std::function<void(const std::string&)>& warn) {
  const model::Model m = model::Model::load(model_dir);
  const io::Tokenizer tok = io::Tokenizer::load(model_dir);
  const std::int64_t seq_len = quant::calibration_seq_len(m.config(), o.seq_len, 512);
  const quant::CalibrationSet set = quant::load_calibration(o.text, tok, o.samples, seq_len, o.seed, warn);
  quant::LayerRunner runner(m, set, 0, o.backend ? *o.backend : model::cpu_backend());
  ActivationAmax r;
  r.samples = set.samples;
  r.seq_len = set.seq_len;
  r.hidden_bytes = runner.hidden_bytes();
  r.source = set.source;
  const int layers = m.config().num_hidden_layers;
  for (int l = 0; l < layers; ++l) {
    check_cancel(stop);
    progress.report(static_cast<double>(l) / layers, fmt::format("calibrating layer {}/{}", l + 1, layers));
    std::array<float, 4> amax{};  // by model::LinearInput
    runner.advance(l, [&](const model::LinearInputView& v) {
      float a = amax[static_cast<std::size_t>(v.which)];
      const float* x = v.host();
      for (std::int64_t i = 0; i < v.rows * v.cols; ++i) a = std::max(a, std::fabs(x[i]));
      if (!std::isfinite(a))
        fail("calibration: layer {} produced a non-finite {} input (is the model's dtype range exceeded?)", l,
             model::linear_input_name(v.which));
      amax[static_cast<std::size_t>(v.which)] = a;
    }, stop);
    const std::string p = fmt::format("model.layers.{}.", l);
    const auto at = [&](model::LinearInput w) { return amax[static_cast<std::size_t>(w)]; };
    for (const char* q : {"q_proj", "k_proj", "v_proj"}) r.by_module[p + "self_attn." + q] = at(model::LinearInput::QKV);
    r.by_module[p + "self_attn.o_proj"] = at(model::LinearInput::O);
    for (const char* g : {"gate_proj", "up_proj"}) r.by_module[p + "mlp." + g] = at(model::LinearInput::GateUp);
    r.by_module[p + "mlp.down_proj"] = at(model::LinearInput::Down);
    const model::LayerWeights& lw = m.weights().layers[static_cast<std::size_t>(l)];
    for (const tensor::Matrix* w : {&lw.wq, &lw.wk, &lw.wv, &lw.wo, &lw.w_gate, &lw.w_up, &lw.w_down})
      w->release_mapped_pages();
  }
  return r;
}

}  // namespace qlab::exporter
