// Lab 3 — FP8 training and inference.
//   lab03.train          the four-way run (fp32, bf16, fp8, fp8 without scaling) as live loss curves,
//                        with the saturation and underflow counts of every run. Each finished run is
//                        checkpointed, so a cancel or a restart continues with the next run.
//   lab03.fp8_counts     reading: what the counts mean (they come with the training run)
//   lab03.fp8_inference  perplexity of the model in use with FP8 weights and activations, on the text
//                        and with the protocol of lab 2's perplexity step (labs/scoring.h)
#include <chrono>
#include <cmath>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "engine/core/atomic_file.h"
#include "engine/train/lab3.h"
#include "engine/train/train_presets.h"
#include "labs/lab.h"
#include "labs/scoring.h"
#include "labs/step_files.h"

namespace qlab::labs {

namespace {

using nlohmann::json;

constexpr train::Precision kOrder[4] = {train::Precision::FP32, train::Precision::BF16, train::Precision::FP8,
                                        train::Precision::FP8NoScale};

// The loss curves, and (once the fp32 run has points) each run's loss minus the fp32 run's at the
// same step: the curves lie on top of each other, the differences do not.
std::vector<Block> loss_charts(const std::vector<Series>& series) {
  LineChart c;
  c.title = "Training loss (cross-entropy) by step";
  c.x_label = "step";
  c.y_label = "loss";
  for (const auto& s : series)
    if (!s.x.empty()) c.series.push_back(s);
  std::vector<Block> out{c};
  const Series& ref = series[0];
  LineChart d;
  d.title = "Loss minus the fp32 run's loss at the same step (0 = no difference)";
  d.x_label = "step";
  d.y_label = "loss difference";
  // fp32 itself is the zero line: every run keeps its marker from the first chart
  for (std::size_t k = 0; k < series.size(); ++k) {
    Series s{series[k].name, {}, {}};
    for (std::size_t i = 0; i < series[k].x.size() && i < ref.x.size(); ++i) {
      s.x.push_back(series[k].x[i]);
      s.y.push_back(series[k].y[i] - ref.y[i]);
    }
    if (!s.x.empty()) d.series.push_back(std::move(s));
  }
  if (d.series.size() > 1) out.push_back(std::move(d));
  return out;
}

std::string pct(double f) { return f == 0 ? "0" : fmt::format("{:.3g}%", 100 * f); }

// ---- a finished run, kept in the checkpoint -------------------------------------------------------

json num(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }
double num_from(const json& j) { return j.is_null() ? std::nan("") : j.get<double>(); }

json run_to_json(const train::Lab3Run& r) {
  json hist = json::array();
  for (const auto& h : r.history) hist.push_back(train::step_to_json(h));
  return {{"precision", train::precision_name(r.precision)}, {"history", hist}, {"eval_ppl", num(r.eval_ppl)},
          {"eval_ppl_fp32", num(r.eval_ppl_fp32)}, {"seconds", r.seconds}, {"tokens_per_s", r.tokens_per_s},
          {"stop_reason", r.stop_reason}};
}

train::Lab3Run run_from_json(const json& j, train::Precision p) {
  train::Lab3Run r;
  r.precision = p;
  if (j.at("precision").get<std::string>() != train::precision_name(p)) fail("runs out of order");
  for (const auto& e : j.at("history")) r.history.push_back(train::step_from_json(e));
  for (const auto& h : r.history)
    for (int k = 0; k < train::kCastRoles; ++k) r.totals[static_cast<std::size_t>(k)] += h.casts[static_cast<std::size_t>(k)];
  r.eval_ppl = num_from(j.at("eval_ppl"));
  r.eval_ppl_fp32 = num_from(j.at("eval_ppl_fp32"));
  r.seconds = j.at("seconds").get<double>();
  r.tokens_per_s = j.at("tokens_per_s").get<double>();
  r.stop_reason = j.at("stop_reason").get<std::string>();
  return r;
}

// Labels the trainer's "step 130/300" with the run it belongs to.
class RunProgress final : public Progress {
 public:
  RunProgress(Progress& p, int index, std::string name) : p_(p), index_(index), name_(std::move(name)) {}
  void report(double f, std::string_view label) override {
    p_.report((index_ + std::clamp(f, 0.0, 1.0)) / 4.0, fmt::format("{} (run {}/4) {}", name_, index_ + 1, label));
  }

