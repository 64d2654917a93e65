// Lab 2 — NVFP4 on the current model (the module's showcase).
//   lab02.block_scales  per-block scales of a real weight tensor, drawn
//   lab02.compare       error and bits per weight: NVFP4 vs MXFP4, NF4, int4-g128
//   lab02.memory        the memory table: 8B / 70B / ~200B x formats against 128 GB
//   lab02.perplexity    perplexity before and after NVFP4
// Each job runs on the engine; a part the engine does not have yet says so instead of guessing.
#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "engine/core/atomic_file.h"
#include "engine/eval/fake_quant.h"
#include "engine/eval/perplexity.h"
#include "engine/formats/block.h"
#include "engine/io/tokenizer.h"
#include "engine/model/model.h"
#include "engine/formats/metrics.h"
#include "engine/formats/scalar.h"
#include "engine/quant/memory_model.h"
#include "labs/lab.h"
#include "labs/model_tensor.h"
#include "labs/tensor_stats.h"

namespace qlab::labs {

namespace {

namespace F = qlab::formats;

F::BlockFormatSpec spec(const std::string& name) {
  auto s = F::block_format_from_name(name);
  if (!s) throw NotAvailable(fmt::format("the block format {} is not in this build", name));
  return *s;
}

StepResult block_scales_job(const JobContext& ctx, Progress& progress, std::stop_token stop) {
  progress.report(0.0, "reading the weights");
  WeightSample w = load_weight_sample(ctx.model, 1 << 20);
  check_cancel(stop);
  progress.report(0.3, "quantizing to nvfp4");
  F::QuantizedTensor q = F::quantize(spec("nvfp4"), w.data, w.rows, w.cols);
  check_cancel(stop);
  const double s2 = q.tensor_scales.empty() ? 0.0 : q.tensor_scales[0];
  StepResult r;
  r.blocks.push_back(Text{fmt::format(
      "Tensor {} ({} of {} rows x {} columns): {} blocks of 16. Tensor scale (FP32) = largest |w| / 2688 = {:.4g}.",
      w.name, w.rows, w.full_rows, w.cols, q.scales.size(), s2)});
  // Distribution of the E4M3 block scales, on a log2 axis: scales are powers of two times 1..1.875.
  std::vector<double> l2;
  l2.reserve(q.scales.size());
  int at_max = 0;
  for (std::uint8_t code : q.scales) {
    double v = F::decode(F::ScalarFormat::E4M3, code);
    if (v > 0) l2.push_back(std::log2(v));
    if (v == 448.0) ++at_max;
  }
  Histogram h;
  h.title = "Block scales (E4M3 value, log2 scale): most blocks use far less than the tensor's largest";
  h.x_label = "log2(block scale)";
  h.lo = -9;
  h.hi = std::log2(448.0);
  h.counts.assign(40, 0.0);
  for (double v : l2) {
    int b = static_cast<int>((v - h.lo) / (h.hi - h.lo) * 40);
    h.counts[static_cast<std::size_t>(std::clamp(b, 0, 39))] += 1;
  }
  r.blocks.push_back(std::move(h));
  // The first blocks of row 0, spelled out.
  Table t;
  t.title = "The first blocks of row 0";
  t.header = {"block", "largest |w|", "scale code", "E4M3 scale", "scale x s2", "max error"};
  std::vector<float> deq(w.data.size());
  F::dequantize(q, deq);
  const std::int64_t nb = w.cols / 16;
  for (std::int64_t b = 0; b < std::min<std::int64_t>(6, nb); ++b) {
    double amax = 0, err = 0;
    for (int i = 0; i < 16; ++i) {
      std::size_t k = static_cast<std::size_t>(b * 16 + i);
      amax = std::max(amax, static_cast<double>(std::fabs(w.data[k])));
      err = std::max(err, static_cast<double>(std::fabs(deq[k] - w.data[k])));
    }
    std::uint8_t code = q.scales[static_cast<std::size_t>(b)];
    double sb = F::decode(F::ScalarFormat::E4M3, code);
    t.rows.push_back({std::to_string(b), fmt::format("{:.4g}", amax), fmt::format("0x{:02x}", code),
                      fmt::format("{:g}", sb), fmt::format("{:.4g}", sb * s2), fmt::format("{:.3g}", err)});
  }
  r.blocks.push_back(std::move(t));
  ErrorStats st = error_stats(w.data, deq);
  r.blocks.push_back(Text{fmt::format("SQNR of the whole tensor in NVFP4: {} dB. Blocks whose scale reached 448: {}. "
                                      "Bits per weight from the stored bytes: {:.3f}.",
                                      fmt_db(st.sqnr_db), at_max, q.bits_per_weight())});
  r.record = {{"tensor", w.name}, {"tensor_scale", s2}, {"blocks", q.scales.size()}, {"sqnr_db", st.sqnr_db},
              {"bits_per_weight", q.bits_per_weight()}};
  progress.report(1.0, "done");
  return r;
}

StepResult compare_job(const JobContext& ctx, Progress& progress, std::stop_token stop) {
  progress.report(0.0, "reading the weights");
  WeightSample w = load_weight_sample(ctx.model, 1 << 20);
  std::vector<std::pair<std::string, std::vector<float>>> tensors = {
      {"model tensor", w.data},
      {"gaussian+outliers", synthetic_tensor(SyntheticKind::GaussianOutliers, static_cast<std::size_t>(w.rows * w.cols))}};
  const std::vector<std::string> names = {"nvfp4", "mxfp4", "nf4", "nf4-dq", "int4-g128"};
  StepResult r;
  Table t;
  t.title = fmt::format("4-bit formats on {} ({}x{}) and on a synthetic tensor of the same shape", w.name, w.rows, w.cols);
  t.header = {"format", "bits/weight", "SQNR model", "rel. error", "SQNR synth."};
  BarChart bars;
  bars.title = "SQNR on the model tensor";
  bars.unit = "dB";
  std::size_t done = 0;
  std::vector<std::string> padded;
  for (const auto& n : names) {
    check_cancel(stop);
    F::BlockFormatSpec s = spec(n);
    // Rows that do not fill whole blocks (a narrow model's rows in 128-wide groups) are zero-padded, as a
    // checkpoint would have to be; the padding's bytes count against the real weights.
    const std::int64_t pcols = F::padded_cols(s, w.cols);
    if (pcols != w.cols) padded.push_back(fmt::format("{} ({} columns padded to {})", n, w.cols, pcols));
    std::vector<std::string> row = {n};
    for (std::size_t k = 0; k < tensors.size(); ++k) {
      const auto& x = tensors[k].second;
      try {
        const std::vector<float> xp = pcols == w.cols ? x : F::pad_columns(x, w.rows, w.cols, pcols);
        F::QuantizedTensor q = F::quantize(s, xp, w.rows, pcols);
        std::vector<float> yp(xp.size()), y(x.size());
        F::dequantize(q, yp);
        for (std::int64_t r = 0; r < w.rows; ++r)
          std::copy_n(yp.begin() + r * pcols, w.cols, y.begin() + r * w.cols);
        F::ErrorMetrics m = F::error_metrics(x, y, 1);
        const double bpw = q.bits_per_weight() * static_cast<double>(pcols) / static_cast<double>(w.cols);
        if (k == 0) {
          row.push_back(fmt::format("{:.3f}", bpw));
          row.push_back(fmt_db(m.sqnr_db));
          row.push_back(fmt::format("{:.4f}", m.rel_frobenius));
          bars.labels.push_back(n);
          bars.values.push_back(std::isfinite(m.sqnr_db) ? m.sqnr_db : 0.0);
          r.record[n] = {{"bits_per_weight", bpw}, {"sqnr_db", m.sqnr_db}, {"rel_error", m.rel_frobenius}};
          if (pcols != w.cols) r.record[n]["padded_cols"] = pcols;
        } else {
          row.push_back(fmt_db(m.sqnr_db));
        }
      } catch (const Error& e) {
        // e.g. a width not divisible by the block size: say so in the table
        if (k == 0) row.insert(row.end(), {"-", "-", "-"});
        else row.push_back("-");
        std::string msg = fmt::format("{}: {}", n, e.what());
        if (k == 0 || r.blocks.empty() || !std::holds_alternative<Text>(r.blocks.back()) ||
            std::get<Text>(r.blocks.back()).body != msg)
          r.blocks.push_back(Text{std::move(msg)});  // once, when both tensors fail the same way
      }
      progress.report(static_cast<double>(++done) / static_cast<double>(names.size() * tensors.size()), n);
    }
    t.rows.push_back(std::move(row));
  }
  r.blocks.insert(r.blocks.begin(), Block(std::move(bars)));
  r.blocks.insert(r.blocks.begin(), Block(std::move(t)));
  if (!padded.empty()) {
    std::string list;
    for (const auto& p : padded) list += (list.empty() ? "" : ", ") + p;
    r.blocks.push_back(Text{fmt::format("Zero-padded to whole blocks: {}. Bits per weight count the padding's bytes "
                                        "against the real weights; the error is measured on the real weights only.",
                                        list)});
  }
  r.record["tensor"] = w.name;
  return r;
}

StepResult memory_job(const JobContext&, Progress& progress, std::stop_token stop) {
  const std::vector<std::string> models = {"llama-3.1-8b", "llama-3.1-70b", "falcon-180b"};
  const std::vector<std::string> schemes = {"bf16", "fp8-tensor", "int8-ch", "nvfp4", "mxfp4", "int4-g128", "nf4"};
  quant::MemoryOptions opt;  // 8192 context, batch 1, f16 KV, 128 GB
  StepResult r;
  Table t;
  t.title = fmt::format("GB to serve: weights + KV cache ({} tokens) + runtime; budget {:.0f} GB", opt.context,
                        opt.budget_gb);
  t.header = {"format"};
  std::vector<const quant::ModelArch*> archs;
  for (const auto& id : models) {
    archs.push_back(&quant::builtin_model(id));
    t.header.push_back(archs.back()->name);
  }
  Table wt;
  wt.title = "Weights only, GB, from the bytes each format really stores";
  wt.header = t.header;
  std::size_t done = 0;
  for (const auto& sname : schemes) {
    check_cancel(stop);
    std::vector<std::string> row = {sname}, wrow = {sname};
    for (const auto* a : archs) {
      quant::Scheme s = quant::scheme_from_name(sname, *a);
      quant::MemoryEstimate e = quant::estimate_memory(*a, s, opt);
      row.push_back(fmt::format("{:.0f}{}", e.total_bytes / 1e9, e.fits ? "   " : " no"));
      wrow.push_back(fmt::format("{:.1f}", e.weight_bytes / 1e9));
      r.record[a->id][sname] = {{"total_gb", e.total_bytes / 1e9}, {"weights_gb", e.weight_bytes / 1e9},
                                {"fits", e.fits}, {"bits_per_weight", e.bits_per_weight}};
      progress.report(static_cast<double>(++done) / static_cast<double>(schemes.size() * archs.size()), sname);
    }
    t.rows.push_back(std::move(row));
    wt.rows.push_back(std::move(wrow));
  }
  t.right_align.assign(t.header.size(), true);
  t.right_align[0] = false;
  r.blocks.push_back(std::move(t));
  r.blocks.push_back(std::move(wt));
  r.blocks.push_back(Text{"no = does not fit in the budget. Embeddings and the output head stay in BF16, as "
                          "quantized checkpoints keep them. " + quant::overhead_assumption()});
  return r;
}

// Scales a sub-job's progress into [lo, hi] of the step's bar.
class SubProgress final : public Progress {
 public:
  SubProgress(Progress& p, double lo, double hi, std::string label) : p_(p), lo_(lo), hi_(hi), label_(std::move(label)) {}
  void report(double f, std::string_view) override { p_.report(lo_ + (hi_ - lo_) * f, label_); }

