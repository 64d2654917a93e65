#include "engine/quant/awq_model.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <chrono>

#include "engine/core/error.h"
#include "engine/model/backend.h"
#include "engine/quant/input_stats.h"
#include "engine/quant/layer_journal.h"
#include "engine/quant/layer_linears.h"

namespace qlab::quant {

namespace {

using clock_type = std::chrono::steady_clock;
double since(clock_type::time_point t0) { return std::chrono::duration<double>(clock_type::now() - t0).count(); }

double mse(const std::vector<float>& a, const std::vector<float>& b) {
  double e = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const double d = static_cast<double>(a[i]) - b[i];
    e += d * d;
  }
  return e / static_cast<double>(a.size());
}

tensor::Matrix f32(const std::vector<float>& w, std::int64_t rows, std::int64_t cols) {
  return tensor::Matrix::owned_f32(w, rows, cols);
}

// y [n, W.rows] = x [n, W.cols] W^T
std::vector<float> linear(const std::vector<float>& x, std::int64_t n, const tensor::Matrix& w) {
  std::vector<float> y(static_cast<std::size_t>(n * w.rows));
  tensor::matmul(x.data(), n, w, y.data());
  return y;
}

// The MLP block: down(silu(x Wg^T) * x Wu^T).
std::vector<float> mlp_output(const std::vector<float>& x, std::int64_t n, const tensor::Matrix& wg,
                              const tensor::Matrix& wu, const tensor::Matrix& wd) {
  std::vector<float> g = linear(x, n, wg);
  const std::vector<float> u = linear(x, n, wu);
  model::cpu_backend().swiglu(g.data(), u.data(), n, wg.rows);
  return linear(g, n, wd);
}

void scale_columns(std::vector<float>& w, std::int64_t cols, const std::vector<float>& s, bool divide) {
  for (std::size_t i = 0; i < w.size(); ++i) w[i] = divide ? w[i] / s[i % static_cast<std::size_t>(cols)]
                                                           : w[i] * s[i % static_cast<std::size_t>(cols)];
}

// Rows [rows - s.size(), rows) divided by s (AutoAWQ scale_fc_fc: the previous Linear's last len(s) rows).
void divide_last_rows(std::vector<float>& w, std::int64_t rows, std::int64_t cols, const std::vector<float>& s) {
  const std::int64_t first = rows - static_cast<std::int64_t>(s.size());
  for (std::int64_t r = first; r < rows; ++r)
    for (std::int64_t c = 0; c < cols; ++c) w[static_cast<std::size_t>(r * cols + c)] /= s[static_cast<std::size_t>(r - first)];
}

}  // namespace

CalibrationMemory awq_memory(const io::ModelConfig& c, std::int64_t samples, std::int64_t seq_len) {
  const auto tokens = static_cast<std::uint64_t>(samples * seq_len);
  std::uint64_t per_token = 0;
  for (auto in : kLinearInputs) per_token += static_cast<std::uint64_t>(linear_input_cols(c, in));
  // cached inputs, the module's float output and one trial's output, the MLP's intermediates
  per_token += 2 * static_cast<std::uint64_t>(c.hidden_size) + 2 * static_cast<std::uint64_t>(c.intermediate_size);
  return calibration_memory(c, samples, seq_len, tokens * per_token * sizeof(float));
}

