#include "engine/train/evaluate.h"

#include <algorithm>
#include <cmath>

#include "engine/core/error.h"

namespace qlab::train {

double ScoredNll::ppl() const { return count ? std::exp(sum / static_cast<double>(count)) : std::nan(""); }

namespace {

// Chunk windows and their scored targets under llama.cpp's protocol.
void chunk_batch(const std::vector<std::int32_t>& tokens, std::int64_t n_ctx, std::optional<std::int32_t> bos,
                 std::int64_t first_chunk, std::int64_t n_chunks, std::vector<std::int32_t>& in,
                 std::vector<std::int32_t>& tgt) {
  in.assign(static_cast<std::size_t>(n_chunks * n_ctx), 0);
  tgt.assign(in.size(), -1);
  const std::int64_t first = n_ctx / 2;
  for (std::int64_t c = 0; c < n_chunks; ++c) {
    const std::int32_t* src = tokens.data() + (first_chunk + c) * n_ctx;
    std::int32_t* dst = in.data() + c * n_ctx;
    std::copy(src, src + n_ctx, dst);
    if (bos) dst[0] = *bos;
    for (std::int64_t i = first; i + 1 < n_ctx; ++i) tgt[static_cast<std::size_t>(c * n_ctx + i)] = src[i + 1];
  }
}

std::int64_t chunk_count(std::size_t n_tokens, std::int64_t n_ctx, std::int64_t max_chunks) {
  std::int64_t n = static_cast<std::int64_t>(n_tokens) / n_ctx;
  if (n < 1) fail("evaluation text has {} tokens, fewer than one chunk of {}", n_tokens, n_ctx);
  return max_chunks > 0 ? std::min(n, max_chunks) : n;
}

// Sum of log p(cont | prompt) (BOS first), the window truncated on the left to the model's context.
double continuation_logprob(const TrainModel& m, CastContext& ctx, std::vector<std::int32_t> ids, std::size_t n_prompt) {
  const std::size_t limit = static_cast<std::size_t>(m.cfg.max_position_embeddings);
  if (ids.size() > limit) {
    const std::size_t drop = ids.size() - limit;
    ids.erase(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(drop));
    n_prompt = n_prompt > drop ? n_prompt - drop : 1;
  }
  const auto T = static_cast<std::int64_t>(ids.size());
  Activations a(m, 1, T);
  std::vector<std::int32_t> tgt(ids.size(), -1);
  for (std::size_t i = n_prompt - 1; i + 1 < ids.size(); ++i) tgt[i] = ids[i + 1];
  const double nll = forward(m, a, ids.data(), tgt.data(), ctx);
  return -nll;
}

}  // namespace

ScoredNll eval_perplexity(const TrainModel& m, const std::vector<std::int32_t>& tokens, std::int64_t n_ctx,
                          std::optional<std::int32_t> bos, CastContext& ctx, std::int64_t max_chunks) {
  const std::int64_t n_chunks = chunk_count(tokens.size(), n_ctx, max_chunks);
  const std::int64_t per_batch = 8;
  ScoredNll r;
  const bool rec = ctx.record_amax;
  ctx.record_amax = false;
  std::vector<std::int32_t> in, tgt;
  for (std::int64_t c = 0; c < n_chunks; c += per_batch) {
    const std::int64_t nb = std::min(per_batch, n_chunks - c);
    chunk_batch(tokens, n_ctx, bos, c, nb, in, tgt);
    Activations a(m, nb, n_ctx);
    r.sum += forward(m, a, in.data(), tgt.data(), ctx);
    for (auto t : tgt) r.count += t >= 0 ? 1 : 0;
  }
  ctx.record_amax = rec;
  return r;
}

ScoredNll unigram_perplexity(const std::vector<std::int32_t>& fit, int vocab, const std::vector<std::int32_t>& tokens,
                             std::int64_t n_ctx, std::int64_t max_chunks) {
  std::vector<double> count(static_cast<std::size_t>(vocab), 1.0);  // add-one
  double total = vocab;
  for (auto t : fit)
    if (t >= 0 && t < vocab) {
      count[static_cast<std::size_t>(t)] += 1;
      total += 1;
    }
  const std::int64_t n_chunks = chunk_count(tokens.size(), n_ctx, max_chunks);
  std::vector<std::int32_t> in, tgt;
  chunk_batch(tokens, n_ctx, std::nullopt, 0, n_chunks, in, tgt);
  ScoredNll r;
  for (auto t : tgt)
    if (t >= 0) {
      r.sum += -std::log(count[static_cast<std::size_t>(t)] / total);
      ++r.count;
    }
  return r;
}

McScore mc_accuracy(const TrainModel& m, const io::Tokenizer& tok, const std::vector<McItem>& items,
                    CastContext& ctx) {
  const std::int32_t bos = m.cfg.bos_token_id >= 0 ? m.cfg.bos_token_id : 0;
  const bool rec = ctx.record_amax;
  ctx.record_amax = false;
  McScore s;
  for (const auto& it : items) {
    auto with_bos = [&](const std::string& text) {
      std::vector<std::int32_t> ids{bos};
      auto e = tok.encode(text, false);
      ids.insert(ids.end(), e.begin(), e.end());
      return ids;
    };
    // By letter, as MMLU is scored.
    const std::string prompt = mc_prompt(it);
    const std::size_t np = with_bos(prompt).size();
    int best = 0;
    double best_lp = -INFINITY;
    for (int c = 0; c < 4; ++c) {
      double lp = continuation_logprob(m, ctx, with_bos(prompt + " " + static_cast<char>('A' + c)), np);
      if (lp > best_lp) best_lp = lp, best = c;
    }
    s.letter_correct += best == it.answer ? 1 : 0;
    // By the answer text.
    const std::string qa = it.question + "\nAnswer:";
    const std::size_t nq = with_bos(qa).size();
    best = 0;
    best_lp = -INFINITY;
    for (int c = 0; c < 4; ++c) {
      double lp = continuation_logprob(m, ctx, with_bos(qa + " " + it.choices[c] + "."), nq);
      if (lp > best_lp) best_lp = lp, best = c;
    }
    s.text_correct += best == it.answer ? 1 : 0;
    ++s.items;
  }
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
  auto amax = [](const std::vector<float>& v) {
    float a = 0;
    for (float x : v) a = std::max(a, std::fabs(x));
    return a;
  };
  auto amax_n = [](const float* p, std::size_t n) {
    float a = 0;
    for (std::size_t i = 0; i < n; ++i) a = std::max(a, std::fabs(p[i]));
    return a;
  };
  // Activation maxima from float32 passes over the calibration chunks (no BOS rewrite needed).
  const std::int64_t n_chunks = chunk_count(calib.size(), n_ctx, max_chunks);
  std::vector<float> act(static_cast<std::size_t>(L * 7), 0.0f);
  for (std::int64_t ch = 0; ch < n_chunks; ++ch) {
    Activations a(m, 1, n_ctx);
    forward(m, a, calib.data() + ch * n_ctx, nullptr, ctx);
    for (int l = 0; l < L; ++l) {
      const auto& A = a.layers[static_cast<std::size_t>(l)];
      const float in_attn = amax(A.xn1), in_o = amax(A.att), in_mlp = amax(A.xn2), in_down = amax(A.a);
      const float v[7] = {in_attn, in_attn, in_attn, in_o, in_mlp, in_mlp, in_down};
      for (int j = 0; j < 7; ++j) act[static_cast<std::size_t>(l * 7 + j)] = std::max(act[static_cast<std::size_t>(l * 7 + j)], v[j]);
    }
  }
  for (int l = 0; l < L; ++l) {
    const LayerParams& lp = m.layers[static_cast<std::size_t>(l)];
    const std::size_t offs[7] = {lp.wq, lp.wk, lp.wv, lp.wo, lp.w_gate, lp.w_up, lp.w_down};
    for (int j = 0; j < 7; ++j) {
      const ParamTensor* t = nullptr;
      for (const auto& pt : m.tensors)
        if (pt.offset == offs[j]) t = &pt;
      LinearMeta& meta = ctx.metas[static_cast<std::size_t>(l * 7 + j)];
      const float wa = amax_n(m.at(offs[j]), t->size);
      const float xa = act[static_cast<std::size_t>(l * 7 + j)];
      meta.w.scale = wa > 0 ? 448.0f / wa : 1.0f;
      meta.x.scale = xa > 0 ? 448.0f / xa : 1.0f;
    }
  }
  ctx.precision = Precision::FP8;
  ctx.record_amax = false;
  return ctx;
}

}  // namespace qlab::train