 private:
  Progress& p_;
  double lo_, hi_;
  std::string label_;
};

StepResult perplexity_job(const JobContext& ctx, Progress& progress, std::stop_token stop) {
  std::error_code ec;
  if (!std::filesystem::exists(ctx.model.dir / "config.json", ec))
    throw NotAvailable(fmt::format("needs the built-in model ({} has no config.json), not in this build yet",
                                   ctx.model.dir.string()));
  if (!std::filesystem::exists(ctx.model.dir / "eval.txt", ec))
    throw NotAvailable(fmt::format("needs held-out text: {} has no eval.txt (the built-in model ships one)",
                                   ctx.model.dir.string()));
  progress.report(0.0, "loading the model");
  model::Model base = model::Model::load(ctx.model.dir);
  io::Tokenizer tok = io::Tokenizer::load(ctx.model.dir);
  // The protocol of `qlab ppl MODEL --text eval.txt`, so the learner can reproduce the numbers there:
  // the whole file tokenized once, BOS first when the tokenizer adds one, and that BOS on the first
  // position of every chunk.
  std::vector<std::int32_t> ids = tok.encode(read_file(ctx.model.dir / "eval.txt"), true);
  eval::PplOptions opt;
  opt.n_ctx = std::min<std::int64_t>(512, std::max(16, base.config().max_position_embeddings));
  opt.max_chunks = 16;
  if (tok.bos_id() && !ids.empty() && ids.front() == *tok.bos_id()) opt.bos = tok.bos_id();
  SubProgress p1(progress, 0.05, 0.5, "original weights");
  eval::PplResult before = eval::perplexity(base, ids, opt, p1, stop);
  check_cancel(stop);
  model::Model q = base;
  progress.report(0.5, "quantizing to nvfp4");
  eval::FakeQuantStats st = eval::fake_quantize_model(q, spec("nvfp4"), false, Progress::none(), false, stop);
  SubProgress p2(progress, 0.55, 1.0, "nvfp4 weights");
  eval::PplResult after = eval::perplexity(q, ids, opt, p2, stop);
  StepResult r;
  Table t;
  t.title = fmt::format("Perplexity on held-out text: {} chunks of {} tokens, second half of each scored (llama.cpp protocol)",
                        before.chunks, opt.n_ctx);
  t.header = {"weights", "perplexity", "+/-", "increase"};
  t.rows = {{"original", fmt::format("{:.3f}", before.nll.ppl()), fmt::format("{:.3f}", before.nll.ppl_error()), "-"},
            {"nvfp4", fmt::format("{:.3f}", after.nll.ppl()), fmt::format("{:.3f}", after.nll.ppl_error()),
             fmt::format("{:+.3f}", after.nll.ppl() - before.nll.ppl())}};
  r.blocks.push_back(std::move(t));
  r.blocks.push_back(Text{fmt::format("{} linear weight matrices ({:.0f} weights) went through NVFP4 and back; embeddings and "
                                      "the output head stayed as stored.", st.matrices, st.weights)});
  r.blocks.push_back(Text{fmt::format("The same numbers from the command line: qlab ppl {} --text {} --ctx {} --chunks {} "
                                      "(add --quant nvfp4 for the second row).",
                                      ctx.model.builtin ? std::string("builtin") : ctx.model.dir.string(),
                                      (ctx.model.dir / "eval.txt").string(), opt.n_ctx, opt.max_chunks)});
  r.record = {{"ppl_before", before.nll.ppl()}, {"ppl_after", after.nll.ppl()}, {"n_ctx", opt.n_ctx},
              {"chunks", before.chunks}, {"matrices", st.matrices}};
  return r;
}

}  // namespace

Lab make_lab02() {
  Lab l;
  l.number = 2;
  l.id = "lab02";
  l.milestone_id = "m2";
  l.steps = {
      Step{"lab02.block_scales", block_scales_job, false, true},
      Step{"lab02.compare", compare_job, false, true},
      Step{"lab02.memory", memory_job, false, true},
      Step{"lab02.perplexity", perplexity_job, false, true},
  };
  return l;
}

}  // namespace qlab::labs
