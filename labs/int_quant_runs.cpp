// One integer quantization of the lab's model, written and scored (int_quant_runs.h).
#include "labs/int_quant_runs.h"

#include <chrono>

#include <fmt/format.h>

#include "engine/core/error.h"
#include "engine/eval/perplexity.h"
#include "engine/exporter/int_export.h"
#include "engine/quant/awq_model.h"
#include "engine/quant/rtn_model.h"
#include "labs/scoring.h"

namespace qlab::labs {

namespace {

namespace fs = std::filesystem;

std::string group_text(std::int64_t g) { return g > 0 ? fmt::format("g{}", g) : std::string("per-row"); }

std::string upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

std::string IntQuantVariant::label() const {
  return fmt::format("{} {}{}", upper(method), group_text(group), act_order ? " act-order" : "");
}

std::string IntQuantVariant::folder() const {
  return fmt::format("{}-int4-{}{}", method, group > 0 ? fmt::format("g{}", group) : std::string("ch"),
                     act_order ? "-act-order" : "");
}

namespace {
const fs::path& model_folder(const JobContext& ctx, Progress& progress) {
  std::error_code ec;
  if (!fs::exists(ctx.model.dir / "config.json", ec))
    throw NotAvailable(fmt::format("needs a model: {} has no config.json", ctx.model.dir.string()));
  progress.report(0.0, "loading the model");
  return ctx.model.dir;
}
}  // namespace

IntQuantRunner::IntQuantRunner(const JobContext& ctx, const fs::path& folder, Progress& progress)
    : ctx_(ctx),
      folder_(folder),
      base_(model::Model::load(model_folder(ctx, progress))),
      tok_(io::Tokenizer::load(ctx.model.dir)) {
  const ScoringText text = scoring_text(ctx, ctx.param("text"), "eval.txt");
  setup_ = scoring_setup(ctx, base_.config(), tok_, text, ctx.param_int("chunks"));
  text_origin_ = text.origin;
  const ScoringText calib = scoring_text(ctx, "", "calib.txt");
  calib_path_ = calib.path;
  calib_origin_ = calib.origin;
}

const quant::CalibrationSet& IntQuantRunner::calibration(const std::string& method) {
  std::optional<quant::CalibrationSet>& held = method == "gptq" ? gptq_calib_ : awq_calib_;
  if (!held) {
    const std::int64_t seq = quant::calibration_seq_len(base_.config(), 0,
                                                        method == "gptq" ? quant::kGptqSeqLen : quant::kAwqSeqLen);
    held = quant::load_calibration(calib_path_, tok_, quant::kCalibrationSamples, seq, 0);
  }
  last_calib_ = &*held;
  return *held;
}

std::int64_t IntQuantRunner::calib_samples() const { return last_calib_ ? last_calib_->samples : 0; }
std::int64_t IntQuantRunner::calib_seq_len() const { return last_calib_ ? last_calib_->seq_len : 0; }

IntQuantRow IntQuantRunner::run(const IntQuantVariant& v, Progress& progress, std::stop_token stop) {
  IntQuantRow row;
  row.variant = v;
  model::Model m = base_;  // shares the mapping; the quantized Linears become its own
  exporter::IntLinears linears;
  const quant::LinearSink sink = [&](int layer, const char* name, quant::QuantizedLinear&& q) {
    q.dequantized = {};
    linears.emplace(fmt::format("model.layers.{}.{}", layer, name), std::move(q));
  };
  ProgressPart pq(progress, 0.0, 0.5, fmt::format("{}: quantizing", v.label()));
  const auto t0 = std::chrono::steady_clock::now();
  if (v.method == "gptq") {
    quant::GptqModelOptions o;
    o.gptq.bits = 4;
    o.gptq.group_size = v.group;
    o.gptq.act_order = v.act_order;
    o.backend = ctx_.device.backend;
    row.report = quant::quantize_model_gptq(m, calibration("gptq"), o, pq, stop, {}, sink);
  } else if (v.method == "awq") {
    quant::AwqOptions o;
    o.bits = 4;
    o.group_size = v.group;
    o.backend = ctx_.device.backend;
    row.report = quant::quantize_model_awq(m, calibration("awq"), o, pq, stop, {}, sink);
  } else {
    row.report = quant::quantize_model_rtn(m, 4, v.group, false, pq, stop, sink);
  }
  row.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  io::IntScheme scheme;
  scheme.layout = v.method == "awq" ? io::IntLayout::Awq : io::IntLayout::Gptq;
  scheme.bits = 4;
  scheme.group_size = v.group;
  scheme.act_order = v.act_order;
  scheme.method = v.method;
  scheme.ignore = {"lm_head"};
  std::uint64_t weights = 0;
  for (const auto& [name, q] : linears) weights += static_cast<std::uint64_t>(q.rows * q.cols);
  try {
    exporter::check_int_export(base_.config(), scheme);
  } catch (const Error& e) {
    row.note = e.what();
  }
  if (row.note.empty()) {
    const fs::path out = folder_ / v.folder();
    std::error_code ec;
    fs::remove_all(out, ec);  // the lab's own checkpoint of an earlier run
    ProgressPart pw(progress, 0.5, 0.6, fmt::format("{}: writing the checkpoint", v.label()));
    exporter::IntExportOptions eo;
    eo.stop = stop;
    const exporter::IntExportResult w = exporter::write_int_checkpoint(ctx_.model.dir, out, m, linears, scheme, eo, pw);
    row.linear_bytes = w.linear_written_bytes;
    row.checkpoint = out;
  } else {
    // what the layout would hold: 4-bit codes, a float16 scale and a 4-bit zero per group of each row
    // (a last group shorter than the group size, as the in-memory run made it)
    for (const auto& [name, q] : linears)
      row.linear_bytes += static_cast<std::uint64_t>(q.rows) *
                          static_cast<std::uint64_t>(q.cols / 2 + q.groups() * 2 + (q.groups() + 1) / 2);
  }
  row.bits_per_weight = weights ? 8.0 * static_cast<double>(row.linear_bytes) / static_cast<double>(weights) : 0.0;
  ProgressPart ps(progress, 0.6, 1.0, fmt::format("{}: scoring", v.label()));
  const eval::KldResult k = eval::kl_divergence(base_, m, setup_.tokens, setup_.options, ps, stop);
  base_ppl_ = k.base.nll.ppl();
  row.ppl = k.test.nll.ppl();
  row.kld = k.mean_kld();
  row.same_top = k.same_top_fraction();
  return row;
}

std::vector<IntQuantRow> run_variants(IntQuantRunner& runner, const std::vector<IntQuantVariant>& variants,
                                      const std::string& title, const JobContext& ctx, Progress& progress,
                                      std::stop_token stop) {
  std::vector<IntQuantRow> rows;
  const double n = static_cast<double>(variants.size());
  for (std::size_t i = 0; i < variants.size(); ++i) {
    check_cancel(stop);
    ProgressPart part(progress, static_cast<double>(i) / n, static_cast<double>(i + 1) / n);
    rows.push_back(runner.run(variants[i], part, stop));
    if (ctx.partial) {
      StepResult pr;
      pr.blocks.push_back(Text{fmt::format("So far: {} of {} runs.", rows.size(), variants.size())});
      pr.blocks.push_back(int_quant_table(title, rows, runner.base_ppl()));
      ctx.partial(std::move(pr));
    }
  }
  return rows;
}

std::vector<Param> scoring_params() {
  return {Param{"text", ParamKind::File, "", {}, 0, 0}, Param{"chunks", ParamKind::Integer, "0", {}, 0, 1 << 24}};
}

Table int_quant_table(const std::string& title, const std::vector<IntQuantRow>& rows, double base_ppl) {
  Table t;
  t.title = title;
  t.header = {"method", "group", "bits/w", "size", "perplexity", "change", "KLD", "same top", "time", "checkpoint"};
  for (const IntQuantRow& r : rows)
    t.rows.push_back({upper(r.variant.method) + (r.variant.act_order ? " act-order" : ""), group_text(r.variant.group),
                      fmt::format("{:.3f}", r.bits_per_weight), fmt::format("{:.2f} MB", r.linear_bytes / 1e6),
                      fmt::format("{:.4f}", r.ppl), fmt::format("{:+.4f}", r.ppl - base_ppl),
                      fmt::format("{:.5f}", r.kld), fmt::format("{:.1f}%", 100 * r.same_top),
                      fmt::format("{:.1f} s", r.seconds),
                      r.checkpoint.empty() ? std::string("in memory") : r.checkpoint.filename().string()});
  t.right_align.assign(t.header.size(), true);
  t.right_align[0] = t.right_align[1] = t.right_align.back() = false;
  return t;
}

nlohmann::json int_quant_record(const std::vector<IntQuantRow>& rows, double base_ppl) {
  nlohmann::json j = nlohmann::json::array();
  for (const IntQuantRow& r : rows)
    j.push_back({{"method", r.variant.method}, {"group", r.variant.group}, {"act_order", r.variant.act_order},
                 {"bits_per_weight", r.bits_per_weight}, {"linear_bytes", r.linear_bytes}, {"ppl", r.ppl},
                 {"ppl_change", r.ppl - base_ppl}, {"kld", r.kld}, {"same_top", r.same_top}, {"seconds", r.seconds},
                 {"checkpoint", r.checkpoint.string()}, {"note", r.note}});
  return j;
}

}  // namespace qlab::labs
