#pragma once
// Perplexity of a token stream, two protocols (state the protocol beside every number):
//   llama.cpp (default)  chunks of n_ctx tokens (remainder dropped, at least 2 chunks' worth of
//                        tokens required); with add_bos the chunk's first token is overwritten by BOS;
//                        only the second half is scored: logits at first = n_ctx/2 .. n_ctx-2
//                        predict tokens first+1 .. n_ctx-1. PPL = exp(mean NLL) +/- exp(m)*sigma_mean.
//   sliding window       HF "perplexity of fixed-length models": windows of n_ctx starting every
//                        `stride` tokens, each scoring only the tokens the previous one did not,
//                        so every token after the first is scored exactly once; no BOS rewrite.
// KL-divergence mode: the same chunks run through a base and a test model; per scored token the
// exact KL(base || test) over the full vocabulary (double precision; no 16-bit log-prob storage,
// so base-vs-itself gives 0), NLL of both, and argmax agreement.
// The protocol itself (plan_windows, protocol_text) is data any forward pass can run: the trainer
// scores its own runs with it (engine/train/evaluate.h). What text and BOS go in: ppl_setup.h.
#include <cstdint>
#include <optional>
#include <span>
#include <stop_token>
#include <string>
#include <vector>

#include "engine/core/progress.h"
#include "engine/model/backend.h"
#include "engine/model/model.h"

namespace qlab::eval {

struct PplOptions {
  std::int64_t n_ctx = 512;
  std::optional<std::int32_t> bos;  // set: overwrite each chunk's first token with it (llama.cpp add_bos)
  std::int64_t stride = 0;          // > 0: sliding-window protocol with this stride
  std::int64_t max_chunks = 0;      // > 0: stop after this many chunks / windows
  model::Backend* backend = nullptr;  // where the model runs (logits, NLL and KL stay there); null: CPU
};

// One model evaluation of the protocol: tokens [begin, begin + len) of the stream (the first replaced
// by BOS when `bos`); the logits of window rows score_from ... score_from + n_scored - 1 predict the
// targets at window positions score_from + 1 ... score_from + n_scored.
struct Window {
  std::int64_t begin = 0, len = 0, score_from = 0, n_scored = 0;
  bool bos = false;
};
// The windows the protocol runs over a stream of n_tokens; Error when the stream is too short for it
// (llama.cpp: at least two chunks) or the options do not fit together.
std::vector<Window> plan_windows(std::int64_t n_tokens, const PplOptions& opt);
// The protocol in one line, to print beside every number it produced.
std::string protocol_text(const PplOptions& opt);

// Running sums of scored negative log-likelihoods.
struct NllStats {
  double sum = 0, sum2 = 0;
  std::int64_t count = 0;
  void add(double nll) { sum += nll; sum2 += nll * nll; ++count; }
  double ppl() const;
  double ppl_error() const;  // llama.cpp's: ppl * sqrt((m2 - m^2) / (N - 1))
};

struct PplResult {
  NllStats nll;
  std::int64_t chunks = 0;
  std::int64_t tokens_evaluated = 0;      // tokens run through the model
  std::vector<double> running_ppl;        // after each chunk / window
  double seconds = 0;
};

struct Quantiles {
  double max = 0, p999 = 0, p99 = 0, p95 = 0, p90 = 0, median = 0, p10 = 0, p5 = 0, p1 = 0, min = 0;
};
// Linear interpolation over the sorted values (as llama.cpp's percentile helper).
Quantiles quantiles(std::vector<double> v);

struct KldResult {
  PplResult base, test;
  std::vector<double> kld;           // per scored token
  std::vector<double> delta_p;       // p_test(target) - p_base(target)
  std::int64_t same_top = 0;
  double mean_kld() const;
  double mean_kld_error() const;
  double same_top_fraction() const;
  double same_top_error() const;     // binomial: sqrt(p (1 - p) / (N - 1))
  double cov_nll() const;            // covariance of the two NLL series
  std::vector<double> nll_base, nll_test;
};

// NLL of `target` under a logit row: log-sum-exp after max subtraction (float exp within 1 ulp, the
// sum in double).
double token_nll(std::span<const float> logits, std::int32_t target);

PplResult perplexity(const model::Model& m, std::span<const std::int32_t> tokens, const PplOptions& opt,
                     Progress& progress = Progress::none(), std::stop_token stop = {});

KldResult kl_divergence(const model::Model& base, const model::Model& test, std::span<const std::int32_t> tokens,
                        const PplOptions& opt, Progress& progress = Progress::none(), std::stop_token stop = {});

}  // namespace qlab::eval