void self_attention_output(const model::Model& m, int layer, const model::LayerWeights& lw, const float* h,
                           std::int64_t samples, std::int64_t seq_len, float* out) {
  const io::ModelConfig& c = m.config();
  model::Backend& be = model::cpu_backend();
  const std::int64_t batch = std::clamp<std::int64_t>(2048 / seq_len, 1, samples);
  std::vector<model::KVCache> store;
  for (std::int64_t b = 0; b < batch; ++b) store.emplace_back(c, seq_len, 1);
  const auto per_seq = static_cast<std::size_t>(seq_len * c.hidden_size);
  for (std::int64_t s0 = 0; s0 < samples; s0 += batch) {
    const std::int64_t nb = std::min(batch, samples - s0);
    std::vector<model::KVCache*> caches;
    for (std::int64_t b = 0; b < nb; ++b) {
      store[static_cast<std::size_t>(b)].clear();
      caches.push_back(&store[static_cast<std::size_t>(b)]);
    }
    model::check_caches(c, caches, seq_len, false);
    model::Pass& p = be.begin_pass(m, caches, seq_len);
    be.upload(h + static_cast<std::size_t>(s0) * per_seq, p.R * c.hidden_size, p.h);
    const model::NewKV kv = be.new_kv(p, layer);
    be.matmul(p.h, p.R, lw.wq, p.q);
    be.matmul(p.h, p.R, lw.wk, kv.k);
    be.matmul(p.h, p.R, lw.wv, kv.v);
    be.bias_rope(p, lw, kv);
    be.store_kv(p, layer, kv);
    be.attention(p, layer);
    be.matmul(p.att, p.R, lw.wo, p.h);
    be.download(p.h, p.R * c.hidden_size, out + static_cast<std::size_t>(s0) * per_seq);
    for (model::KVCache* cache : caches) cache->advance(seq_len);
  }
}

