#include "engine/eval/perplexity.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>

#include "engine/core/error.h"
#include "engine/model/backend.h"
#include "engine/model/forward.h"
#include "engine/tensor/ops.h"

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

std::vector<Window> plan_windows(std::int64_t n_tokens, const PplOptions& opt) {
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

std::string protocol_text(const PplOptions& o) {
  if (o.stride > 0)
    return fmt::format("sliding window: ctx {}, stride {}, every token after the first scored once, no BOS rewrite",
                       o.n_ctx, o.stride);
  return fmt::format("llama.cpp: chunks of {}, {}second half scored ({} tokens per chunk)", o.n_ctx,
                     o.bos ? fmt::format("BOS {} on each chunk's first position, ", *o.bos) : std::string("no BOS, "),
                     o.n_ctx - 1 - o.n_ctx / 2);
}

namespace {

// Runs windows through the model a batch at a time: a small model's windows go several to one
// forward_batch call (one per thread on the CPU), each as it would run alone. The logits stay in
// the backend's memory (host memory on the CPU), where nll and kl_rows read them.
class WindowRunner {
 public:
  WindowRunner(const model::Model& m, const PplOptions& opt)
      : opt_(opt), backend_(opt.backend ? *opt.backend : model::cpu_backend()) {
    // Logits of a batch stay under kMaxLogitBytes whatever the vocabulary.
    constexpr double kMaxLogitBytes = 256.0 * 1024 * 1024;
    const double window_bytes = 4.0 * static_cast<double>(opt.n_ctx) * m.vocab_size();
    const auto by_memory = static_cast<std::int64_t>(std::max(1.0, kMaxLogitBytes / window_bytes));
    max_batch_ = std::clamp<std::int64_t>(backend_.sequences_per_batch(m.config(), opt.n_ctx), 1, by_memory);
    for (std::int64_t b = 0; b < max_batch_; ++b) caches_.emplace_back(m.config(), opt.n_ctx, 0, backend_);
  }

  // Number of windows from windows[i] on that run together: same length and first scored row.
  std::size_t batch_at(const std::vector<Window>& windows, std::size_t i) const {
    auto same_shape = [&](const Window& w) { return w.len == windows[i].len && w.score_from == windows[i].score_from; };
    std::size_t n = 1;
    while (i + n < windows.size() && static_cast<std::int64_t>(n) < max_batch_ && same_shape(windows[i + n])) ++n;
    return n;
  }

  // The backend the windows run on (that of the KV caches).
  model::Backend& backend() { return backend_; }

  // A buffer of the backend's memory for a batch's logits (grown as needed, kept between batches).
  struct Logits {
    std::shared_ptr<float> buf;
    std::int64_t size = 0;
    float* get() const { return buf.get(); }
  };

  // Runs the batch; fills logits with each window's rows score_from .. len - 1, window after window.
  void run(const model::Model& m, std::span<const std::int32_t> tokens, std::span<const Window> batch,
           Logits& logits) {
    const std::int64_t len = batch[0].len, n_rows = len - batch[0].score_from;
    ids_.clear();
    for (const Window& w : batch) {
      const std::size_t at = ids_.size();
      ids_.insert(ids_.end(), tokens.begin() + w.begin, tokens.begin() + w.begin + len);
      if (w.bos) ids_[at] = *opt_.bos;
    }
    std::vector<model::KVCache*> caches;
    for (std::size_t b = 0; b < batch.size(); ++b) {
      caches_[b].clear();
      caches.push_back(&caches_[b]);
    }
    const std::int64_t n = static_cast<std::int64_t>(batch.size()) * n_rows * m.vocab_size();
    if (logits.size < n) {
      logits.buf.reset();
      logits.buf = backend_.alloc(n);
      logits.size = n;
    }
    model::forward_batch_on_backend(m, caches, ids_, n_rows, logits.get());
  }

 private:
  const PplOptions& opt_;
  model::Backend& backend_;
  std::int64_t max_batch_ = 1;
  std::vector<model::KVCache> caches_;
  std::vector<std::int32_t> ids_;
};

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
  const std::vector<Window> windows = plan_windows(static_cast<std::int64_t>(tokens.size()), opt);
  const auto t0 = std::chrono::steady_clock::now();
  const int V = m.vocab_size();
  WindowRunner runner(m, opt);
  PplResult r;
  WindowRunner::Logits logits;
  std::vector<double> nll;
  for (std::size_t i = 0; i < windows.size();) {
    check_cancel(stop);
    const std::span<const Window> batch(windows.data() + i, runner.batch_at(windows, i));
    runner.run(m, tokens, batch, logits);
    const std::int64_t n_rows = batch[0].len - batch[0].score_from, n_scored = batch[0].n_scored;
    nll.assign(batch.size() * static_cast<std::size_t>(n_scored), 0.0);
    // Each window's scored rows through the backend's NLL (token_nll's arithmetic).
    for (std::size_t k = 0; k < batch.size(); ++k) {
      const Window& w = batch[k];
      const std::int32_t* targets = tokens.data() + w.begin + w.score_from + 1;
      runner.backend().nll(logits.get() + static_cast<std::int64_t>(k) * n_rows * V, n_scored, V, targets,
                           nll.data() + k * static_cast<std::size_t>(n_scored));
    }
    for (std::size_t k = 0; k < batch.size(); ++k) {
      for (std::int64_t t = 0; t < n_scored; ++t)
        r.nll.add(nll[k * static_cast<std::size_t>(n_scored) + static_cast<std::size_t>(t)]);
      r.tokens_evaluated += batch[k].len;
      ++r.chunks;
      r.running_ppl.push_back(r.nll.ppl());
      progress.report(static_cast<double>(r.chunks) / static_cast<double>(windows.size()),
                      fmt::format("chunk {}/{}", r.chunks, windows.size()));
    }
    i += batch.size();
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
  // Both run through the same KV caches, sized from the base model.
  const io::ModelConfig &cb = base.config(), &ct = test.config();
  if (cb.num_hidden_layers != ct.num_hidden_layers || cb.num_key_value_heads != ct.num_key_value_heads ||
      cb.head_dim != ct.head_dim)
    fail("KL-divergence compares variants of one model: the test model has {} layers, {} KV heads of {}, the base "
         "{}, {} of {}",
         ct.num_hidden_layers, ct.num_key_value_heads, ct.head_dim, cb.num_hidden_layers, cb.num_key_value_heads,
         cb.head_dim);
  check_ids(tokens, base.vocab_size());
  const std::vector<Window> windows = plan_windows(static_cast<std::int64_t>(tokens.size()), opt);
  const auto t0 = std::chrono::steady_clock::now();
  const int V = base.vocab_size();
  WindowRunner runner(base, opt);
  KldResult r;
  WindowRunner::Logits lb, lt;
  std::vector<model::TokenKL> rows;
  for (std::size_t i = 0; i < windows.size();) {
    check_cancel(stop);
    const std::span<const Window> batch(windows.data() + i, runner.batch_at(windows, i));
    runner.run(base, tokens, batch, lb);
    runner.run(test, tokens, batch, lt);
    const std::int64_t n_rows = batch[0].len - batch[0].score_from, n_scored = batch[0].n_scored;
    rows.assign(batch.size() * static_cast<std::size_t>(n_scored), model::TokenKL{});
    // Each window's scored rows: the first n_scored of its n_rows.
    for (std::size_t k = 0; k < batch.size(); ++k) {
      const Window& w = batch[k];
      const std::int64_t at = static_cast<std::int64_t>(k) * n_rows * V;
      runner.backend().kl_rows(lb.get() + at, lt.get() + at, n_scored, V, tokens.data() + w.begin + w.score_from + 1,
                               rows.data() + k * static_cast<std::size_t>(n_scored));
    }
    for (std::size_t k = 0; k < batch.size(); ++k) {
      for (std::int64_t t = 0; t < n_scored; ++t) {
        const model::TokenKL& o = rows[k * static_cast<std::size_t>(n_scored) + static_cast<std::size_t>(t)];
        r.kld.push_back(o.kld);
        r.delta_p.push_back(o.delta_p);
        r.nll_base.push_back(o.nll_base);
        r.nll_test.push_back(o.nll_test);
        r.base.nll.add(o.nll_base);
        r.test.nll.add(o.nll_test);
        r.same_top += o.same_top ? 1 : 0;
      }
      r.base.tokens_evaluated += batch[k].len;
      r.test.tokens_evaluated += batch[k].len;
      ++r.base.chunks;
      ++r.test.chunks;
      r.base.running_ppl.push_back(r.base.nll.ppl());
      r.test.running_ppl.push_back(r.test.nll.ppl());
      progress.report(static_cast<double>(r.base.chunks) / static_cast<double>(windows.size()),
                      fmt::format("chunk {}/{}", r.base.chunks, windows.size()));
    }
    i += batch.size();
  }
  r.base.seconds = r.test.seconds = seconds_since(t0);
  return r;
}

}  // namespace qlab::eval
