#include "labs/milestones.h"

#include <algorithm>

#include <fmt/format.h>

#include "labs/lab07_record.h"

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
  // A job may finish without earning the milestone (lab 7's suite over only some variants).
  if (auto c = r.record.find("completes_milestone"); c != r.record.end() && c->is_boolean() && !c->get<bool>())
    return false;
  auto needed = lab.milestone_steps();
  if (needed.empty() || milestone_done(pf, lab.milestone_id)) return false;
  if (lab.milestone_any_step) {
    if (std::find(needed.begin(), needed.end(), step_id) == needed.end()) return false;
  } else {
    for (const auto& s : needed)
      if (!step_done(pf, s)) return false;
  }
  pf.set_milestone(lab.milestone_id, true, "completed");
  return true;
}

namespace {

using nlohmann::json;

std::string cell(const json& v) {
  std::string s;
  if (v.is_string()) s = v.get<std::string>();
  else if (v.is_boolean()) s = v.get<bool>() ? "yes" : "no";
  else if (v.is_number_integer()) s = std::to_string(v.get<std::int64_t>());
  else if (v.is_number()) s = fmt::format("{:.6g}", v.get<double>());
  else if (v.is_null()) s = "-";
  else s = v.dump();
  // a cell holds no pipes or newlines (Markdown tables)
  for (char& c : s)
    if (c == '|' || c == '\n') c = ' ';
  return s;
}

bool is_scalar(const json& v) { return !v.is_structured(); }

// An object of objects of scalars ({"e4m3": {"max": 448, ...}, ...}): a table with a row per child.
bool is_matrix(const json& v) {
  if (!v.is_object() || v.empty()) return false;
  for (const auto& [k, child] : v.items()) {
    if (!child.is_object() || child.empty()) return false;
    for (const auto& [kk, leaf] : child.items())
      if (!is_scalar(leaf)) return false;
  }
  return true;
}

void flatten(const std::string& prefix, const json& v, std::vector<std::pair<std::string, std::string>>& rows) {
  if (v.is_object()) {
    for (const auto& [k, child] : v.items()) flatten(prefix.empty() ? k : prefix + " · " + k, child, rows);
  } else if (v.is_array() && !v.empty() && std::all_of(v.begin(), v.end(), is_scalar)) {
    std::string joined;
    for (const auto& e : v) joined += (joined.empty() ? "" : ", ") + cell(e);
    rows.emplace_back(prefix, joined);
  } else if (v.is_array()) {
    for (std::size_t i = 0; i < v.size(); ++i) flatten(fmt::format("{} · {}", prefix, i + 1), v[i], rows);
  } else {
    rows.emplace_back(prefix, cell(v));
  }
}

std::string matrix_table(const std::string& name, const json& m) {
  std::vector<std::string> cols;
  for (const auto& [k, child] : m.items())
    for (const auto& [kk, leaf] : child.items())
      if (std::find(cols.begin(), cols.end(), kk) == cols.end()) cols.push_back(kk);
  std::string out = "| " + name;
  for (const auto& c : cols) out += " | " + c;
  out += " |\n|---";
  for (std::size_t i = 0; i < cols.size(); ++i) out += "|---";
  out += "|\n";
  for (const auto& [k, child] : m.items()) {
    out += "| " + k;
    for (const auto& c : cols) out += " | " + (child.contains(c) ? cell(child[c]) : std::string("-"));
    out += " |\n";
  }
  return out + "\n";
}

std::string record_tables(const json& r) {
  std::vector<std::pair<std::string, std::string>> rows;
  std::string matrices;
  for (const auto& [k, v] : r.items()) {
    if (k == "when" || k == "model" || k == "settings") continue;
    if (is_matrix(v)) matrices += matrix_table(k, v);
    else flatten(k, v, rows);
  }
  std::string out;
  if (!rows.empty()) {
    out += "| measure | value |\n|---|---|\n";
    for (const auto& [k, v] : rows) out += "| " + cell(json(k)) + " | " + v + " |\n";
    out += "\n";
  }
  return out + matrices;
}

}  // namespace

std::string export_markdown(const ProgressFile& pf, const Content& c) {
  std::string out = fmt::format("# qlab progress — {}\n\n", c.module_title);
  out += fmt::format("{} of {} milestones done.\n\n## Milestones\n\n", milestones_done(pf), all_labs().size());
  out += "| lab | milestone | done | how | when |\n|---|---|---|---|---|\n";
  for (const auto& lab : all_labs()) {
    const MilestoneText* mt = c.milestone(lab.milestone_id);
    auto st = pf.milestone(lab.milestone_id);
    const bool done = st && st->done;
    out += fmt::format("| {} | {} | {} | {} | {} |\n", lab.number, cell(json(mt ? mt->text : lab.milestone_id)),
                       done ? "yes" : "no", done ? (st->how == "ticked" ? "ticked by hand" : "completed") : "-",
                       done ? cell(json(st->when)) : "-");
  }
  out += "\n## Recorded results\n";
  bool any = false;
  for (const auto& lab : all_labs()) {
    const LabText* lt = c.lab(lab.id);
    for (const auto& s : lab.steps) {
      const json* r = pf.result(s.id);
      if (!r) continue;
      any = true;
      const StepText* st = lt ? lt->step(s.id) : nullptr;
      out += fmt::format("\n### Lab {}: {}\n\n", lab.number, st ? st->title : s.id);
      out += fmt::format("Run {} on the {} model", result_text(*r, "when"), result_text(*r, "model"));
      if (auto set = r->find("settings"); set != r->end() && set->is_object() && !set->empty()) {
        std::string list;
        for (const auto& [k, v] : set->items())
          list += fmt::format("{}{} {}", list.empty() ? "" : ", ", k, v == "" ? std::string("(default)") : cell(v));
        out += " with " + list;
      }
      out += ".\n\n" + record_tables(*r);
    }
  }
  if (!any) out += "\nNo step has been run yet.\n";
  // The suite reports the learner made (qlab suite, lab 7), newest first, as links.
  const auto reports = suite_reports(pf);
  if (!reports.empty()) {
    out += "\n## Reports\n\n";
    for (const auto& e : reports)
      out += fmt::format("- {} on the {} model: [HTML]({}) · [Markdown]({}) · [CSV]({}) · [JSON]({})\n",
                         cell(e.value("when", json("?"))), cell(e.value("model", json("?"))),
                         cell(e.value("html", json(""))), cell(e.value("markdown", json(""))),
                         cell(e.value("csv", json(""))), cell(e.value("json", json(""))));
  }
  return out;
}

nlohmann::json export_json(const ProgressFile& pf, const Content& c) {
  json ms = json::array();
  for (const auto& lab : all_labs()) {
    const MilestoneText* mt = c.milestone(lab.milestone_id);
    auto st = pf.milestone(lab.milestone_id);
    const bool done = st && st->done;
    ms.push_back({{"id", lab.milestone_id}, {"lab", lab.id}, {"text", mt ? mt->text : lab.milestone_id},
                  {"done", done}, {"how", done ? json(st->how) : json(nullptr)}, {"when", done ? json(st->when) : json(nullptr)}});
  }
  json results = json::object();
  for (const auto& lab : all_labs())
    for (const auto& s : lab.steps)
      if (const json* r = pf.result(s.id)) results[s.id] = *r;
  return {{"module", c.module_title}, {"milestones", ms}, {"results", results}, {"reports", suite_reports(pf)}};
}

}  // namespace qlab::labs
