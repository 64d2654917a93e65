// Lab 3 — FP8 training and inference.
//   lab03.train          the four-way run (fp32, bf16, fp8, fp8 without scaling) as live loss curves,
//                        with the saturation and underflow counts of every run
//   lab03.fp8_counts     reading: what the counts mean (they come with the training run)
//   lab03.fp8_inference  perplexity of the built-in model with FP8 weights and activations
#include <chrono>
#include <cmath>

#include <fmt/format.h>

#include "engine/train/lab3.h"
#include "labs/lab.h"

namespace qlab::labs {

namespace {

LineChart loss_chart(const std::vector<Series>& series) {
  LineChart c;
  c.title = "Training loss (cross-entropy) by step";
  c.x_label = "step";
  c.y_label = "loss";
  for (const auto& s : series)
    if (!s.x.empty()) c.series.push_back(s);
  return c;
}

std::string pct(double f) { return f == 0 ? "0" : fmt::format("{:.3g}%", 100 * f); }

StepResult train_job(const JobContext& ctx, Progress& progress, std::stop_token stop) {
  std::vector<Series> series(4);
  for (auto p : {train::Precision::FP32, train::Precision::BF16, train::Precision::FP8, train::Precision::FP8NoScale})
    series[static_cast<std::size_t>(p)].name = std::string(train::precision_name(p));
  auto last = std::chrono::steady_clock::now();
  auto on_step = [&](train::Precision p, const train::StepRecord& s) {
    auto& se = series[static_cast<std::size_t>(p)];
    se.x.push_back(static_cast<double>(s.step));
    se.y.push_back(s.finite ? s.loss : std::nan(""));
    auto now = std::chrono::steady_clock::now();
    if (ctx.partial && now - last > std::chrono::milliseconds(250)) {
      last = now;
      StepResult pr;
      pr.blocks.push_back(loss_chart(series));
      ctx.partial(std::move(pr));
    }
  };
  train::Lab3Options o;  // the small preset; FP8 inference is its own step
  train::Lab3Result res = train::run_lab3(o, on_step, progress, stop);

  StepResult r;
  r.blocks.push_back(loss_chart(series));
  Table t;
  t.title = fmt::format("After training (a unigram model scores {:.1f} on the same text)", res.unigram_ppl);
  t.header = {"run", "final loss", "held-out ppl", "same weights fp32", "tokens/s", "ended"};
  Table c;
  c.title = "Values saturated (clipped at the max) / flushed to zero, whole run";
  c.header = {"run", "weights", "activations", "gradients"};
  for (const auto& run : res.runs) {
    std::string name(train::precision_name(run.precision));
    double final_loss = run.history.empty() ? std::nan("") : run.history.back().loss;
    t.rows.push_back({name, std::isfinite(final_loss) ? fmt::format("{:.3f}", final_loss) : "NaN",
                      fmt::format("{:.2f}", run.eval_ppl), fmt::format("{:.2f}", run.eval_ppl_fp32),
                      fmt::format("{:.0f}", run.tokens_per_s), run.stop_reason.empty() ? "-" : run.stop_reason});
    std::vector<std::string> row = {name};
    nlohmann::json counts;
    for (int role = 0; role < train::kCastRoles; ++role) {
      const auto& cc = run.totals[static_cast<std::size_t>(role)];
      row.push_back(cc.total ? pct(cc.saturated_fraction()) + " / " + pct(cc.flushed_fraction()) : "-");
      counts[std::string(train::cast_role_name(static_cast<train::CastRole>(role)))] = {
          {"saturated", cc.saturated}, {"flushed", cc.flushed}, {"total", cc.total}};
    }
    c.rows.push_back(std::move(row));
    r.record["runs"][name] = {{"final_loss", std::isfinite(final_loss) ? nlohmann::json(final_loss) : nlohmann::json("NaN")},
                              {"eval_ppl", run.eval_ppl}, {"tokens_per_s", run.tokens_per_s}, {"casts", counts}};
  }
  r.blocks.push_back(std::move(t));
  r.blocks.push_back(std::move(c));
  r.record["unigram_ppl"] = res.unigram_ppl;
  return r;
}

StepResult inference_job(const JobContext& ctx, Progress& progress, std::stop_token stop) {
  std::error_code ec;
  if (!std::filesystem::exists(ctx.model.dir / "config.json", ec))
    throw NotAvailable(fmt::format("needs the built-in model ({} has no config.json), not in this build yet",
                                   ctx.model.dir.string()));
  if (!std::filesystem::exists(ctx.model.dir / "eval.txt", ec))
    throw NotAvailable(fmt::format("needs held-out text: {} has no eval.txt (the built-in model ships one)",
                                   ctx.model.dir.string()));
  progress.report(-1, "scoring");
  // As many chunks as lab 2's perplexity step: enough tokens to see the difference, done in seconds.
  constexpr std::int64_t kChunks = 16;
  train::Fp8InferenceResult f = train::fp8_inference(ctx.model.dir, kChunks, stop);
  StepResult r;
  Table t;
  t.title = fmt::format("Perplexity on held-out text ({} tokens scored)", f.scored_tokens);
  t.header = {"weights and activations", "perplexity", "change from fp32"};
  // the change can be far below 0.001 on a small model: shown relative, with enough digits to see it
  auto change = [&](double p) { return fmt::format("{:+.3g}%", 100 * (p - f.ppl_fp32) / f.ppl_fp32); };
  t.rows = {{"fp32", fmt::format("{:.4f}", f.ppl_fp32), "-"},
            {"bf16", fmt::format("{:.4f}", f.ppl_bf16), change(f.ppl_bf16)},
            {"fp8 e4m3 (per-tensor scales)", fmt::format("{:.4f}", f.ppl_fp8), change(f.ppl_fp8)}};
  r.blocks.push_back(std::move(t));
  r.record = {{"ppl_fp32", f.ppl_fp32}, {"ppl_bf16", f.ppl_bf16}, {"ppl_fp8", f.ppl_fp8}, {"scored_tokens", f.scored_tokens},
              {"max_chunks", kChunks}, {"calib_chunks", f.calib_chunks}};
  return r;
}

}  // namespace

Lab make_lab03() {
  Lab l;
  l.number = 3;
  l.id = "lab03";
  l.milestone_id = "m3";
  l.steps = {
      Step{"lab03.train", train_job, false, true},
      Step{"lab03.fp8_counts", {}, false, false},
      Step{"lab03.fp8_inference", inference_job, false, true},
  };
  return l;
}

}  // namespace qlab::labs