 private:
  Progress& p_;
  int index_;
  std::string name_;
};

StepResult train_job(const JobContext& ctx, Progress& progress, std::stop_token stop) {
  const std::int64_t steps = ctx.param_int("steps");
  const json key{{"preset", "small"}, {"steps", steps}};
  std::vector<train::Lab3Run> runs;
  double unigram = 0;
  std::string resumed;
  if (auto cp = read_checkpoint(ctx.out_dir); cp && cp->key == key) {
    try {
      for (const auto& j : cp->state.at("runs")) runs.push_back(run_from_json(j, kOrder[runs.size() % 4]));
      unigram = cp->state.at("unigram_ppl").get<double>();
      if (runs.size() > 4) runs.resize(4);
      if (!runs.empty()) resumed = fmt::format("Continued from the checkpoint of {}: {} of 4 runs were done.", cp->when,
                                               runs.size());
    } catch (const std::exception&) {
      runs.clear();  // a checkpoint edited by hand: start over
    }
  }
  std::vector<Series> series(4);
  for (int i = 0; i < 4; ++i) series[static_cast<std::size_t>(i)].name = std::string(train::precision_name(kOrder[i]));
  for (const auto& run : runs)
    for (const auto& h : run.history) {
      auto& se = series[static_cast<std::size_t>(run.precision)];
      se.x.push_back(static_cast<double>(h.step));
      se.y.push_back(h.finite ? h.loss : std::nan(""));
    }
  auto last = std::chrono::steady_clock::now();
  for (std::size_t i = runs.size(); i < 4; ++i) {
    const train::Precision p = kOrder[i];
    auto on_step = [&](train::Precision pr, const train::StepRecord& s) {
      auto& se = series[static_cast<std::size_t>(pr)];
      se.x.push_back(static_cast<double>(s.step));
      se.y.push_back(s.finite ? s.loss : std::nan(""));
      auto now = std::chrono::steady_clock::now();
      if (ctx.partial && now - last > std::chrono::milliseconds(250)) {
        last = now;
        StepResult pr_result;
        pr_result.blocks = loss_charts(series);
        ctx.partial(std::move(pr_result));
      }
    };
    train::Lab3Options o;  // the small preset; FP8 inference is its own step
    o.precisions = {p};
    o.steps = steps;
    RunProgress rp(progress, static_cast<int>(i), std::string(train::precision_name(p)));
    train::Lab3Result res = train::run_lab3(o, on_step, rp, stop);
    runs.push_back(std::move(res.runs.at(0)));
    unigram = res.unigram_ppl;
    if (!ctx.out_dir.empty() && runs.size() < 4) {
      json done = json::array();
      for (const auto& r : runs) done.push_back(run_to_json(r));
      write_checkpoint(ctx.out_dir, key, {{"runs", done}, {"unigram_ppl", unigram}},
                       fmt::format("{} of 4 runs", runs.size()));
    }
  }
  remove_checkpoint(ctx.out_dir);

  StepResult r;
  if (!resumed.empty()) r.blocks.push_back(Text{resumed});
  for (auto& b : loss_charts(series)) r.blocks.push_back(std::move(b));
  Table t;
  t.title = fmt::format("After {} steps (a unigram model scores {:.1f} on the same text)", steps, unigram);
  t.header = {"run", "final loss", "held-out ppl", "same weights fp32", "tokens/s", "ended"};
  Table c;
  c.title = "Values saturated (clipped at the max) / flushed to zero, whole run";
  c.header = {"run", "weights", "activations", "gradients"};
  for (const auto& run : runs) {
    std::string name(train::precision_name(run.precision));
    double final_loss = run.history.empty() ? std::nan("") : run.history.back().loss;
    t.rows.push_back({name, std::isfinite(final_loss) ? fmt::format("{:.3f}", final_loss) : "NaN",
                      fmt::format("{:.2f}", run.eval_ppl), fmt::format("{:.2f}", run.eval_ppl_fp32),
                      fmt::format("{:.0f}", run.tokens_per_s), run.stop_reason.empty() ? "-" : run.stop_reason});
    std::vector<std::string> row = {name};
    json counts;
    for (int role = 0; role < train::kCastRoles; ++role) {
      const auto& cc = run.totals[static_cast<std::size_t>(role)];
      row.push_back(cc.total ? pct(cc.saturated_fraction()) + " / " + pct(cc.flushed_fraction()) : "-");
      counts[std::string(train::cast_role_name(static_cast<train::CastRole>(role)))] = {
          {"saturated", cc.saturated}, {"flushed", cc.flushed}, {"total", cc.total}};
    }
    c.rows.push_back(std::move(row));
    r.record["runs"][name] = {{"final_loss", std::isfinite(final_loss) ? json(final_loss) : json("NaN")},
                              {"eval_ppl", run.eval_ppl}, {"tokens_per_s", run.tokens_per_s}, {"casts", counts}};
  }
  r.blocks.push_back(std::move(t));
  r.blocks.push_back(std::move(c));
  r.record["unigram_ppl"] = unigram;
  r.record["steps"] = steps;
  return r;
}

StepResult inference_job(const JobContext& ctx, Progress& progress, std::stop_token stop) {
  std::error_code ec;
  if (!std::filesystem::exists(ctx.model.dir / "config.json", ec))
    throw NotAvailable(fmt::format("needs a model: {} has no config.json (the built-in model is not installed)",
                                   ctx.model.dir.string()));
  const ScoringText text = scoring_text(ctx, ctx.param("text"), "eval.txt");
  const ScoringText calib = scoring_text(ctx, ctx.param("calib"), "calib.txt");
  progress.report(-1, "loading the model");
  const io::Tokenizer tok = io::Tokenizer::load(ctx.model.dir);
  const train::TrainModel m = train::TrainModel::load(ctx.model.dir);
  check_cancel(stop);
  const eval::PplSetup su = scoring_setup(ctx, m.cfg, tok, text, ctx.param_int("chunks"));
  const auto calib_tokens = tok.encode(read_file(calib.path), false);
  progress.report(-1, "scoring fp32, bf16, fp8");
  const train::Fp8InferenceResult f =
      train::fp8_inference(m, su, calib_tokens, stop);
  StepResult r;
  r.blocks.push_back(Text{"Scored: " + su.protocol + fmt::format(": {} tokens scored. Calibrated on {} chunks of {}.",
                                                                 f.scored_tokens, f.calib_chunks, calib.origin)});
  Table t;
  t.title = "Perplexity of the model in use (the same text and protocol as lab 2's perplexity step)";
  t.header = {"weights and activations", "perplexity", "change from fp32"};
  // the change can be far below 0.001 on a small model: shown relative, with enough digits to see it
  auto change = [&](double p) { return fmt::format("{:+.3g}%", 100 * (p - f.ppl_fp32) / f.ppl_fp32); };
  t.rows = {{"fp32", fmt::format("{:.4f}", f.ppl_fp32), "-"},
            {"bf16", fmt::format("{:.4f}", f.ppl_bf16), change(f.ppl_bf16)},
            {"fp8 e4m3 (per-tensor scales)", fmt::format("{:.4f}", f.ppl_fp8), change(f.ppl_fp8)}};
  r.blocks.push_back(std::move(t));
  r.record = {{"ppl_fp32", f.ppl_fp32}, {"ppl_bf16", f.ppl_bf16}, {"ppl_fp8", f.ppl_fp8}, {"scored_tokens", f.scored_tokens},
              {"chunks", su.chunks}, {"n_ctx", su.options.n_ctx}, {"calib_chunks", f.calib_chunks}, {"text", text.origin}};
  return r;
}

}  // namespace

Lab make_lab03() {
  Lab l;
  l.number = 3;
  l.id = "lab03";
  l.milestone_id = "m3";
  Step trainer{"lab03.train", train_job, false, true};
  trainer.params = {Param{"steps", ParamKind::Integer, std::to_string(train::train_preset("small").options.steps), {},
                          20, 20000}};
  trainer.resumable = true;
  Step inference{"lab03.fp8_inference", inference_job, false, true};
  inference.params = {Param{"text", ParamKind::File, "", {}, 0, 0}, Param{"calib", ParamKind::File, "", {}, 0, 0},
                      Param{"chunks", ParamKind::Integer, "0", {}, 0, 1 << 24}};
  l.steps = {
      std::move(trainer),
      Step{"lab03.fp8_counts", {}, false, false},
      std::move(inference),
  };
  return l;
}

}  // namespace qlab::labs
