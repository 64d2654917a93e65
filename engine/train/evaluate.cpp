#include "engine/train/evaluate.h"

#include <algorithm>
#include <cmath>

#include "engine/core/error.h"
#include "engine/quant/fp8_calibration.h"

namespace qlab::train {

double ScoredNll::ppl() const { return count ? std::exp(sum / static_cast<double>(count)) : std::nan(""); }

eval::PplSetup held_out_setup(const TrainModel& m, const std::vector<std::int32_t>& tokens, std::int64_t n_ctx,
                              std::int64_t max_chunks) {
  eval::PplRequest req;
  req.tokens = tokens;
  req.n_ctx = n_ctx;
  req.max_chunks = max_chunks;
  return eval::ppl_setup(m.cfg, nullptr, std::move(req));
}

ScoredNll eval_perplexity(const TrainModel& m, const eval::PplSetup& setup, CastContext& ctx) {
  const std::vector<eval::Window> windows =
      eval::plan_windows(static_cast<std::int64_t>(setup.tokens.size()), setup.options);
  // Up to 8 windows of one length per forward pass (all of them, in the llama.cpp protocol).
  constexpr std::size_t kPerBatch = 8;
  ScoredNll r;
  const bool rec = ctx.record_amax;
  ctx.record_amax = false;
  std::vector<std::int32_t> in, tgt;
  for (std::size_t c = 0; c < windows.size();) {
    const std::int64_t T = windows[c].len;
    std::size_t nb = 1;
    while (nb < kPerBatch && c + nb < windows.size() && windows[c + nb].len == T) ++nb;
    in.assign(nb * static_cast<std::size_t>(T), 0);
    tgt.assign(in.size(), -1);
    for (std::size_t b = 0; b < nb; ++b) {
      const eval::Window& w = windows[c + b];
      const std::int32_t* src = setup.tokens.data() + w.begin;
      std::int32_t* dst = in.data() + b * static_cast<std::size_t>(T);
      std::copy(src, src + T, dst);
      if (w.bos) dst[0] = *setup.options.bos;
      for (std::int64_t i = w.score_from; i < w.score_from + w.n_scored; ++i)
        tgt[b * static_cast<std::size_t>(T) + static_cast<std::size_t>(i)] = src[i + 1];
    }
    Activations a(m, static_cast<std::int64_t>(nb), T);
    r.sum += forward(m, a, in.data(), tgt.data(), ctx);
    for (auto t : tgt) r.count += t >= 0 ? 1 : 0;
    c += nb;
  }
  ctx.record_amax = rec;
  return r;
}

eval::McScore mc_accuracy(const TrainModel& m, const io::Tokenizer& tok, std::span<const eval::McItem> items,
                          CastContext& ctx) {
  const bool rec = ctx.record_amax;
  ctx.record_amax = false;
  auto logprob = [&](std::span<const std::int32_t> ids, std::size_t n_prompt) {
    const auto T = static_cast<std::int64_t>(ids.size());
    Activations a(m, 1, T);
    std::vector<std::int32_t> tgt(ids.size(), -1);
    for (std::size_t i = n_prompt - 1; i + 1 < ids.size(); ++i) tgt[i] = ids[i + 1];
    return -forward(m, a, ids.data(), tgt.data(), ctx);
  };
  // The trainer's models always name a BOS (the corpus's <|endoftext|>, id 0 unless the config says).
  const std::int32_t bos = m.cfg.bos_token_id >= 0 ? m.cfg.bos_token_id : 0;
  const eval::McScore s = eval::mc_accuracy(logprob, tok, items, bos, m.cfg.max_position_embeddings);
  ctx.record_amax = rec;
  return s;
}

CastContext calibrate_fp8_inference(const TrainModel& m, const std::vector<std::int32_t>& calib, std::int64_t n_ctx,
                                    std::int64_t max_chunks) {
  const io::ModelConfig& c = m.cfg;
  const int L = c.num_hidden_layers;
  CastContext ctx;
  ctx.precision = Precision::FP32;
  ctx.metas.assign(static_cast<std::size_t>(L * 7 + 1), LinearMeta{});
  // Linear j of layer l is number l * 7 + j: q, k, v, o, gate, up, down (the order of ctx.metas).
  quant::MaxCalibrator cal(static_cast<std::size_t>(L * 7));
  const std::int64_t n_chunks = quant::calibration_chunks(calib.size(), n_ctx, max_chunks);
  for (std::int64_t ch = 0; ch < n_chunks; ++ch) {
    // float32 passes over whole chunks (no BOS rewrite needed for activation maxima)
    Activations a(m, 1, n_ctx);
    forward(m, a, calib.data() + ch * n_ctx, nullptr, ctx);
    for (int l = 0; l < L; ++l) {
      const auto& A = a.layers[static_cast<std::size_t>(l)];
      const std::vector<float>* inputs[7] = {&A.xn1, &A.xn1, &A.xn1, &A.att, &A.xn2, &A.xn2, &A.a};
      for (int j = 0; j < 7; ++j) cal.observe_input(static_cast<std::size_t>(l * 7 + j), *inputs[j]);
    }
  }
  for (int l = 0; l < L; ++l) {
    const LayerParams& lp = m.layers[static_cast<std::size_t>(l)];
    const std::size_t offs[7] = {lp.wq, lp.wk, lp.wv, lp.wo, lp.w_gate, lp.w_up, lp.w_down};
    for (int j = 0; j < 7; ++j) {
      const auto t = std::find_if(m.tensors.begin(), m.tensors.end(),
                                  [&](const ParamTensor& pt) { return pt.offset == offs[j]; });
      if (t == m.tensors.end()) fail("calibration: layer {} has no Linear weight at offset {}", l, offs[j]);
      cal.observe_weight(static_cast<std::size_t>(l * 7 + j), std::span<const float>(m.at(offs[j]), t->size));
    }
  }
  const std::vector<quant::Fp8Scales> scales = cal.scales(formats::ScalarFormat::E4M3);
  for (std::size_t i = 0; i < scales.size(); ++i) {
    ctx.metas[i].w.scale = scales[i].weight;
    ctx.metas[i].x.scale = scales[i].input;
  }
  ctx.precision = Precision::FP8;
  ctx.record_amax = false;
  return ctx;
}

}  // namespace qlab::train
