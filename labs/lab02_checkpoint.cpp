// Lab 2's checkpoint step (lab02_checkpoint.h), read top to bottom:
//   1. the model, its scoring text (one perplexity set-up for every row) and its parameter count
//   2. per format: `qlab quantize MODEL --method M --out DIR` into the step's folder (streamed tensor by
//      tensor from the mapped shards, written to a staging folder, re-read bit for bit, renamed into
//      place), with the process's resident memory sampled on every progress report
//   3. per format: the written folder loaded as a server would load it and scored against the model as
//      stored, on the same tokens: perplexity with its +- interval, KL-divergence, same top token
//   4. the sizes measured from the written bytes, and the milestone: a model of 60B parameters or more
#include "labs/lab02_checkpoint.h"

#include <algorithm>
#include <chrono>

#include <fmt/format.h>

#include "engine/core/resident_memory.h"
#include "engine/eval/perplexity.h"
#include "engine/exporter/quantize_checkpoint.h"
#include "engine/io/tokenizer.h"
#include "engine/model/model.h"
#include "labs/scoring.h"
#include "labs/step_files.h"

namespace qlab::labs {

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr double kLargeModelParameters = 20e9;  // scores a few chunks unless asked for more
constexpr std::int64_t kLargeModelChunks = 4;

struct Variant {
  std::string method;
  io::QuantLayout layout;
};

struct Row {
  Variant variant;
  fs::path folder;
  exporter::QuantizeResult written;
  std::uint64_t rss_before = 0, rss_peak = 0;  // sampled while it ran
  double seconds = 0;                          // quantizing, writing and the re-read check
  eval::KldResult score;
};

// Passes the quantizer's progress on with the process's resident memory against the machine's, and
// keeps the largest it saw.
class MemoryProgress final : public Progress {
 public:
  explicit MemoryProgress(Progress& parent) : parent_(parent), total_(physical_memory_bytes()) {}
  void report(double fraction, std::string_view label) override {
    const std::uint64_t now = resident_bytes();
    peak_ = std::max(peak_, now);
    parent_.report(fraction, fmt::format("{}  resident {:.2f} of {:.0f} GB", label, now / 1e9, total_ / 1e9));
  }
  std::uint64_t peak() const { return peak_; }

 private:
  Progress& parent_;
  std::uint64_t total_, peak_ = 0;
};

std::string gb(double bytes) {
  if (bytes >= 1e9) return fmt::format("{:.2f} GB", bytes / 1e9);
  return bytes >= 1e7 ? fmt::format("{:.0f} MB", bytes / 1e6) : fmt::format("{:.2f} MB", bytes / 1e6);
}

std::string params_text(double n) {
  return n >= 1e9 ? fmt::format("{:.1f}B", n / 1e9) : n >= 1e6 ? fmt::format("{:.1f}M", n / 1e6)
                                                                : fmt::format("{:.0f}K", n / 1e3);
}

Row run_variant(const JobContext& ctx, const Variant& v, const fs::path& folder, const fs::path& calib,
                const model::Model& base, const eval::PplSetup& setup, Progress& progress, std::stop_token stop) {
  Row row;
  row.variant = v;
  row.folder = folder / fmt::format("{}-{}", v.method, io::layout_name(v.layout));
  exporter::QuantizeOptions o;
  o.method = v.method;
  o.layout = v.layout;
  o.replace_existing = true;  // this step's own checkpoint of an earlier run, replaced once the new one passed
  o.resume = true;            // a cancelled run's complete shards are kept: the next run continues from them
  o.discard_other = true;     // unless the settings changed
  o.calibration = {calib, 64, 512, 0};  // qlab quantize's defaults
  o.stop = stop;
  ProgressPart pq(progress, 0.0, 0.6, fmt::format("{}: quantizing", v.method));
  MemoryProgress pm(pq);
  row.rss_before = resident_bytes();
  const auto t0 = Clock::now();
  row.written = exporter::quantize_checkpoint(ctx.model.dir, row.folder, o, pm);
  row.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  row.rss_peak = std::max(pm.peak(), row.rss_before);
  ProgressPart ps(progress, 0.6, 1.0, fmt::format("{}: scoring the written checkpoint", v.method));
  const model::Model q = model::Model::load(row.folder);
  row.score = eval::kl_divergence(base, q, setup.tokens, setup.options, ps, stop);
  return row;
}

}  // namespace

