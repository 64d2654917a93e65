#include "labs/milestones.h"

#include <fmt/format.h>

namespace qlab::labs {

bool step_done(const ProgressFile& pf, const std::string& step_id) { return pf.result(step_id) != nullptr; }

int steps_done(const ProgressFile& pf, const Lab& lab) {
  int n = 0;
  for (const auto& s : lab.steps)
    if (step_done(pf, s.id)) ++n;
  return n;
}

bool milestone_done(const ProgressFile& pf, const std::string& milestone_id) {
  auto m = pf.milestone(milestone_id);
  return m && m->done;
}

int milestones_done(const ProgressFile& pf) {
  int n = 0;
  for (const auto& lab : all_labs())
    if (milestone_done(pf, lab.milestone_id)) ++n;
  return n;
}

bool record_step(ProgressFile& pf, const Lab& lab, const std::string& step_id, const StepResult& r,
                 const ModelRef& model) {
  if (r.outcome != Outcome::Done) return false;
  nlohmann::json rec = r.record;
  rec["model"] = model.display;
  pf.set_result(step_id, rec);
  pf.set_last(lab.id, step_id);
  auto needed = lab.milestone_steps();
  if (needed.empty() || milestone_done(pf, lab.milestone_id)) return false;
  for (const auto& s : needed)
    if (!step_done(pf, s)) return false;
  pf.set_milestone(lab.milestone_id, true, "completed");
  return true;
}

std::string export_markdown(const ProgressFile& pf, const Content& c) {
  std::string out = fmt::format("# qlab progress — {}\n\n", c.module_title);
  out += fmt::format("{} of {} milestones done.\n\n## Milestones\n\n", milestones_done(pf), all_labs().size());
  for (const auto& lab : all_labs()) {
    const MilestoneText* mt = c.milestone(lab.milestone_id);
    auto st = pf.milestone(lab.milestone_id);
    std::string text = mt ? mt->text : lab.milestone_id;
    if (st && st->done)
      out += fmt::format("- [x] {} ({} {})\n", text, st->how == "ticked" ? "ticked by hand" : "completed", st->when);
    else
      out += fmt::format("- [ ] {}\n", text);
  }
  out += "\n## Recorded results\n";
  bool any = false;
  for (const auto& lab : all_labs()) {
    const LabText* lt = c.lab(lab.id);
    for (const auto& s : lab.steps) {
      const nlohmann::json* r = pf.result(s.id);
      if (!r) continue;
      if (!any) out += "\n";
      any = true;
      const StepText* st = lt ? lt->step(s.id) : nullptr;
      out += fmt::format("### Lab {}: {}\n\n", lab.number, st ? st->title : s.id);
      out += fmt::format("Run {} on the {} model.\n\n```json\n", result_text(*r, "when"),
                         result_text(*r, "model"));
      nlohmann::json shown = *r;
      shown.erase("when");
      shown.erase("model");
      out += shown.dump(2) + "\n```\n\n";
    }
  }
  if (!any) out += "\nNo step has been run yet.\n";
  return out;
}

}  // namespace qlab::labs
