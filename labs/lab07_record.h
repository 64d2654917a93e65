#pragma once
// Where the learner's suite reports are remembered, so `qlab progress export` links them:
//   `qlab suite` adds each report to the progress file's settings, key "suite_reports" (a list, newest
//   last, at most 50): {"when", "model", "html", "markdown", "csv", "json"}
//   lab 7's suite step keeps its own report's files in its recorded result, key "reports"
// suite_reports() reads both back, newest first, for the export.
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/report/report.h"
#include "engine/suite/result.h"
#include "labs/progress_file.h"

namespace qlab::labs {

nlohmann::json report_entry(const suite::SuiteRun& r, const report::Written& w);

// Adds the report to the progress file at `path`; a file that cannot be written is a notice, not an
// error (the report itself is already on disk).
void record_suite_report(const std::filesystem::path& path, const suite::SuiteRun& r, const report::Written& w,
                         const std::function<void(const std::string&)>& notice);

std::vector<nlohmann::json> suite_reports(const ProgressFile& pf);

}  // namespace qlab::labs
