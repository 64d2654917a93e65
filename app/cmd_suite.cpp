// `qlab suite [MODEL] [--variants LIST] [--add PATH ...] [--text FILE] [--mmlu DIR] [--shots K] [--chunks N]
// [--out DIR]`: every variant of one model through the same text, tokens and protocols (engine/suite), the
// table on stdout and the report (Markdown, CSV, JSON, HTML) in --out; the report's files are recorded in
// the progress file, so `qlab progress export` links them.
#include <unistd.h>

#include <cstdio>
#include <cctype>
#include <cstdlib>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "app/cli.h"
#include "app/device_arg.h"
#include "app/model_arg.h"
#include "engine/core/atomic_file.h"
#include "engine/core/error.h"
#include "engine/report/report.h"
#include "engine/suite/suite.h"
#include "engine/suite/variants.h"
#include "labs/progress_file.h"
#include "labs/lab07_record.h"

namespace qlab::app {
namespace {

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s + ",") {
    if (c == ',' || c == ' ') {
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  return out;
}

std::filesystem::path default_out() {
  const char* xdg = std::getenv("XDG_DATA_HOME");
  if (xdg && *xdg && std::filesystem::path(xdg).is_absolute()) return std::filesystem::path(xdg) / "qlab" / "reports";
  const char* home = std::getenv("HOME");
  if (!home || !*home) throw UsageError("give --out DIR (neither XDG_DATA_HOME nor HOME is set)");
  return std::filesystem::path(home) / ".local" / "share" / "qlab" / "reports";
}

// --text / --mmlu: a path, or a dataset's Hugging Face repo id ("Salesforce/wikitext", "cais/mmlu", with
// @revision) found in the hub cache as huggingface_hub keeps it: datasets--org--name/snapshots/<commit>/.
std::filesystem::path data_arg(const std::string& arg, const char* option) {
  std::error_code ec;
  if (std::filesystem::exists(arg, ec) || !looks_like_repo_id(arg)) return arg;
  std::string id = arg, revision = "main";
  if (auto at = id.find('@'); at != std::string::npos) {
    revision = id.substr(at + 1);
    id.resize(at);
  }
  std::string folder = fmt::format("datasets--{}", id);
  for (std::size_t i = folder.find('/'); i != std::string::npos; i = folder.find('/', i)) folder.replace(i, 1, "--");
  const std::filesystem::path repo = hf_hub_cache() / folder;
  std::string commit = revision;
  if (std::filesystem::is_regular_file(repo / "refs" / revision, ec)) {
    commit = read_file(repo / "refs" / revision);
    while (!commit.empty() && std::isspace(static_cast<unsigned char>(commit.back()))) commit.pop_back();
  }
  const std::filesystem::path snap = repo / "snapshots" / commit;
  if (!std::filesystem::is_directory(snap, ec))
    fail("--{} {}: neither a file nor a dataset in the Hugging Face cache (looked for {}); download it with "
         "`huggingface-cli download --repo-type dataset {}` or give the path of its files",
         option, arg, snap.string(), id);
  return snap;
}

int list_variants(const Args& a) {
  nlohmann::json j = nlohmann::json::array();
  for (const auto& e : suite::catalogue()) {
    j.push_back({{"name", e.spec.name}, {"description", e.spec.description}, {"available", e.available},
                 {"why_not", e.why_not}});
    if (!a.json())
      fmt::print("{:<16} {}{}\n", e.spec.name, e.spec.description, e.available ? "" : "  [" + e.why_not + "]");
  }
  if (a.json()) print_json(j.dump(2));
  return 0;
}

int run(const Args& a) {
  if (a.has("list")) return list_variants(a);
  suite::SuiteOptions opt;
  const std::string model_arg = a.positional().empty() ? "builtin" : a.positional()[0];
  opt.model_dir = resolve_model_arg(model_arg);
  opt.model_display = model_arg;
  opt.builtin_model = model_arg == "builtin";
  opt.builtin_dir = builtin_model_dir();
  if (a.has("variants")) {
    opt.variants = split_list(a.require("variants"));
    if (opt.variants.empty()) throw UsageError("--variants needs at least one name (qlab suite --list shows them)");
    try {
      suite::resolve_variant_names(opt.variants);
    } catch (const Error& e) {
      throw UsageError(e.what());
    }
  }
  for (const auto& p : a.get_all("add")) opt.added.emplace_back(p);
  if (a.has("text")) opt.text = data_arg(a.require("text"), "text");
  if (a.has("mmlu")) opt.mmlu = data_arg(a.require("mmlu"), "mmlu");
  opt.shots = static_cast<int>(a.get_int("shots", 0, 0, 25));
  opt.chunks = a.get_int("chunks", 0, 1, 1LL << 40);
  opt.word_ppl = a.has("word-ppl");
  opt.mmlu_enabled = !a.has("no-mmlu");
  if (a.has("no-mmlu") && (a.has("mmlu") || a.has("shots"))) throw UsageError("--no-mmlu leaves out --mmlu and --shots");
  opt.decode_tokens = a.has("no-speed") ? 0 : 16;
  if (a.has("cache")) opt.cache_root = a.require("cache");
  const DeviceArg device = choose_device(a, "suite");
  opt.backend = device.backend;
  opt.device = device.where;
  const std::filesystem::path out = a.has("out") ? std::filesystem::path(a.require("out")) : default_out();

  const bool json = a.json();
  const bool tty = ::isatty(STDERR_FILENO);
  StderrProgress bar;
  suite::SuiteEvents ev;
  std::size_t n_variants = 0;
  ev.notice = [&](const std::string& s) { fmt::print(stderr, "{}qlab suite: {}\n", tty ? "\r\x1b[K" : "", s); };
  ev.variant_started = [&](std::size_t, const std::string&) { ++n_variants; };
  ev.variant_done = [&](std::size_t i, const suite::VariantResult& v) {
    std::string what = v.error.empty() ? "measured" : "FAILED: " + v.error;
    if (v.error.empty() && !v.from_cache.empty()) {
      std::string c;
      for (const auto& f : v.from_cache) c += (c.empty() ? "" : ", ") + f;
      what += fmt::format(" (from the cache: {})", c);
    }
    fmt::print(stderr, "{}[{}] {} {}\n", tty ? "\r\x1b[K" : "", i + 1, v.name, what);
  };
  const suite::SuiteRun r = suite::run_suite(opt, ev, bar);
  const report::Written w = report::write_reports(r, out);
  labs::record_suite_report(a.has("progress") ? std::filesystem::path(a.require("progress"))
                                              : labs::ProgressFile::default_path(),
                            r, w, [&](const std::string& s) { fmt::print(stderr, "qlab suite: {}\n", s); });
  int failed = 0;
  for (const auto& v : r.variants) failed += v.error.empty() ? 0 : 1;
  if (json) {
    nlohmann::json j = suite::to_json(r);
    j["reports"] = {{"markdown", w.markdown.string()}, {"csv", w.csv.string()}, {"json", w.json.string()},
                    {"html", w.html.string()}};
    print_json(j.dump(2));
    return failed ? 1 : 0;
  }
  const report::TableView t = report::table(r);
  std::vector<std::size_t> width(t.header.size());
  for (std::size_t c = 0; c < t.header.size(); ++c) {
    width[c] = t.header[c].size();
    for (const auto& row : t.rows) width[c] = std::max(width[c], row[c].size());
  }
  auto line = [&](const std::vector<std::string>& cells) {
    std::string s;
    for (std::size_t c = 0; c < cells.size(); ++c)
      s += (c ? "  " : "") + (t.numeric[c] ? fmt::format("{:>{}}", cells[c], width[c]) : fmt::format("{:<{}}", cells[c], width[c]));
    fmt::print("{}\n", s);
  };
  line(t.header);
  for (const auto& row : t.rows) line(row);
  fmt::print("\ntext: {} ({} tokens)\nperplexity: {}\n", r.text_origin, r.text_tokens, r.ppl_protocol);
  if (!r.chunk_note.empty()) fmt::print("{}\n", r.chunk_note);
  if (!r.word_ppl_protocol.empty()) fmt::print("word perplexity: {}\n", r.word_ppl_protocol);
  if (!r.mmlu_origin.empty()) fmt::print("MMLU: {}; {}\n", r.mmlu_origin, r.mmlu_protocol);
  fmt::print("machine: {}; {}\n", r.machine, r.threads);
  for (const auto& v : r.variants)
    if (!v.error.empty()) fmt::print("{}: {}\n", v.name, v.error);
  for (const auto& n : r.notes) fmt::print("{}\n", n);
  fmt::print("suite: {} variants in {:.1f} s\nreport: {}\n        {}\n        {}\n        {}\n", r.variants.size(),
             r.seconds, w.html.string(), w.markdown.string(), w.csv.string(), w.json.string());
  return failed ? 1 : 0;
}

Command suite_command() {
  Command c{
    "suite", "every variant of a model on the same text and questions: perplexity, KLD, MMLU, size; a report",
    "[MODEL] [--variants LIST] [--add PATH ...] [--text FILE] [--mmlu DIR] [--shots K] [--chunks N] [--out DIR] "
    "[--word-ppl] [--no-mmlu] [--no-speed] [--cache DIR] [--list]",
    {{"variants", "LIST", "comma-separated variant names (default: every variant this build can make; --list)"},
     {"add", "PATH",
      "also measure this checkpoint folder or GGUF file (a variant of the same model); may be given again"},
     {"text", "FILE", "WikiText-2 wiki.test.raw, a WikiText parquet file or Hub snapshot folder (or its repo id in "
                      "the Hugging Face cache: Salesforce/wikitext), JSONL, or plain text (default: the model "
                      "folder's eval.txt, else the built-in model's)"},
     {"mmlu", "DIR", "MMLU: a folder with test/ and dev/ CSV files, the Hub's parquet (or cais/mmlu in the "
                     "Hugging Face cache), or one CSV file (default: the model folder's mmlu.csv, else the built-in "
                     "model's)"},
     {"shots", "K", "MMLU few-shot examples from dev (default 0; 5 is the usual)"},
     {"chunks", "N", "score only the first N perplexity chunks (the +/- widens: the output says by how much)"},
     {"out", "DIR", "folder for the report (default $XDG_DATA_HOME/qlab/reports)"},
     {"word-ppl", "", "also lm-evaluation-harness's wikitext word perplexity (its own protocol, labelled)"},
     {"no-mmlu", "", "leave MMLU out"},
     {"no-speed", "", "leave the decode speed out (16 tokens per variant, decoded one at a time)"},
     {"cache", "DIR", "result cache (default $XDG_CACHE_HOME/qlab/suite): a re-run computes only what is new"},
     {"list", "", "list the variants and whether this build can make them"},
     {"progress", "FILE", "progress file that records the report (default: the tutor's)"}},
    "Perplexity follows llama.cpp (chunks of 512 tokens or the model's context, second half scored) and every "
    "variant is compared token by token with the baseline's logits, computed once and kept in the cache. MMLU "
    "follows lm-evaluation-harness's mmlu task. Exit 1 when a variant could not be measured.",
    0, 1, run};
  c.options = with_device_options(std::move(c.options));
  return c;
}

const Registrar reg{suite_command()};

}  // namespace
}  // namespace qlab::app
