#include "labs/lab.h"

#include <fmt/format.h>

namespace qlab::labs {

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
    for (int n = 4; n <= 8; ++n) v.push_back(make_reading_lab(n));
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
    r = step.job(ctx, progress, stop);
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
    r.message = "out of memory";
  } catch (const std::exception& e) {
    r = StepResult{};
    r.outcome = Outcome::Failed;
    r.message = e.what();
  }
  return r;
}

Lab make_reading_lab(int number) {
  Lab l;
  l.number = number;
  l.id = fmt::format("lab{:02d}", number);
  l.milestone_id = fmt::format("m{}", number);
  // Labs 4-8 have reading steps now; their jobs come with the GPTQ/AWQ/GGUF/benchmark/serving work.
  for (const char* s : {"objectives", "reading"}) l.steps.push_back(Step{l.id + "." + s, {}, false, false});
  return l;
}

}  // namespace qlab::labs