StepResult lab02_checkpoint_job(const JobContext& ctx, Progress& progress, std::stop_token stop) {
  std::error_code ec;
  if (!fs::exists(ctx.model.dir / "config.json", ec))
    throw NotAvailable(fmt::format("needs a model folder: {} has no config.json", ctx.model.dir.string()));
  progress.report(0.0, "loading the model");
  const model::Model base = model::Model::load(ctx.model.dir);
  const io::Tokenizer tok = io::Tokenizer::load(ctx.model.dir);
  const double params = static_cast<double>(base.config().parameter_count());
  const ScoringText text = scoring_text(ctx, ctx.param("text"), "eval.txt");
  const ScoringText calib = scoring_text(ctx, "", "calib.txt");
  std::int64_t chunks = ctx.param_int("chunks");
  const bool few = chunks == 0 && params >= kLargeModelParameters;
  const std::int64_t all_chunks = scoring_setup(ctx, base.config(), tok, text, 0).chunks;
  if (few) chunks = kLargeModelChunks;
  const eval::PplSetup setup = scoring_setup(ctx, base.config(), tok, text, chunks);

  std::vector<Variant> variants = {{ctx.param("method"), io::QuantLayout::ModelOpt}};
  if (ctx.param("beside") != "none")
    variants.insert(variants.end(), {{"mxfp4", io::QuantLayout::CompressedTensors}, {"fp8", io::QuantLayout::ModelOpt}});
  StepFolder folder(ctx.out_dir);
  std::vector<Row> rows;
  std::size_t i = 0;
  try {
    for (; i < variants.size(); ++i) {
      check_cancel(stop);
      const double n = static_cast<double>(variants.size());
      ProgressPart part(progress, static_cast<double>(i) / n, static_cast<double>(i + 1) / n);
      rows.push_back(run_variant(ctx, variants[i], folder.path(), calib.path, base, setup, part, stop));
    }
  } catch (const exporter::Suspended& s) {
    // The writer kept complete shards for the next run (quantize_checkpoint's resume): the tutor says
    // so, and says what, only when there is something to continue from. (A model of one shard keeps none.)
    write_checkpoint(ctx.out_dir, {{"model", ctx.model.dir.string()}},
                     {{"variant", variants[i].method}, {"shards", s.shards}},
                     fmt::format("{}: {} complete shard{} written", variants[i].method, s.shards,
                                 s.shards == 1 ? "" : "s"));
    throw;
  } catch (const Cancelled&) {
    remove_checkpoint(ctx.out_dir);
    throw;
  }
  remove_checkpoint(ctx.out_dir);

  StepResult r;
  const Row& head = rows.front();
  const double weights = static_cast<double>(head.written.linear_weights);
  Table sizes;
  sizes.title = fmt::format("Measured from the written files (the source: Linear weights {}, all tensors {})",
                            gb(double(rows.front().written.linear_source_bytes)),
                            gb(double(rows.front().written.source_bytes)));
  sizes.header = {"format", "layout", "Linear", "smaller", "vs BF16", "all tensors", "smaller", "on disk", "GB/s",
                  "peak RSS"};
  Table quality;
  quality.title = fmt::format("The written checkpoints scored against the model as stored: {}", setup.protocol);
  quality.header = {"format", "perplexity", "change", "KLD", "same top token", "re-read"};
  const double base_ppl = head.score.base.nll.ppl(), base_err = head.score.base.nll.ppl_error();
  quality.rows.push_back({"as stored", fmt::format("{:.4f} ± {:.4f}", base_ppl, base_err), "", "", "", ""});
  nlohmann::json rec = nlohmann::json::array();
  for (const Row& w : rows) {
    const auto& q = w.written;
    const double lin = q.linear_written_bytes ? double(q.linear_source_bytes) / double(q.linear_written_bytes) : 0;
    const double bf16 = q.linear_written_bytes ? 2.0 * double(q.linear_weights) / double(q.linear_written_bytes) : 0;
    const double whole = q.files.tensor_bytes ? double(q.source_bytes) / double(q.files.tensor_bytes) : 0;
    const double gbps = w.seconds > 0 ? double(q.source_bytes) / w.seconds / 1e9 : 0;
    sizes.rows.push_back({w.variant.method, io::layout_name(w.variant.layout),
                          gb(double(q.linear_written_bytes)), fmt::format("{:.2f}x", lin), fmt::format("{:.2f}x", bf16),
                          gb(double(q.files.tensor_bytes)),
                          fmt::format("{:.2f}x", whole), gb(double(q.files.bytes)), fmt::format("{:.2f}", gbps),
                          gb(double(w.rss_peak))});
    const double ppl = w.score.test.nll.ppl();
    quality.rows.push_back({w.variant.method, fmt::format("{:.4f} ± {:.4f}", ppl, w.score.test.nll.ppl_error()),
                            fmt::format("{:+.4f}", ppl - base_ppl),
                            fmt::format("{:.5f} ± {:.5f}", w.score.mean_kld(), w.score.mean_kld_error()),
                            fmt::format("{:.1f}%", 100 * w.score.same_top_fraction()), "bit for bit"});
    rec.push_back({{"method", w.variant.method}, {"export", io::layout_name(w.variant.layout)},
                   {"folder", w.folder.string()}, {"linear_weights", q.linear_weights},
                   {"linear_source_bytes", q.linear_source_bytes}, {"linear_written_bytes", q.linear_written_bytes},
                   {"linear_ratio", lin}, {"linear_ratio_vs_bf16", bf16}, {"source_bytes", q.source_bytes},
                   {"written_tensor_bytes", q.files.tensor_bytes}, {"written_bytes", q.files.bytes},
                   {"whole_ratio", whole}, {"shards", q.files.shards}, {"seconds", w.seconds},
                   {"gb_per_second", gbps}, {"resident_before_bytes", w.rss_before},
                   {"resident_peak_bytes", w.rss_peak}, {"ppl", ppl}, {"ppl_error", w.score.test.nll.ppl_error()},
                   {"ppl_change", ppl - base_ppl}, {"kld", w.score.mean_kld()}, {"kld_error", w.score.mean_kld_error()},
                   {"same_top", w.score.same_top_fraction()}, {"reread_check", "passed"},
                   {"activation_scales", q.scheme.input_scale()}});
  }
  sizes.right_align.assign(sizes.header.size(), true);
  sizes.right_align[0] = sizes.right_align[1] = false;
  r.blocks.push_back(std::move(sizes));
  const auto& hq = head.written;
  const double kept = hq.source_bytes ? 100.0 * double(hq.source_bytes - hq.linear_source_bytes) / double(hq.source_bytes) : 0;
  r.blocks.push_back(Text{fmt::format(
      "{}: its {} Linear weights ({} parameters) went from {} to {}, {:.2f}x smaller; against BF16's 16 bits a "
      "weight, {:.2f}x: the 16 / 4.5 of NVFP4's bits. The whole checkpoint shrank less, {:.2f}x, because "
      "embeddings, lm_head and norms, {:.0f}% of the source's bytes, stay as stored.",
      head.variant.method, hq.quantized, params_text(weights), gb(double(hq.linear_source_bytes)),
      gb(double(hq.linear_written_bytes)),
      hq.linear_written_bytes ? double(hq.linear_source_bytes) / double(hq.linear_written_bytes) : 0.0,
      hq.linear_written_bytes ? 2.0 * weights / double(hq.linear_written_bytes) : 0.0,
      hq.files.tensor_bytes ? double(hq.source_bytes) / double(hq.files.tensor_bytes) : 0.0, kept)});
  r.blocks.push_back(Text{fmt::format(
      "Memory: the quantizer streams one tensor at a time from the mapped shards, so this process stayed at or below "
      "{} resident ({} before it started) on a machine with {}, for a {} source. Throughput {:.2f} GB of source "
      "per second, the re-read check included.",
      gb(double(head.rss_peak)), gb(double(head.rss_before)), gb(double(physical_memory_bytes())),
      gb(double(hq.source_bytes)), head.seconds > 0 ? double(hq.source_bytes) / head.seconds / 1e9 : 0.0)});
  r.blocks.push_back(std::move(quality));
  if (hq.scheme.input_scale())
    r.blocks.push_back(Text{"The W4A4 checkpoint also quantizes every Linear's input at run time with the scale "
                            "calibration stored (input_scale); qlab emulates that in float32 when it runs the "
                            "checkpoint, so its perplexity includes the activations' error, as a server's would."});
  if (few)
    r.blocks.push_back(Text{fmt::format(
        "Scored {} of the text's {} chunks (a model this size takes long on this machine: {:.0f} s per chunk here, "
        "so about {:.0f} min for all of them; set Chunks to score more).",
        setup.chunks, all_chunks, head.score.test.seconds / std::max<std::int64_t>(1, setup.chunks),
        head.score.test.seconds / std::max<std::int64_t>(1, setup.chunks) * double(all_chunks) / 60)});
  const bool milestone = params >= kLab02MilestoneParameters;
  r.blocks.push_back(Text{
      milestone ? fmt::format("A {}-parameter model quantized to {} and re-read: the milestone is complete.",
                              params_text(params), head.variant.method)
                : fmt::format("This model has {} parameters. The milestone asks for a 70B-class model ({}B parameters "
                              "or more): run this step with --model on one, or tick the milestone by hand (x) "
                              "once you have done it elsewhere.",
                              params_text(params), kLab02MilestoneParameters / 1e9)});
  r.blocks.push_back(Text{fmt::format("The checkpoints are in {}{}. Lab 8 prints the commands that serve them.",
                                      folder.path().string(), ctx.out_dir.empty() ? " (removed after this run)" : "")});
  r.record["checkpoints"] = std::move(rec);
  r.record["parameters"] = params;
  r.record["base_ppl"] = base_ppl;
  r.record["base_ppl_error"] = base_err;
  r.record["protocol"] = setup.protocol;
  r.record["text"] = text.origin;
  r.record["chunks_scored"] = setup.chunks;
  r.record["chunks_in_text"] = all_chunks;
  r.record["completes_milestone"] = milestone;
  progress.report(1.0, "done");
  return r;
}

}  // namespace qlab::labs
