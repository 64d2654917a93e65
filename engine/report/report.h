#pragma once
// The suite's report in four forms, from one SuiteRun (engine/suite/result.h):
//   markdown   the table, per-subject MMLU, protocols, machine and notes, for notes and issues
//   csv        one row per variant, plain numbers (RFC 4180), for spreadsheets
//   json       everything measured (the SuiteRun as data)
//   html       one self-contained page: the table, inline SVG charts (PPL increase against size with its
//              Pareto front, KLD bars, MMLU bars), protocols and machine spelled out; a Content-Security-
//              Policy that allows nothing from outside the page, and no http(s) address anywhere in it
//   table      the rows the tutor and the CLI print (numbers formatted, "-" where nothing was measured)
//   write_reports  all four into a folder (atomically, each file whole or not at all)
#include <filesystem>
#include <string>
#include <vector>

#include "engine/suite/result.h"

namespace qlab::report {

struct TableView {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
  std::vector<bool> numeric;  // per column
};
TableView table(const suite::SuiteRun& r);

std::string markdown(const suite::SuiteRun& r);
std::string csv(const suite::SuiteRun& r);
std::string json_text(const suite::SuiteRun& r);
std::string html(const suite::SuiteRun& r);

struct Written {
  std::filesystem::path markdown, csv, json, html;
};
// Files named suite-<model>-<when>.{md,csv,json,html} in dir (created).
Written write_reports(const suite::SuiteRun& r, const std::filesystem::path& dir);

// The module's claimed quality costs (MODULE.md) for the variants they name: perplexity increase range
// and MMLU loss in points, as text; empty when the module claims nothing for that variant.
struct ModuleClaim {
  std::string variant, ppl_increase, mmlu_loss;
};
const std::vector<ModuleClaim>& module_claims();

}  // namespace qlab::report
