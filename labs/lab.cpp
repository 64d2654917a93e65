#include "labs/lab.h"

#include "engine/core/mapped_file.h"

#include <new>

#include <fmt/format.h>

namespace qlab::labs {

const Param* Step::param(const std::string& pid) const {
  for (const auto& p : params)
    if (p.id == pid) return &p;
  return nullptr;
}

const std::string& JobContext::param(const std::string& id) const {
  auto it = params.find(id);
  if (it == params.end()) fail("this step has no setting '{}'", id);
  return it->second;
}

std::int64_t JobContext::param_int(const std::string& id) const {
  const std::string& v = param(id);
  try {
    return std::stoll(v);
  } catch (const std::exception&) {
    fail("setting '{}' is '{}', not a whole number", id, v);
  }
}

const Step* Lab::find(const std::string& step_id) const {
  for (const auto& s : steps)
    if (s.id == step_id) return &s;
  return nullptr;
}

std::vector<std::string> Lab::milestone_steps() const {
  std::vector<std::string> out;
  for (const auto& s : steps)
    if (s.job && s.counts_for_milestone) out.push_back(s.id);
  return out;
}

const std::vector<Lab>& all_labs() {
  static const std::vector<Lab> labs = [] {
    std::vector<Lab> v;
    v.push_back(make_lab01());
    v.push_back(make_lab02());
    v.push_back(make_lab03());
    v.push_back(make_lab04());
    v.push_back(make_lab05());
    v.push_back(make_lab06());
    v.push_back(make_lab07());
    v.push_back(make_lab08());
    return v;
  }();
  return labs;
}

const Lab* find_lab(const std::string& id) {
  for (const auto& l : all_labs())
    if (l.id == id) return &l;
  return nullptr;
}

StepResult run_step(const Step& step, const JobContext& ctx, Progress& progress, std::stop_token stop) {
  StepResult r;
  if (!step.job) {
    r.outcome = Outcome::NotAvailable;
    r.message = "this step is reading only; there is nothing to run";
    return r;
  }
  try {
    JobContext filled = ctx;
    filled.params = resolve_params(step.params, ctx.params);
    r = step.job(filled, progress, stop);
    check_mapped_inputs();  // a model file truncated under a job with no cancel point after it
    // the settings that produced the numbers are kept with them
    if (r.outcome == Outcome::Done && !filled.params.empty()) r.record["settings"] = filled.params;
  } catch (const Cancelled&) {
    r = StepResult{};
    r.outcome = Outcome::Cancelled;
    r.message = "cancelled";
  } catch (const NotAvailable& e) {
    r = StepResult{};
    r.outcome = Outcome::NotAvailable;
    r.message = e.what();
  } catch (const std::bad_alloc&) {
    r = StepResult{};
    r.outcome = Outcome::Failed;
    r.message = "out of memory: this step needs more memory than the machine could give it (a smaller model, or fewer chunks in its settings, needs less)";
  } catch (const std::exception& e) {
    r = StepResult{};
    r.outcome = Outcome::Failed;
    r.message = e.what();
  } catch (...) {
    r = StepResult{};
    r.outcome = Outcome::Failed;
    r.message = "the step ended with an error that carries no message";
  }
  return r;
}


}  // namespace qlab::labs
