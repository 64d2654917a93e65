// Lab 2 — NVFP4 on the current model (the module's showcase).
//   lab02.block_scales  per-block scales of a real weight tensor, drawn
//   lab02.compare       error and bits per weight: NVFP4 vs MXFP4, NF4, an INT4 variant (a setting)
//   lab02.memory        the memory table: 8B / 70B / 180B x formats against 128 GB
//   lab02.perplexity    perplexity, PPL ratio and KL-divergence before and after a format
//                       (lab02_perplexity.cpp)
//   lab02.checkpoint    the model streamed to NVFP4, MXFP4 and FP8 checkpoints a server loads, measured
//                       from the written files, read back and scored (lab02_checkpoint.cpp); the
//                       milestone's step: it completes on a model of 60B parameters or more
// Each job runs on the engine; a part the engine does not have yet says so instead of guessing.
#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "engine/capacity/memory_model.h"
#include "engine/formats/block.h"
#include "engine/formats/metrics.h"
#include "engine/formats/scalar.h"
#include "engine/tensor/synthetic.h"
#include "labs/lab.h"
#include "labs/lab02_checkpoint.h"
#include "labs/lab02_perplexity.h"
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
  h.title = "Block scales (E4M3 value, log2 axis): 448 x the block's largest |w| / the tensor's largest";
  h.x_label = "log2(block scale)";
  h.lo = -9;
  h.hi = std::log2(448.0);
  h.counts.assign(40, 0.0);
  for (double v : l2) {
    int b = static_cast<int>((v - h.lo) / (h.hi - h.lo) * 40);
    h.counts[static_cast<std::size_t>(std::clamp(b, 0, 39))] += 1;
  }
  r.blocks.push_back(std::move(h));
  if (!l2.empty()) {
    // Where the middle half of the block scales sit, from this tensor (no two tensors agree).
    std::vector<double> sorted(l2);
    std::sort(sorted.begin(), sorted.end());
    const double q1 = std::exp2(sorted[sorted.size() / 4]), q3 = std::exp2(sorted[sorted.size() * 3 / 4]);
    r.blocks.push_back(Text{fmt::format(
        "Half of the blocks have scales between {:g} and {:g} (of E4M3's 448): their largest weight is {:.0f}% to "
        "{:.0f}% of the tensor's largest. Whatever its scale, each block spreads its own 16 weights over all of "
        "E2M1's levels.",
        q1, q3, 100 * q1 / 448, 100 * q3 / 448)});
    r.record["scale_quartiles"] = {q1, q3};
  }
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
  const double bpw = F::bits_per_weight(spec("nvfp4"), w.rows, w.cols);  // from the format's storage sizes
  r.blocks.push_back(Text{fmt::format("SQNR of the whole tensor in NVFP4: {} dB. Blocks whose scale reached 448: {}. "
                                      "Bits per weight from the stored bytes: {:.3f}.",
                                      fmt_db(st.sqnr_db), at_max, bpw)});
  r.record.update({{"tensor", w.name}, {"tensor_scale", s2}, {"blocks", q.scales.size()}, {"sqnr_db", st.sqnr_db},
                   {"bits_per_weight", bpw}});
  progress.report(1.0, "done");
  return r;
}

StepResult compare_job(const JobContext& ctx, Progress& progress, std::stop_token stop) {
  progress.report(0.0, "reading the weights");
  WeightSample w = load_weight_sample(ctx.model, 1 << 20);
  std::vector<std::pair<std::string, std::vector<float>>> tensors = {
      {"model tensor", w.data},
      // `qlab quantize-tensor --synthetic gaussian-outliers` of the same shape
      {"gaussian-outliers", tensor::synthetic_tensor(tensor::SyntheticKind::GaussianOutliers,
                                                     static_cast<std::size_t>(w.rows * w.cols))}};
  const std::vector<std::string> names = {"nvfp4", "mxfp4", "nf4", "nf4-dq", ctx.param("int4")};
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
        // the format's storage sizes for the padded rows, over the real weights
        const double bpw = F::bits_per_weight(s, w.rows, pcols) * static_cast<double>(pcols) / static_cast<double>(w.cols);
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
  capacity::MemoryOptions opt;  // 8192 context, batch 1, f16 KV, 128 GB
  StepResult r;
  Table t;
  t.title = fmt::format("GB to serve, computed from the configs (not measured): weights + KV cache ({} tokens) + "
                        "runtime; budget {:.0f} GB", opt.context, opt.budget_gb);
  t.header = {"format"};
  std::vector<const capacity::ModelArch*> archs;
  for (const auto& id : models) {
    archs.push_back(&capacity::builtin_model(id));
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
      capacity::Scheme s = capacity::scheme_from_name(sname, *a);
      capacity::MemoryEstimate e = capacity::estimate_memory(*a, s, opt);
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
                          "quantized checkpoints keep them. " + capacity::overhead_assumption()});
  return r;
}

}  // namespace

Lab make_lab02() {
  Lab l;
  l.number = 2;
  l.id = "lab02";
  l.milestone_id = "m2";
  std::vector<std::string> int4, blocks;
  for (const auto& f : F::all_block_formats()) {
    blocks.push_back(f.name);
    if (f.name.rfind("int4-g", 0) == 0) int4.push_back(f.name);
  }
  Step compare{"lab02.compare", compare_job, false, true};
  compare.params = {Param{"int4", ParamKind::Choice, "int4-g128", int4, 0, 0}};
  Step ppl{"lab02.perplexity", lab02_perplexity_job, false, true};
  ppl.params = {Param{"format", ParamKind::Choice, "nvfp4", blocks, 0, 0},
                Param{"text", ParamKind::File, "", {}, 0, 0},
                Param{"chunks", ParamKind::Integer, "0", {}, 0, 1 << 24}};
  ppl.resumable = true;
  // The milestone, "NVFP4 quantization of a 70B model", is the checkpoint step's alone (and only on a
  // model of 60B parameters or more: its record says so); the other steps teach and measure.
  compare.counts_for_milestone = false;
  ppl.counts_for_milestone = false;
  Step checkpoint{"lab02.checkpoint", lab02_checkpoint_job, false, true};
  checkpoint.resumable = true;  // the quantizer keeps complete shards of a cancelled run and continues
  checkpoint.params = {Param{"method", ParamKind::Choice, "nvfp4", {"nvfp4", "nvfp4-w4a16"}, 0, 0},
                       Param{"beside", ParamKind::Choice, "mxfp4 and fp8", {"mxfp4 and fp8", "none"}, 0, 0},
                       Param{"text", ParamKind::File, "", {}, 0, 0},
                       Param{"chunks", ParamKind::Integer, "0", {}, 0, 1 << 24}};
  l.steps = {
      Step{"lab02.block_scales", block_scales_job, false, false},
      std::move(compare),
      Step{"lab02.memory", memory_job, false, false},
      std::move(ppl),
      std::move(checkpoint),
  };
  return l;
}

}  // namespace qlab::labs
