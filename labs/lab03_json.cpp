#include "labs/lab03_json.h"

#include <cmath>
#include <string>

namespace qlab::labs {

using nlohmann::json;

namespace {

std::string role(int r) { return std::string(train::cast_role_name(static_cast<train::CastRole>(r))); }

json casts_json(const train::CastStats& c) {
  json j = json::object();
  for (int r = 0; r < train::kCastRoles; ++r)
    j[role(r)] = {{"values", c[r].total},
                  {"saturated", c[r].saturated},
                  {"flushed_to_zero", c[r].flushed},
                  {"saturated_fraction", c[r].saturated_fraction()},
                  {"flushed_fraction", c[r].flushed_fraction()}};
  return j;
}

json num(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

}  // namespace

json lab3_to_json(const train::Lab3Result& r) {
  json runs = json::array();
  for (const auto& run : r.runs) {
    json steps = json::array(), loss = json::array(), gn = json::array();
    json sat = json::object(), flush = json::object();
    for (int k = 0; k < train::kCastRoles; ++k) {
      sat[role(k)] = json::array();
      flush[role(k)] = json::array();
    }
    for (const auto& h : run.history) {
      steps.push_back(h.step);
      loss.push_back(num(h.loss));
      gn.push_back(num(h.grad_norm));
      for (int k = 0; k < train::kCastRoles; ++k) {
        sat[role(k)].push_back(h.casts[k].saturated_fraction());
        flush[role(k)].push_back(h.casts[k].flushed_fraction());
      }
    }
    runs.push_back({{"precision", train::precision_name(run.precision)},
                    {"step", steps},
                    {"loss", loss},
                    {"grad_norm", gn},
                    {"saturated_fraction", sat},
                    {"flushed_fraction", flush},
                    {"casts_total", casts_json(run.totals)},
                    {"final_loss", run.history.empty() ? json(nullptr) : num(run.history.back().loss)},
                    {"eval_ppl", num(run.eval_ppl)},
                    {"eval_ppl_fp32_forward", num(run.eval_ppl_fp32)},
                    {"seconds", run.seconds},
                    {"tokens_per_s", run.tokens_per_s},
                    {"stop_reason", run.stop_reason}});
  }
  json j = {{"runs", runs}, {"unigram_ppl", num(r.unigram_ppl)}, {"protocol", r.protocol}, {"seconds", r.seconds}};
  if (r.inference) {
    const auto& f = *r.inference;
    j["fp8_inference"] = {{"ppl_fp32", num(f.ppl_fp32)},
                          {"ppl_bf16", num(f.ppl_bf16)},
                          {"ppl_e4m3", num(f.ppl_fp8)},
                          {"protocol", f.protocol},
                          {"scored_tokens", f.scored_tokens},
                          {"calibration_chunks", f.calib_chunks},
                          {"scaling", "per tensor, max calibration (scale = 448 / amax), lm_head kept bf16"},
                          {"casts", casts_json(f.fp8_casts)}};
  }
  return j;
}

}  // namespace qlab::labs