ModelQuantReport quantize_model_awq(model::Model& m, const CalibrationSet& calib, const AwqOptions& opt,
                                    Progress& progress, std::stop_token stop, const Warn&,
                                    const LinearSink& on_linear, LayerJournal* journal) {
  const auto t0 = clock_type::now();
  const io::ModelConfig& c = m.config();
  ModelQuantReport report;
  report.memory = awq_memory(c, calib.samples, calib.seq_len);
  const int L = c.num_hidden_layers;
  progress.report(0, fmt::format("embedding {} x {} calibration tokens", calib.samples, calib.seq_len));
  LayerRunner runner(m, calib, 0, opt.backend ? *opt.backend : model::cpu_backend());
  const std::int64_t n = runner.tokens();
  constexpr int kQ = 0, kK = 1, kV = 2, kO = 3, kGate = 4, kUp = 5, kDown = 6;

  const int resumed = journal ? journal->layers_done() : 0;
  for (int layer = 0; layer < L; ++layer) {
    check_cancel(stop);
    model::LayerWeights& lw = m.mutable_weights().layers[static_cast<std::size_t>(layer)];
    auto label = [&](const char* what) { return fmt::format("layer {}/{}: awq {}", layer + 1, L, what); };
    if (layer < resumed) {
      progress.report(static_cast<double>(layer) / L, label("finished by the interrupted run"));
      runner.advance(layer, {}, stop);  // through the original block, as the run did
      replay_layer(journal->load(layer), layer, lw, report, on_linear);
      continue;
    }
    FinishedLayer finished;
    const std::size_t searches_before = report.awq_searches.size();
    progress.report(static_cast<double>(layer) / L, label("caching inputs"));
    // 1. The block's Linear inputs for every sample; the held states become its (float) outputs.
    std::array<std::vector<float>, 4> X;
    std::array<std::int64_t, 4> filled{};
    for (auto in : kLinearInputs)
      X[static_cast<std::size_t>(in)].resize(static_cast<std::size_t>(n * linear_input_cols(c, in)));
    runner.advance(layer, [&](const model::LinearInputView& v) {
      const auto i = static_cast<std::size_t>(v.which);
      check_finite(std::span<const float>(v.host(), static_cast<std::size_t>(v.rows * v.cols)), v.rows, v.cols,
                   fmt::format("layer {} {} input", layer, linear_input_name(v.which)));
      std::copy_n(v.host(), v.rows * v.cols, X[i].data() + filled[i] * v.cols);
      filled[i] += v.rows;
    }, stop);
    std::vector<float>& Xqkv = X[static_cast<std::size_t>(model::LinearInput::QKV)];
    std::vector<float>& Xo = X[static_cast<std::size_t>(model::LinearInput::O)];
    std::vector<float>& Xgu = X[static_cast<std::size_t>(model::LinearInput::GateUp)];
    std::vector<float>& Xd = X[static_cast<std::size_t>(model::LinearInput::Down)];
    // 2. The original weights, float32.
    std::array<std::vector<float>, 7> W;
    std::array<std::int64_t, 7> rows{}, cols{};
    for (std::size_t i = 0; i < kLayerLinears.size(); ++i) {
      const tensor::Matrix& w = lw.*(kLayerLinears[i].weight);
      W[i] = w.to_f32();
      rows[i] = w.rows;
      cols[i] = w.cols;
      check_finite(W[i], w.rows, w.cols, linear_label(layer, kLayerLinears[i]) + " weight");
    }
    auto view = [&](int i) { return WeightView{W[static_cast<std::size_t>(i)].data(), rows[static_cast<std::size_t>(i)], cols[static_cast<std::size_t>(i)]}; };
    auto mean_abs = [&](const std::vector<float>& x, std::int64_t k) {
      InputStats st(k, false, "awq");
      st.add(x.data(), n);
      return st.mean_abs();
    };
    const std::string where = fmt::format("layer {}", layer);
    // 3. Scale searches, each on the block's original weights.
    progress.report((layer + 0.2) / L, label("scales q/k/v"));
    std::vector<float> attn_ref(static_cast<std::size_t>(n * c.hidden_size)), attn_out(attn_ref.size());
    self_attention_output(m, layer, lw, Xqkv.data(), runner.samples(), runner.seq_len(), attn_ref.data());
    const std::array<WeightView, 3> qkv = {view(kQ), view(kK), view(kV)};
    const std::vector<float> xm_qkv = mean_abs(Xqkv, c.hidden_size);
    const AwqScaleSearch s_qkv = awq_search_scale(qkv, xm_qkv, opt, where + " self_attn",
        [&](const std::vector<std::vector<float>>& qw) {
          model::LayerWeights t = lw;
          t.wq = f32(qw[0], rows[kQ], cols[kQ]);
          t.wk = f32(qw[1], rows[kK], cols[kK]);
          t.wv = f32(qw[2], rows[kV], cols[kV]);
          self_attention_output(m, layer, t, Xqkv.data(), runner.samples(), runner.seq_len(), attn_out.data());
          return mse(attn_ref, attn_out);
        });
    check_cancel(stop);
    const bool scale_o = rows[kV] == rows[kO] && cols[kV] == cols[kO];
    AwqScaleSearch s_o;
    std::vector<float> xm_o;
    if (scale_o) {
      progress.report((layer + 0.4) / L, label("scales o"));
      const auto ref = linear(Xo, n, lw.wo);
      const std::array<WeightView, 1> o = {view(kO)};
      xm_o = mean_abs(Xo, cols[kO]);
      s_o = awq_search_scale(o, xm_o, opt, where + " self_attn.o_proj",
                             [&](const std::vector<std::vector<float>>& qw) {
                               return mse(ref, linear(Xo, n, f32(qw[0], rows[kO], cols[kO])));
                             });
    }
    check_cancel(stop);
    progress.report((layer + 0.5) / L, label("scales gate/up"));
    const auto mlp_ref = mlp_output(Xgu, n, lw.w_gate, lw.w_up, lw.w_down);
    const std::array<WeightView, 2> gu = {view(kGate), view(kUp)};
    const std::vector<float> xm_mlp = mean_abs(Xgu, c.hidden_size);
    const AwqScaleSearch s_mlp = awq_search_scale(gu, xm_mlp, opt, where + " mlp",
        [&](const std::vector<std::vector<float>>& qw) {
          return mse(mlp_ref, mlp_output(Xgu, n, f32(qw[0], rows[kGate], cols[kGate]), f32(qw[1], rows[kUp], cols[kUp]),
                                         lw.w_down));
        });
    check_cancel(stop);
    progress.report((layer + 0.6) / L, label("scales down"));
    const auto down_ref = linear(Xd, n, lw.w_down);
    const std::array<WeightView, 1> dn = {view(kDown)};
    const std::vector<float> xm_down = mean_abs(Xd, cols[kDown]);
    const AwqScaleSearch s_down = awq_search_scale(dn, xm_down, opt, where + " mlp.down_proj",
        [&](const std::vector<std::vector<float>>& qw) {
          return mse(down_ref, linear(Xd, n, f32(qw[0], rows[kDown], cols[kDown])));
        });
    report.awq_searches.push_back({layer, "self_attn", xm_qkv, s_qkv.scales, s_qkv.ratio});
    if (scale_o) report.awq_searches.push_back({layer, "self_attn.o_proj", xm_o, s_o.scales, s_o.ratio});
    report.awq_searches.push_back({layer, "mlp", xm_mlp, s_mlp.scales, s_mlp.ratio});
    report.awq_searches.push_back({layer, "mlp.down_proj", xm_down, s_down.scales, s_down.ratio});
    // 4. Fold the scales: prev op / s, the Linears' columns * s, their cached inputs / s.
    for (std::size_t i = 0; i < lw.attn_norm.size(); ++i) lw.attn_norm[i] /= s_qkv.scales[i];
    for (int i : {kQ, kK, kV}) scale_columns(W[static_cast<std::size_t>(i)], cols[static_cast<std::size_t>(i)], s_qkv.scales, false);
    scale_columns(Xqkv, c.hidden_size, s_qkv.scales, true);
    if (scale_o) {
      divide_last_rows(W[kV], rows[kV], cols[kV], s_o.scales);
      if (!lw.bv.empty())
        for (std::size_t i = 0; i < lw.bv.size(); ++i) lw.bv[i] /= s_o.scales[i];
      scale_columns(W[kO], cols[kO], s_o.scales, false);
      scale_columns(Xo, cols[kO], s_o.scales, true);
    }
    for (std::size_t i = 0; i < lw.mlp_norm.size(); ++i) lw.mlp_norm[i] /= s_mlp.scales[i];
    for (int i : {kGate, kUp}) scale_columns(W[static_cast<std::size_t>(i)], cols[static_cast<std::size_t>(i)], s_mlp.scales, false);
    scale_columns(Xgu, c.hidden_size, s_mlp.scales, true);
    divide_last_rows(W[kUp], rows[kUp], cols[kUp], s_down.scales);
    scale_columns(W[kDown], cols[kDown], s_down.scales, false);
    scale_columns(Xd, cols[kDown], s_down.scales, true);
    // 5. Clip (not q, k: their product with each other is hard to clip precisely), 6. quantize.
    for (std::size_t i = 0; i < kLayerLinears.size(); ++i) {
      check_cancel(stop);
      const LayerLinear& l = kLayerLinears[i];
      const std::vector<float>& x = X[static_cast<std::size_t>(l.input)];
      progress.report((layer + 0.7 + 0.04 * static_cast<double>(i)) / L, label(l.name));
      const auto tl = clock_type::now();
      const std::vector<float> scaled = W[i];
      if (opt.clip && static_cast<int>(i) != kQ && static_cast<int>(i) != kK)
        apply_clip(W[i], rows[i], cols[i], awq_search_clip(W[i], rows[i], cols[i], x, n, opt), opt.group_size);
      QuantizedLinear q = round_to_nearest(W[i], rows[i], cols[i], opt.bits, opt.group_size, opt.symmetric,
                                           linear_label(layer, l));
      // Output error on the clip's token subsample, in the scaled space (W s against x / s).
      const std::int64_t step = std::max<std::int64_t>(1, n / opt.clip_tokens);
      std::vector<float> xs;
      for (std::int64_t t = 0; t < n; t += step)
        xs.insert(xs.end(), x.begin() + t * cols[i], x.begin() + (t + 1) * cols[i]);
      InputStats sub(cols[i], true, "awq");
      sub.add(xs.data(), static_cast<std::int64_t>(xs.size()) / cols[i]);
      LinearReport r;
      r.name = linear_label(layer, l);
      r.rows = rows[i];
      r.cols = cols[i];
      r.output_error = output_error(scaled, q.dequantized, rows[i], cols[i], sub.gram());
      lw.*(l.weight) = f32(q.dequantized, rows[i], cols[i]);
      if (journal) finished.linears.emplace_back(l.name, linear_parts_only(q));
      if (on_linear) on_linear(layer, l.name, std::move(q));
      r.seconds = since(tl);
      if (journal) finished.reports.push_back(r);
      report.linears.push_back(std::move(r));
    }
    if (journal) {
      finished.searches.assign(report.awq_searches.begin() + static_cast<std::ptrdiff_t>(searches_before),
                               report.awq_searches.end());
      take_layer_vectors(lw, finished);
      journal->record(layer, finished);
    }
  }
  progress.report(1, fmt::format("awq: {} layers done", L));
  report.seconds = since(t0);
  report.pass_seconds = runner.seconds();
  return report;
}

}  // namespace qlab::quant
