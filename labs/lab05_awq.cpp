// Lab 5 — AWQ against GPTQ and round-to-nearest.
//   lab05.objectives   reading
//   lab05.compare      AWQ, GPTQ and RTN at 4 bits in groups of 128 (or 64, 32) on the same model and text:
//                      one table as lab 4's, the module's figures beside the measured ones, and one layer's
//                      per-channel activation magnitude with the salient 1% marked and the scales AWQ chose
//   lab05.reading      reading
#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "labs/int_quant_runs.h"
#include "labs/lab.h"
#include "labs/step_files.h"

namespace qlab::labs {

namespace {

// Layer 0's MLP input (the post-attention norm's output, what gate and up read): the chart and table of
// its channels by mean |x|, the salient 1% (at least one channel) marked, with the scale AWQ chose.
void salient_channels(const quant::ModelQuantReport& awq, StepResult& r) {
  const quant::AwqSearchReport* s = nullptr;
  for (const auto& e : awq.awq_searches)
    if (e.layer == 0 && e.where == "mlp") s = &e;
  if (!s || s->x_mean.empty()) return;
  const std::size_t n = s->x_mean.size();
  std::vector<std::size_t> order(n);
  for (std::size_t i = 0; i < n; ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return s->x_mean[a] > s->x_mean[b]; });
  const std::size_t top = std::max<std::size_t>(1, (n + 99) / 100);
  std::vector<float> sorted_scales(s->scales);
  std::sort(sorted_scales.begin(), sorted_scales.end());
  const double median = sorted_scales[n / 2];
  LineChart mag{"Layer 0, MLP input: mean |x| per channel", "channel", "mean |x|", {}, true, false};
  LineChart sc{"Layer 0, MLP input: the scale AWQ chose per channel", "channel", "scale s", {}, true, false};
  Series all{"every channel", {}, {}}, marked{"salient 1%", {}, {}}, s_all{"every channel", {}, {}},
      s_marked{"salient 1%", {}, {}};
  for (std::size_t i = 0; i < n; ++i) {
    all.x.push_back(static_cast<double>(i));
    all.y.push_back(s->x_mean[i]);
    s_all.x.push_back(static_cast<double>(i));
    s_all.y.push_back(s->scales[i]);
  }
  Table t;
  t.title = "The salient channels: the largest mean |x|, and the scale AWQ gave them";
  t.header = {"channel", "rank", "mean |x|", "x / median x", "scale", "scale / median scale"};
  std::vector<float> sorted_x(s->x_mean);
  std::sort(sorted_x.begin(), sorted_x.end());
  const double median_x = sorted_x[n / 2];
  for (std::size_t k = 0; k < top; ++k) {
    const std::size_t c = order[k];
    marked.x.push_back(static_cast<double>(c));
    marked.y.push_back(s->x_mean[c]);
    s_marked.x.push_back(static_cast<double>(c));
    s_marked.y.push_back(s->scales[c]);
    t.rows.push_back({fmt::format("{}", c), fmt::format("{}", k + 1), fmt::format("{:.4g}", s->x_mean[c]),
                      fmt::format("{:.1f}x", s->x_mean[c] / median_x), fmt::format("{:.4g}", s->scales[c]),
                      fmt::format("{:.2f}x", s->scales[c] / median)});
  }
  mag.series = {all, marked};
  sc.series = {s_all, s_marked};
  r.blocks.push_back(mag);
  r.blocks.push_back(sc);
  r.blocks.push_back(t);
  r.blocks.push_back(Text{fmt::format(
      "AWQ's search picked the ratio {:.2f} for this input (s = mean|x|^r / mean|w|^(1-r), normalised): the "
      "channels the activations lean on most get the largest scales, so their weights are stored with "
      "finer steps, and the layer before divides its output by the same s.",
      s->ratio)});
}

StepResult lab05_compare_job(const JobContext& ctx, Progress& progress, std::stop_token stop) {
  StepFolder folder(ctx.out_dir);
  IntQuantRunner runner(ctx, folder.path(), progress);
  const std::int64_t group = ctx.param_int("group");
  const std::vector<IntQuantVariant> variants = {{"awq", group, false}, {"gptq", group, false}, {"rtn", group, false}};
  const std::string title = fmt::format("AWQ, GPTQ and round-to-nearest at 4 bits in groups of {}", group);
  const std::vector<IntQuantRow> rows = run_variants(runner, variants, title, ctx, progress, stop);
  const double base = runner.base_ppl();
  StepResult r;
  r.blocks.push_back(Text{fmt::format("Scored: {} of {}; perplexity of the model as stored: {:.4f}.",
                                      runner.setup().protocol, runner.text_origin(), base)});
  r.blocks.push_back(int_quant_table(title, rows, base));
  const double d_awq = rows[0].ppl - base, d_gptq = rows[1].ppl - base, d_rtn = rows[2].ppl - base;
  const std::string best = rows[0].kld < rows[1].kld ? "AWQ" : rows[1].kld < rows[0].kld ? "GPTQ" : "neither";
  r.blocks.push_back(Text{fmt::format(
      "The module's figures (its claim, for 7B models): GPTQ adds about 0.2 to 0.3 to perplexity, AWQ about 0.1 to "
      "0.2. Measured in this run, on {}: GPTQ {:+.4f}, AWQ {:+.4f}, round-to-nearest {:+.4f}; {} came closer to the "
      "model as stored (KL-divergence {:.5f} for AWQ, {:.5f} for GPTQ). A perplexity change depends on the model "
      "and the text: a small model on its own text moves far less than a 7B model on WikiText.",
      ctx.model.display, d_gptq, d_awq, d_rtn, best, rows[0].kld, rows[1].kld)});
  std::string where;
  for (const auto& row : rows)
    if (!row.checkpoint.empty()) where += (where.empty() ? "" : ", ") + row.checkpoint.filename().string();
  for (const auto& row : rows)
    if (!row.note.empty()) {
      r.blocks.push_back(Text{fmt::format("Some rows ran in memory only, with no checkpoint: {}", row.note)});
      break;
    }
  if (!where.empty() && !ctx.out_dir.empty())
    r.blocks.push_back(Text{fmt::format("Checkpoints ({}) are in {}: AWQ's in AutoAWQ's GEMM layout, the others as "
                                        "GPTQ v1.", where, folder.path().string())});
  salient_channels(rows[0].report, r);
  r.record = {{"base_ppl", base}, {"group", group}, {"rows", int_quant_record(rows, base)}, {"text", runner.text_origin()}};
  return r;
}

}  // namespace

Lab make_lab05() {
  Lab l;
  l.number = 5;
  l.id = "lab05";
  l.milestone_id = "m5";
  Step compare{"lab05.compare", lab05_compare_job, false, true};
  compare.params = {Param{"group", ParamKind::Choice, "128", {"128", "64", "32"}, 0, 0}};
  for (Param& p : scoring_params()) compare.params.push_back(std::move(p));
  l.steps = {Step{"lab05.objectives", {}, false, false}, std::move(compare), Step{"lab05.reading", {}, false, false}};
  return l;
}

}  // namespace qlab::labs
