#include "engine/quant/gptq_model.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <map>

#include "engine/core/error.h"
#include "engine/quant/input_stats.h"
#include "engine/quant/layer_journal.h"
#include "engine/quant/layer_linears.h"

namespace qlab::quant {

namespace {

using clock_type = std::chrono::steady_clock;
double since(clock_type::time_point t0) { return std::chrono::duration<double>(clock_type::now() - t0).count(); }

std::uint64_t hessian_bytes(std::int64_t cols) { return static_cast<std::uint64_t>(cols * cols) * sizeof(float); }

}  // namespace

CalibrationMemory gptq_memory(const io::ModelConfig& c, std::int64_t samples, std::int64_t seq_len,
                              bool true_sequential) {
  std::uint64_t stats = 0;
  for (auto in : kLinearInputs) {
    const auto b = hessian_bytes(linear_input_cols(c, in));
    stats = true_sequential ? std::max(stats, b) : stats + b;
  }
  // gptq_quantize's working copies: H, its factor, W twice (the largest Linear, down or gate/up).
  const std::int64_t big = std::max(c.hidden_size, c.intermediate_size);
  stats += 2 * hessian_bytes(big) + 2ull * static_cast<std::uint64_t>(c.hidden_size) *
                                        static_cast<std::uint64_t>(c.intermediate_size) * sizeof(float);
  return calibration_memory(c, samples, seq_len, stats);
}

ModelQuantReport quantize_model_gptq(model::Model& m, const CalibrationSet& calib, const GptqModelOptions& opt,
                                     Progress& progress, std::stop_token stop, const Warn& warn,
                                     const LinearSink& on_linear, LayerJournal* journal) {
  const auto t0 = clock_type::now();
  const io::ModelConfig& c = m.config();
  ModelQuantReport report;
  report.memory = gptq_memory(c, calib.samples, calib.seq_len, opt.true_sequential);
  const int L = c.num_hidden_layers;
  progress.report(0, fmt::format("embedding {} x {} calibration tokens", calib.samples, calib.seq_len));
  LayerRunner runner(m, calib, 0, opt.backend ? *opt.backend : model::cpu_backend());
  GptqOptions gopt = opt.gptq;
  gopt.allow_partial_group = true;  // in memory any width works, as the reference's slicing does
  const std::unique_ptr<model::GptqSolver> solver = opt.backend ? opt.backend->gptq_solver() : nullptr;
  if (solver) gopt.solver = solver.get();

  // Groups of inputs quantized together, in the layer's order.
  std::vector<std::vector<model::LinearInput>> stages;
  if (opt.true_sequential)
    for (auto in : kLinearInputs) stages.push_back({in});
  else
    stages.push_back({kLinearInputs.begin(), kLinearInputs.end()});
  const double steps_per_layer = static_cast<double>(stages.size() + 1);

  const int resumed = journal ? journal->layers_done() : 0;
  for (int layer = 0; layer < L; ++layer) {
    model::LayerWeights& lw = m.mutable_weights().layers[static_cast<std::size_t>(layer)];
    if (layer < resumed) {
      check_cancel(stop);
      progress.report(static_cast<double>(layer) / L,
                      fmt::format("layer {}/{}: finished by the interrupted run", layer + 1, L));
      replay_layer(journal->load(layer), layer, lw, report, on_linear);
      runner.advance(layer, {}, stop);  // through the quantized layer, as the run did
      continue;
    }
    FinishedLayer finished;
    for (std::size_t s = 0; s < stages.size(); ++s) {
      check_cancel(stop);
      const auto& inputs = stages[s];
      progress.report((layer + static_cast<double>(s) / steps_per_layer) / L,
                      fmt::format("layer {}/{}: collecting {}", layer + 1, L, linear_input_name(inputs[0])));
      std::map<model::LinearInput, InputStats> stats;
      for (auto in : inputs)
        stats.emplace(in, InputStats(linear_input_cols(c, in), true,
                                     fmt::format("layer {} {} input", layer, linear_input_name(in))));
      runner.capture(layer, [&](const model::LinearInputView& v) {
        auto it = stats.find(v.which);
        if (it != stats.end()) it->second.add(v);
      }, stop);
      for (auto in : inputs) {
        const InputStats& st = stats.at(in);
        const std::vector<float> h = st.hessian();
        for (const LayerLinear& l : kLayerLinears) {
          if (l.input != in) continue;
          check_cancel(stop);
          const auto tl = clock_type::now();
          tensor::Matrix& w = lw.*(l.weight);
          const std::string name = linear_label(layer, l);
          progress.report((layer + static_cast<double>(s) / steps_per_layer) / L,
                          fmt::format("layer {}/{}: gptq {}", layer + 1, L, l.name));
          const std::vector<float> wf = w.to_f32();
          GptqStats gs;
          QuantizedLinear q = gptq_quantize(wf, w.rows, w.cols, h, gopt, name, warn, &gs);
          LinearReport r;
          r.name = name;
          r.rows = w.rows;
          r.cols = w.cols;
          r.output_error = output_error(wf, q.dequantized, w.rows, w.cols, h);
          r.damp = gs.damp;
          r.damp_raises = gs.damp_raises;
          r.dead_columns = gs.dead_columns;
          w = tensor::Matrix::owned_f32(q.dequantized, w.rows, w.cols);
          if (journal) finished.linears.emplace_back(l.name, linear_parts_only(q));
          if (on_linear) on_linear(layer, l.name, std::move(q));
          r.seconds = since(tl);
          if (journal) finished.reports.push_back(r);
          report.linears.push_back(std::move(r));
        }
      }
    }
    check_cancel(stop);
    progress.report((layer + (steps_per_layer - 1) / steps_per_layer) / L,
                    fmt::format("layer {}/{}: running the quantized layer", layer + 1, L));
    runner.advance(layer, {}, stop);
    if (journal) {
      take_layer_vectors(lw, finished);
      journal->record(layer, finished);
    }
  }
  progress.report(1, fmt::format("gptq: {} layers done", L));
  report.seconds = since(t0);
  report.pass_seconds = runner.seconds();
  return report;
}

}  // namespace qlab::quant
