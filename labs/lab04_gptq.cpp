// Lab 4 — GPTQ.
//   lab04.objectives   reading
//   lab04.gptq         GPTQ and RTN (round-to-nearest, no data) at 4 bits per row and in groups of 128, 64
//                      and 32 (with act-order on request): one table of bits per weight measured from the
//                      written checkpoint, size, perplexity, its change, KL-divergence, same top token, time;
//                      the GPTQ v1 checkpoints kept in the step's folder (int_quant_runs.h)
//   lab04.reading      reading
// The milestone is the gptq step: it runs the three group sizes.
#include <fmt/format.h>

#include "labs/int_quant_runs.h"
#include "labs/lab.h"
#include "labs/step_files.h"

namespace qlab::labs {

namespace {

StepResult lab04_gptq_job(const JobContext& ctx, Progress& progress, std::stop_token stop) {
  StepFolder folder(ctx.out_dir);
  IntQuantRunner runner(ctx, folder.path(), progress);
  const bool act_order = ctx.param("act_order") == "on";
  std::vector<IntQuantVariant> variants;
  for (std::int64_t g : {std::int64_t{-1}, std::int64_t{128}, std::int64_t{64}, std::int64_t{32}}) {
    variants.push_back({"gptq", g, false});
    if (act_order) variants.push_back({"gptq", g, true});
    variants.push_back({"rtn", g, false});
  }
  const std::string title = "GPTQ and round-to-nearest at 4 bits, by group size";
  const std::vector<IntQuantRow> rows = run_variants(runner, variants, title, ctx, progress, stop);
  StepResult r;
  r.blocks.push_back(Text{fmt::format(
      "Scored: {} of {}; perplexity of the model as stored: {:.4f}. GPTQ calibrated on {} windows of {} tokens of {}.",
      runner.setup().protocol, runner.text_origin(), runner.base_ppl(), runner.calib_samples(), runner.calib_seq_len(),
      runner.calib_origin())});
  r.blocks.push_back(int_quant_table(title, rows, runner.base_ppl()));
  // What the groups did, in words, from this run's numbers.
  auto find = [&](const std::string& m, std::int64_t g) -> const IntQuantRow* {
    for (const auto& row : rows)
      if (row.variant.method == m && row.variant.group == g && !row.variant.act_order) return &row;
    return nullptr;
  };
  const IntQuantRow *g32 = find("gptq", 32), *g128 = find("gptq", 128), *rtn128 = find("rtn", 128);
  std::string words = fmt::format(
      "Groups of 32 cost {:.3f} bits per weight against {:.3f} for groups of 128, and changed perplexity by {:+.4f} "
      "against {:+.4f}. At groups of 128, GPTQ's error correction changed it by {:+.4f} where rounding alone "
      "changed it by {:+.4f}.",
      g32->bits_per_weight, g128->bits_per_weight, g32->ppl - runner.base_ppl(), g128->ppl - runner.base_ppl(),
      g128->ppl - runner.base_ppl(), rtn128->ppl - runner.base_ppl());
  std::string in_memory;
  for (const auto& row : rows)
    if (!row.note.empty()) in_memory += (in_memory.empty() ? "" : ", ") + row.variant.label();
  for (const auto& row : rows)
    if (!row.note.empty()) {
      words += fmt::format(" {} ran in memory only, with no checkpoint: {}", in_memory, row.note);
      break;
    }
  r.blocks.push_back(Text{words});
  r.blocks.push_back(Text{fmt::format(
      "Each written row is what `qlab quantize MODEL --method gptq --format int4-g128 --export gptq --out DIR` "
      "writes: qweight, qzeros, scales and g_idx per Linear, as vLLM and transformers load a GPTQ checkpoint; "
      "bits per weight count those tensors' bytes over the Linear weights (embeddings and norms stay as stored).{}",
      ctx.out_dir.empty() ? std::string() : fmt::format(" The checkpoints are in {}.", folder.path().string()))});
  r.record = {{"base_ppl", runner.base_ppl()},
              {"rows", int_quant_record(rows, runner.base_ppl())},
              {"calibration", {{"samples", runner.calib_samples()}, {"seq_len", runner.calib_seq_len()}}},
              {"text", runner.text_origin()}};
  return r;
}

}  // namespace

Lab make_lab04() {
  Lab l;
  l.number = 4;
  l.id = "lab04";
  l.milestone_id = "m4";
  Step gptq{"lab04.gptq", lab04_gptq_job, false, true};
  gptq.params = {Param{"act_order", ParamKind::Choice, "off", {"off", "on"}, 0, 0}};
  for (Param& p : scoring_params()) gptq.params.push_back(std::move(p));
  l.steps = {Step{"lab04.objectives", {}, false, false}, std::move(gptq), Step{"lab04.reading", {}, false, false}};
  return l;
}

}  // namespace qlab::labs
