#include "labs/lab07_record.h"

#include <algorithm>

namespace qlab::labs {

using nlohmann::json;

json report_entry(const suite::SuiteRun& r, const report::Written& w) {
  return {{"when", r.when},           {"model", r.model},         {"html", w.html.string()},
          {"markdown", w.markdown.string()}, {"csv", w.csv.string()}, {"json", w.json.string()}};
}

void record_suite_report(const std::filesystem::path& path, const suite::SuiteRun& r, const report::Written& w,
                         const std::function<void(const std::string&)>& notice) {
  try {
    ProgressFile pf(path);
    pf.load();
    json list = json::array();
    if (auto s = pf.data().find("settings"); s != pf.data().end() && s->is_object())
      if (auto l = s->find("suite_reports"); l != s->end() && l->is_array()) list = *l;
    list.push_back(report_entry(r, w));
    while (list.size() > 50) list.erase(list.begin());
    pf.set_setting("suite_reports", list);
    pf.save();
    for (const auto& n : pf.take_notices()) notice(n);
  } catch (const std::exception& e) {
    notice(std::string("the report is written but not recorded in the progress file: ") + e.what());
  }
}

std::vector<json> suite_reports(const ProgressFile& pf) {
  std::vector<json> out;
  auto take = [&](const json& e) {
    if (e.is_object() && e.contains("html") && e["html"].is_string()) out.push_back(e);
  };
  if (const json* r = pf.result("lab07.suite"))
    if (auto it = r->find("reports"); it != r->end()) take(*it);
  if (auto s = pf.data().find("settings"); s != pf.data().end() && s->is_object())
    if (auto l = s->find("suite_reports"); l != s->end() && l->is_array())
      for (const auto& e : *l) take(e);
  std::stable_sort(out.begin(), out.end(), [](const json& a, const json& b) {
    return a.value("when", std::string()) > b.value("when", std::string());
  });
  return out;
}

}  // namespace qlab::labs
