#include "engine/eval/perplexity.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>

#include "engine/core/error.h"
#include "engine/core/threads.h"
#include "engine/model/forward.h"
#include "engine/tensor/ops.h"
#include "engine/model/sampling.h"

namespace qlab::eval {

double NllStats::ppl() const { return count ? std::exp(sum / static_cast<double>(count)) : 0.0; }

double NllStats::ppl_error() const {
  if (count < 2) return 0.0;
  const double m = sum / static_cast<double>(count);
  const double var = sum2 / static_cast<double>(count) - m * m;
  return var > 0 ? ppl() * std::sqrt(var / static_cast<double>(count - 1)) : 0.0;
}

Quantiles quantiles(std::vector<double> v) {
  Quantiles q;
  if (v.empty()) return q;
  std::sort(v.begin(), v.end());
  auto at = [&](double f) {
    const double p = f * static_cast<double>(v.size() - 1);
    const auto lo = static_cast<std::size_t>(std::floor(p));
    const std::size_t hi = std::min(lo + 1, v.size() - 1);
    return v[lo] + (v[hi] - v[lo]) * (p - static_cast<double>(lo));
  };
  q.max = v.back();
  q.p999 = at(0.999);
  q.p99 = at(0.99);
  q.p95 = at(0.95);
  q.p90 = at(0.90);
  q.median = at(0.5);
  q.p10 = at(0.10);
  q.p5 = at(0.05);
  q.p1 = at(0.01);
  q.min = v.front();
  return q;
}

double token_nll(std::span<const float> logits, std::int32_t target) {
  return tensor::log_sum_exp(logits.data(), static_cast<std::int64_t>(logits.size())) -
         static_cast<double>(logits[static_cast<std::size_t>(target)]);
}

namespace {

// One model evaluation: tokens [begin, begin + len) of the stream, then `n_scored` targets at
// window positions score_from + 1 ... ; the logits predicting them are rows score_from ... of the window.
struct Window {
  std::int64_t begin = 0, len = 0, score_from = 0, n_scored = 0;
  bool bos = false;
};

std::vector<Window> plan(std::int64_t n_tokens, const PplOptions& opt) {
  const std::int64_t ctx = opt.n_ctx;
  if (ctx < 4) fail("context {} is too small (at least 4 tokens)", ctx);
  std::vector<Window> w;
  if (opt.stride <= 0) {
    if (n_tokens < 2 * ctx)
      fail("the text has {} tokens; perplexity with context {} needs at least 2 x {} = {} (use a smaller --ctx)",
           n_tokens, ctx, ctx, 2 * ctx);
    const std::int64_t first = ctx / 2;
    for (std::int64_t i = 0; i < n_tokens / ctx; ++i)
      w.push_back({i * ctx, ctx, first, ctx - 1 - first, opt.bos.has_value()});
  } else {
    if (opt.stride > ctx) fail("stride {} is larger than the context {}: tokens would go unscored", opt.stride, ctx);
    if (n_tokens < ctx)
      fail("the text has {} tokens, shorter than the context {} (use a smaller --ctx)", n_tokens, ctx);
    std::int64_t prev_end = 0;
    for (std::int64_t begin = 0; begin < n_tokens; begin += opt.stride) {
      const std::int64_t end = std::min(begin + ctx, n_tokens);
      const std::int64_t len = end - begin;
      const std::int64_t trg = end - prev_end;
      // Targets are window positions len - trg ... len - 1, except position 0 (nothing predicts it).
      const std::int64_t first_target = std::max<std::int64_t>(len - trg, 1);
      w.push_back({begin, len, first_target - 1, len - first_target, false});
      prev_end = end;
      if (end == n_tokens) break;
    }
  }
  if (opt.max_chunks > 0 && static_cast<std::int64_t>(w.size()) > opt.max_chunks)
    w.resize(static_cast<std::size_t>(opt.max_chunks));
  return w;
}

// Runs one window; fills logits with the rows score_from ... score_from + n_scored - 1.
void run_window(const model::Model& m, model::KVCache& cache, std::span<const std::int32_t> tokens, const Window& w,
                const PplOptions& opt, std::vector<float>& logits) {
  std::vector<std::int32_t> ids(tokens.begin() + w.begin, tokens.begin() + w.begin + w.len);
  if (w.bos) ids[0] = *opt.bos;
  cache.clear();
  const std::int64_t n_rows = w.len - w.score_from;  // rows score_from ... len - 1
  logits.resize(static_cast<std::size_t>(n_rows * m.vocab_size()));
  model::forward(m, cache, ids, n_rows, logits.data());
}

std::span<const float> row(const std::vector<float>& logits, std::int64_t r, int vocab) {
  return {logits.data() + r * vocab, static_cast<std::size_t>(vocab)};
}

void check_ids(std::span<const std::int32_t> tokens, int vocab) {
  for (std::size_t i = 0; i < tokens.size(); ++i)
    if (tokens[i] < 0 || tokens[i] >= vocab)
      fail("token id {} at index {} is out of range for the model's vocabulary of {}", tokens[i], i, vocab);
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

PplResult perplexity(const model::Model& m, std::span<const std::int32_t> tokens, const PplOptions& opt,
                     Progress& progress, std::stop_token stop) {
  check_ids(tokens, m.vocab_size());
  const std::vector<Window> windows = plan(static_cast<std::int64_t>(tokens.size()), opt);
  const auto t0 = std::chrono::steady_clock::now();
  const int V = m.vocab_size();
  model::KVCache cache(m.config(), opt.n_ctx);
  PplResult r;
  std::vector<float> logits;
  std::vector<double> nll;
  for (const Window& w : windows) {
    check_cancel(stop);
    run_window(m, cache, tokens, w, opt, logits);
    nll.assign(static_cast<std::size_t>(w.n_scored), 0.0);
    parallel_for(static_cast<std::size_t>(w.n_scored), [&](std::size_t b, std::size_t e) {
      for (std::size_t j = b; j < e; ++j) {
        const auto target = tokens[static_cast<std::size_t>(w.begin + w.score_from + 1) + j];
        nll[j] = token_nll(row(logits, static_cast<std::int64_t>(j), V), target);
      }
    });
    for (double x : nll) r.nll.add(x);
    r.tokens_evaluated += w.len;
    ++r.chunks;
    r.running_ppl.push_back(r.nll.ppl());
    progress.report(static_cast<double>(r.chunks) / static_cast<double>(windows.size()),
                    fmt::format("chunk {}/{}", r.chunks, windows.size()));
  }
  r.seconds = seconds_since(t0);
  return r;
}

double KldResult::mean_kld() const {
  double s = 0;
  for (double x : kld) s += x;
  return kld.empty() ? 0.0 : s / static_cast<double>(kld.size());
}

double KldResult::mean_kld_error() const {
  const auto n = static_cast<double>(kld.size());
  if (kld.size() < 2) return 0.0;
  double s2 = 0;
  for (double x : kld) s2 += x * x;
  const double m = mean_kld(), var = s2 / n - m * m;
  return var > 0 ? std::sqrt(var / (n - 1)) : 0.0;
}

double KldResult::same_top_fraction() const {
  return kld.empty() ? 0.0 : static_cast<double>(same_top) / static_cast<double>(kld.size());
}

double KldResult::same_top_error() const {
  if (kld.size() < 2) return 0.0;
  const double p = same_top_fraction();
  return std::sqrt(p * (1 - p) / static_cast<double>(kld.size() - 1));
}

double KldResult::cov_nll() const {
  const auto n = static_cast<double>(nll_base.size());
  if (nll_base.size() < 2) return 0.0;
  double sb = 0, st = 0, sbt = 0;
  for (std::size_t i = 0; i < nll_base.size(); ++i) {
    sb += nll_base[i];
    st += nll_test[i];
    sbt += nll_base[i] * nll_test[i];
  }
  return (sbt / n - (sb / n) * (st / n)) * n / (n - 1);
}

KldResult kl_divergence(const model::Model& base, const model::Model& test, std::span<const std::int32_t> tokens,
                        const PplOptions& opt, Progress& progress, std::stop_token stop) {
  if (base.vocab_size() != test.vocab_size())
    fail("KL-divergence needs the same vocabulary: {} vs {}", base.vocab_size(), test.vocab_size());
  check_ids(tokens, base.vocab_size());
  const std::vector<Window> windows = plan(static_cast<std::int64_t>(tokens.size()), opt);
  const auto t0 = std::chrono::steady_clock::now();
  const int V = base.vocab_size();
  model::KVCache cache(base.config(), opt.n_ctx);
  KldResult r;
  std::vector<float> lb, lt;
  struct Row {
    double kld, nll_b, nll_t, dp;
    bool same;
  };
  std::vector<Row> rows;
  for (const Window& w : windows) {
    check_cancel(stop);
    run_window(base, cache, tokens, w, opt, lb);
    run_window(test, cache, tokens, w, opt, lt);
    rows.assign(static_cast<std::size_t>(w.n_scored), Row{});
    parallel_for(static_cast<std::size_t>(w.n_scored), [&](std::size_t b, std::size_t e) {
      std::vector<double> lpb(static_cast<std::size_t>(V)), lpt(static_cast<std::size_t>(V));
      auto log_softmax = [&](std::span<const float> x, std::vector<double>& out) {
        float mx = x[0];
        for (float v : x) mx = std::max(mx, v);
        double s = 0;
        for (std::size_t i = 0; i < x.size(); ++i) {
          out[i] = static_cast<double>(x[i] - mx);
          s += std::exp(out[i]);
        }
        const double ls = std::log(s);
        for (double& v : out) v -= ls;
      };
      for (std::size_t j = b; j < e; ++j) {
        const auto target = static_cast<std::size_t>(tokens[static_cast<std::size_t>(w.begin + w.score_from + 1) + j]);
        auto rb = row(lb, static_cast<std::int64_t>(j), V), rt = row(lt, static_cast<std::int64_t>(j), V);
        log_softmax(rb, lpb);
        log_softmax(rt, lpt);
        double k = 0;
        for (std::size_t i = 0; i < lpb.size(); ++i) k += std::exp(lpb[i]) * (lpb[i] - lpt[i]);
        Row& o = rows[j];
        o.kld = std::max(k, 0.0);  // exact KL is >= 0; rounding can leave -1e-17
        // The same NLL as perplexity() computes, so a KLD run's PPL equals a plain run's.
        o.nll_b = token_nll(rb, static_cast<std::int32_t>(target));
        o.nll_t = token_nll(rt, static_cast<std::int32_t>(target));
        o.dp = std::exp(lpt[target]) - std::exp(lpb[target]);
        o.same = model::argmax(rb) == model::argmax(rt);
      }
    });
    for (const Row& o : rows) {
      r.kld.push_back(o.kld);
      r.delta_p.push_back(o.dp);
      r.nll_base.push_back(o.nll_b);
      r.nll_test.push_back(o.nll_t);
      r.base.nll.add(o.nll_b);
      r.test.nll.add(o.nll_t);
      r.same_top += o.same ? 1 : 0;
    }
    r.base.tokens_evaluated += w.len;
    r.test.tokens_evaluated += w.len;
    ++r.base.chunks;
    ++r.test.chunks;
    r.base.running_ppl.push_back(r.base.nll.ppl());
    r.test.running_ppl.push_back(r.test.nll.ppl());
    progress.report(static_cast<double>(r.base.chunks) / static_cast<double>(windows.size()),
                    fmt::format("chunk {}/{}", r.base.chunks, windows.size()));
  }
  r.base.seconds = r.test.seconds = seconds_since(t0);
  return r;
}

}  // namespace qlab::eval
