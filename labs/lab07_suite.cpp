// Lab 7 — the quality benchmark suite (issue 17): every variant this build can make, on the current model,
// through the same text and questions (engine/suite), with a line per variant while it runs, then the
// table (sortable: the tutor cycles its sort column), the Pareto chart of perplexity increase against bits
// per weight, the module's claimed costs beside the measured ones, and the report files.
//   lab07.objectives   reading
//   lab07.suite        the suite; settings: text, MMLU folder, shots, chunks, variants (all or the 4-bit ones)
// The milestone completes when the suite covered every variant this build can make, each measured.
// Finished variants are kept in the suite's cache: a cancelled run continues where it stopped.
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <mutex>

#include <fmt/format.h>

#include "engine/report/report.h"
#include "engine/suite/cache.h"
#include "engine/suite/suite.h"
#include "engine/suite/variants.h"
#include "labs/lab.h"
#include "labs/lab07_record.h"
#include "labs/step_files.h"

namespace qlab::labs {

namespace {

using Clock = std::chrono::steady_clock;

struct Line {
  std::string name, state = "waiting", detail;
  double fraction = 0;
  Clock::time_point started{};
};

std::string eta(const Line& l) {
  const double secs = std::chrono::duration<double>(Clock::now() - l.started).count();
  if (l.fraction <= 0.02 || secs < 0.5) return "";
  return fmt::format(", about {:.0f} s left", secs * (1 - l.fraction) / l.fraction);
}

Table progress_table(const std::vector<Line>& lines) {
  Table t;
  t.title = "The suite, variant by variant (Esc cancels; finished variants stay done)";
  t.header = {"variant", "state", "detail"};
  for (const auto& l : lines) t.rows.push_back({l.name, l.state, l.detail});
  t.right_align = {false, false, false};
  return t;
}

std::vector<std::string> chosen_variants(const std::string& setting) {
  if (setting == "all") return suite::available_variants();
  std::vector<std::string> v;
  for (const auto& n : suite::available_variants())
    if (n == "baseline" || n.find("4") != std::string::npos) v.push_back(n);  // the 4-bit variants
  return v;
}

StepResult suite_job(const JobContext& ctx, Progress& progress, std::stop_token stop) {
  std::error_code ec;
  if (!std::filesystem::exists(ctx.model.dir / "config.json", ec))
    throw NotAvailable(fmt::format("needs a model: {} has no config.json", ctx.model.dir.string()));
  suite::SuiteOptions opt;
  opt.model_dir = ctx.model.dir;
  opt.model_display = ctx.model.builtin ? "builtin" : ctx.model.display;
  opt.builtin_model = ctx.model.builtin;
  opt.builtin_dir = ctx.builtin_dir.empty() ? ctx.model.dir : ctx.builtin_dir;
  opt.variants = chosen_variants(ctx.param("variants"));
  opt.text = expand_home(ctx.param("text"));
  opt.mmlu = expand_home(ctx.param("mmlu"));
  opt.shots = static_cast<int>(std::stoi(ctx.param("shots")));
  opt.chunks = ctx.param_int("chunks");
  opt.backend = ctx.device.backend;
  // The cache the command line uses too (qlab suite), so work done there is not done again here; a job
  // with no folder of its own (tests) keeps a cache beside nothing else.
  opt.cache_root = ctx.out_dir.empty() ? std::filesystem::temp_directory_path() / "qlab-suite-cache"
                                       : suite::Cache::default_root();

  std::vector<Line> lines;
  for (const auto& n : suite::resolve_variant_names(opt.variants)) {
    Line l;
    l.name = n;
    lines.push_back(std::move(l));
  }
  std::mutex mu;
  auto last_partial = Clock::now() - std::chrono::seconds(1);
  auto publish = [&](bool force) {
    if (!ctx.partial) return;
    if (!force && Clock::now() - last_partial < std::chrono::milliseconds(250)) return;
    last_partial = Clock::now();
    StepResult pr;
    pr.blocks.push_back(progress_table(lines));
    ctx.partial(std::move(pr));
  };
  std::vector<std::string> notices;
  suite::SuiteEvents ev;
  ev.notice = [&](const std::string& s) { notices.push_back(s); };
  ev.variant_started = [&](std::size_t i, const std::string&) {
    std::lock_guard lock(mu);
    lines[i].state = "running";
    lines[i].started = Clock::now();
    publish(true);
  };
  ev.variant_progress = [&](std::size_t i, double f, const std::string& label) {
    std::lock_guard lock(mu);
    lines[i].fraction = f;
    lines[i].detail = fmt::format("{:.0f}% {}{}", 100 * f, label, eta(lines[i]));
    publish(false);
  };
  ev.variant_done = [&](std::size_t i, const suite::VariantResult& v) {
    std::lock_guard lock(mu);
    const double secs = std::chrono::duration<double>(Clock::now() - lines[i].started).count();
    lines[i].state = v.error.empty() ? "done" : "failed";
    lines[i].detail = !v.error.empty()      ? v.error
                      : !v.from_cache.empty() && v.from_cache.size() >= 2 ? "from the cache"
                                                                          : fmt::format("{:.1f} s", secs);
    publish(true);
  };
  suite::SuiteRun run;
  try {
    run = suite::run_suite(opt, ev, progress, stop);
  } catch (const Cancelled&) {
    int done = 0;
    for (const auto& l : lines) done += l.state == "done" ? 1 : 0;
    if (!ctx.out_dir.empty())
      write_checkpoint(ctx.out_dir, {{"variants", opt.variants}}, {{"done", done}},
                       fmt::format("{} of {} variants done", done, lines.size()));
    throw;
  }
  if (!ctx.out_dir.empty()) remove_checkpoint(ctx.out_dir);

  StepResult r;
  const report::TableView tv = report::table(run);
  Table t;
  t.title = "Every variant on the same tokens (o sorts by the next column)";
  t.header = tv.header;
  t.rows = tv.rows;
  t.right_align = tv.numeric;
  t.sortable = true;
  r.blocks.push_back(std::move(t));

  const suite::VariantResult* base = suite::baseline_of(run);
  LineChart pareto;
  pareto.title = "Perplexity increase against bits per weight (lower left is better)";
  pareto.x_label = "bits per weight";
  pareto.y_label = "PPL increase";
  for (const auto& v : run.variants)
    if (v.error.empty() && v.ppl && base && base->ppl)
      pareto.series.push_back({v.name, {v.bits_per_weight}, {v.ppl->ppl - base->ppl->ppl}});
  r.blocks.push_back(std::move(pareto));

  Table claims;
  claims.title = "The module's claimed costs beside what this model measured";
  claims.header = {"variant", "module: PPL increase", "measured", "module: MMLU loss (points)", "measured"};
  for (const auto& c : report::module_claims())
    for (const auto& v : run.variants)
      if (v.name == c.variant && v.error.empty())
        claims.rows.push_back(
            {v.name, c.ppl_increase, base && base->ppl && v.ppl ? fmt::format("{:+.4f}", v.ppl->ppl - base->ppl->ppl) : "-",
             c.mmlu_loss,
             base && base->mmlu && v.mmlu ? fmt::format("{:+.2f}", 100 * (v.mmlu->micro - base->mmlu->micro)) : "-"});
  r.blocks.push_back(std::move(claims));
  r.blocks.push_back(Text{
      "The module's figures are absolute perplexity increases, and they do not transfer between models: the same "
      "damage adds more to a model whose perplexity is 6 than to one whose perplexity is 2, and a small model "
      "loses more than a large one. The PPL ratio and the KL-divergence are measured against the model itself, "
      "token by token: KLD says how far each next-token distribution moved, whatever the model's size, so "
      "those are the columns to compare across models."});
  if (base && base->mmlu && base->mmlu->text_items > 0)
    r.blocks.push_back(Text{fmt::format(
        "The built-in model scores {:.1f}% by the answer letter (guessing scores 25%) and {:.1f}% by the answer "
        "text: a model this small does not learn to map A-D to the answers, so the letter score hides what "
        "quantization does to its knowledge; the answer-text column shows it.",
        100 * base->mmlu->micro, 100 * base->mmlu->answer_text)});
  std::string protocol = fmt::format("Text: {}. {}.", run.text_origin, run.ppl_protocol);
  if (!run.chunk_note.empty()) protocol += fmt::format(" {}.", run.chunk_note);
  if (!run.mmlu_origin.empty()) protocol += fmt::format(" MMLU: {}; {}.", run.mmlu_origin, run.mmlu_protocol);
  r.blocks.push_back(Text{protocol});
  for (const auto& n : notices) r.blocks.push_back(Text{n});
  for (const auto& n : run.notes) r.blocks.push_back(Text{n});

  int failed = 0;
  for (const auto& v : run.variants) failed += v.error.empty() ? 0 : 1;
  const bool all = ctx.param("variants") == "all" && failed == 0;
  if (!ctx.out_dir.empty()) {
    const report::Written w = report::write_reports(run, ctx.out_dir / "reports");
    r.blocks.push_back(Text{fmt::format("The report: {} (open it in a browser), with {} and {} beside it.",
                                        w.html.string(), w.markdown.filename().string(), w.csv.filename().string())});
    r.record["reports"] = report_entry(run, w);
  }
  r.blocks.push_back(Text{all ? fmt::format("Every variant this build can make was measured ({}): the milestone is "
                                            "complete. The same table from the command line: qlab suite {}",
                                            run.variants.size(), opt.model_display)
                              : "The milestone completes when a run covers every variant this build can make "
                                "(the variants setting 'all', every variant measured)."});
  nlohmann::json variants = nlohmann::json::object();
  for (const auto& v : run.variants) {
    nlohmann::json j{{"bits_per_weight", v.bits_per_weight}};
    if (v.ppl) j.update({{"ppl", v.ppl->ppl}, {"ppl_ratio", std::exp(v.ppl->ln_ratio)}, {"kld", v.ppl->kld_mean}});
    if (v.mmlu) j["mmlu"] = v.mmlu->micro;
    if (!v.error.empty()) j["error"] = v.error;
    variants[v.name] = j;
  }
  r.record["variants"] = variants;
  r.record["seconds"] = run.seconds;
  r.record["completes_milestone"] = all;
  progress.report(1.0, "done");
  return r;
}

}  // namespace

Lab make_lab07() {
  Lab l;
  l.number = 7;
  l.id = "lab07";
  l.milestone_id = "m7";
  Step s{"lab07.suite", suite_job, false, true};
  s.params = {Param{"variants", ParamKind::Choice, "all", {"all", "4-bit"}, 0, 0},
              Param{"text", ParamKind::File, "", {}, 0, 0},
              Param{"mmlu", ParamKind::File, "", {}, 0, 0},
              Param{"shots", ParamKind::Choice, "0", {"0", "5"}, 0, 0},
              Param{"chunks", ParamKind::Integer, "0", {}, 0, 1 << 24}};
  s.resumable = true;
  l.steps = {Step{"lab07.objectives", {}, false, false}, std::move(s)};
  return l;
}

}  // namespace qlab::labs
