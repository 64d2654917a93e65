// `qlab suite` through the real binary: its numbers are `qlab ppl --kld`'s, its report renders in a real
// headless browser (Debian's chromium) with its charts and nothing fetched from outside, `qlab progress
// export` links it, and each bad input is one line naming the problem (exit 2 for usage, 1 otherwise).
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <regex>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "qlab_run.h"

namespace qlab::testing {
namespace {

const std::filesystem::path kSrc = QLAB_SOURCE_DIR;

// HOME, XDG_* in the scratch folder (the cache, the progress file and the reports stay there), two threads.
std::string env(const std::filesystem::path& dir) {
  std::string e = "HOME=";
  e += quoted(dir / "home");
  e += " XDG_CACHE_HOME=";
  e += quoted(dir / "cache");
  e += " XDG_DATA_HOME=";
  e += quoted(dir / "data");
  e += " HF_HUB_CACHE=";
  e += quoted(dir / "hub");
  e += " QLAB_THREADS=2 ";
  return e;
}

QlabRun run_env(const std::filesystem::path& dir, const std::string& args) {
  {
    std::ofstream(dir / ".stdin") << "";
  }
  const std::string cmd = fmt::format("cd {} && env {}{} {} < .stdin > .stdout 2> .stderr", quoted(dir), env(dir),
                                      quoted(QLAB_BINARY), args);
  const int status = std::system(cmd.c_str());
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, slurp(dir / ".stdout"), slurp(dir / ".stderr")};
}

// A one-line error: one non-empty line on stderr, holding `what`.
void expect_one_line(const QlabRun& r, int code, const std::string& what) {
  EXPECT_EQ(r.code, code) << r.err;
  std::string err = r.err;
  while (!err.empty() && err.back() == '\n') err.pop_back();
  EXPECT_EQ(err.find('\n'), std::string::npos) << err;
  EXPECT_NE(err.find(what), std::string::npos) << err;
}

// The built-in model's first 20 questions (a short MMLU part for the runs below).
std::filesystem::path short_questions(const std::filesystem::path& dir) {
  std::ifstream in(kSrc / "assets/builtin/mmlu.csv");
  std::string line, out;
  int rows = 0;
  bool open = false;
  while (rows < 20 && std::getline(in, line)) {
    out += line + "\n";
    for (char c : line) open = c == '"' ? !open : open;
    if (!open) ++rows;
  }
  std::ofstream(dir / "q20.csv") << out;
  return dir / "q20.csv";
}

// MXFP4: the same fake quantization in both (the suite's nvfp4 and fp8 share one tensor scale per fused
// group as the served checkpoint does, where `qlab ppl --quant` scales each matrix on its own).
TEST(SuiteCli, NumbersAreQlabPplsAndTheReportIsNamed) {
  const auto dir = scratch_dir("suite-cli");
  const auto q = short_questions(dir);
  const QlabRun r = run_env(dir, fmt::format("suite builtin --variants mxfp4 --chunks 4 --json --out out --mmlu {}", quoted(q)));
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  const QlabRun p = run_env(dir, "ppl builtin --quant mxfp4 --kld --chunks 4 --json");
  ASSERT_EQ(p.code, 0) << p.err;
  const auto pj = nlohmann::json::parse(p.out);
  const auto& v = j.at("variants");
  ASSERT_EQ(v.size(), 2u);
  EXPECT_EQ(v[0].at("perplexity").at("ppl").get<double>(), pj.at("base").at("ppl").get<double>());
  EXPECT_EQ(v[1].at("perplexity").at("ppl").get<double>(), pj.at("quantized").at("ppl").get<double>());
  EXPECT_DOUBLE_EQ(v[1].at("perplexity").at("kld_mean").get<double>(), pj.at("kld").at("mean").get<double>());
  EXPECT_EQ(v[1].at("perplexity").at("kld_median").get<double>(), pj.at("kld").at("quantiles").at("median").get<double>());
  EXPECT_EQ(v[1].at("perplexity").at("kld_p99").get<double>(), pj.at("kld").at("quantiles").at("p99").get<double>());
  EXPECT_EQ(v[1].at("perplexity").at("same_top").get<double>(), pj.at("same_top").at("fraction").get<double>());
  for (const char* k : {"markdown", "csv", "json", "html"})
    EXPECT_TRUE(std::filesystem::exists(dir / j.at("reports").at(k).get<std::string>())) << k;
  // The plain output names the files; the progress export links them.
  const QlabRun t = run_env(dir, fmt::format("suite builtin --variants mxfp4 --chunks 4 --out out --mmlu {}", quoted(q)));
  ASSERT_EQ(t.code, 0) << t.err;
  EXPECT_NE(t.out.find("report: "), std::string::npos);
  EXPECT_NE(t.out.find(".html"), std::string::npos);
  EXPECT_NE(t.err.find("from the cache: made, perplexity, mmlu"), std::string::npos) << t.err;
  EXPECT_NE(t.out.find("4 of the text's 180 chunks scored, so each +/- is about 6.7 times"), std::string::npos) << t.out;
  const QlabRun e = run_env(dir, "progress export");
  ASSERT_EQ(e.code, 0) << e.err;
  EXPECT_NE(e.out.find("## Reports"), std::string::npos) << e.out;
  EXPECT_NE(e.out.find("[HTML]("), std::string::npos) << e.out;
}

// A lab 4 checkpoint (GPTQ v1, written by qlab quantize) added to the suite: scored as `qlab ppl --kld`
// scores the in-memory GPTQ model on the same text, with its size from the checkpoint's files.
TEST(SuiteCli, AddedGptqCheckpointScoresAsItsInMemoryQuantization) {
  const auto dir = scratch_dir("suite-cli-gptq");
  const auto q = short_questions(dir);
  const std::string calib = "--samples 8 --seq-len 64";
  const QlabRun w = run_env(dir, "quantize builtin --method gptq --format int4-g32 " + calib + " --out g32");
  ASSERT_EQ(w.code, 0) << w.err;
  const QlabRun r = run_env(dir, fmt::format("suite builtin --variants baseline --add g32 --chunks 4 --no-speed --json "
                                             "--mmlu {}", quoted(q)));
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  const QlabRun p = run_env(dir, "ppl builtin --quant int4-g32 --method gptq " + calib + " --kld --chunks 4 --json");
  ASSERT_EQ(p.code, 0) << p.err;
  const auto pj = nlohmann::json::parse(p.out);
  const auto& v = j.at("variants");
  ASSERT_EQ(v.size(), 2u);
  EXPECT_EQ(v[1].at("name"), "g32");
  EXPECT_EQ(v[1].at("perplexity").at("ppl").get<double>(), pj.at("quantized").at("ppl").get<double>());
  EXPECT_DOUBLE_EQ(v[1].at("perplexity").at("kld_mean").get<double>(), pj.at("kld").at("mean").get<double>());
  std::uintmax_t bytes = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir / "g32"))
    if (e.path().extension() == ".safetensors") bytes += e.file_size();
  EXPECT_EQ(v[1].at("bytes").get<double>(), static_cast<double>(bytes));
}

// The HTML report in Debian's chromium, headless: it renders, its charts are there, and it can fetch
// nothing (a Content-Security-Policy of default-src 'none', no http(s) address anywhere in it).
TEST(SuiteCli, HtmlReportRendersInAHeadlessBrowserWithNothingFetched) {
  const char* candidates[] = {"/usr/bin/chromium", "/usr/bin/chromium-browser", "/snap/bin/chromium"};
  std::string browser;
  for (const char* c : candidates)
    if (std::filesystem::exists(c)) browser = c;
  if (browser.empty())
    FAIL() << "chromium is not installed: the HTML report is tested in a real browser (apt-get install chromium; "
              "./dev.sh test installs it)";
  const auto dir = scratch_dir("suite-html");
  const auto q = short_questions(dir);
  const QlabRun r = run_env(dir, fmt::format("suite builtin --variants int8-ch,nvfp4 --chunks 3 --json --out out --mmlu {}", quoted(q)));
  ASSERT_EQ(r.code, 0) << r.err;
  const auto html_path = dir / nlohmann::json::parse(r.out).at("reports").at("html").get<std::string>();
  const std::string html = slurp(html_path);
  EXPECT_EQ(html.find("http://"), std::string::npos);
  EXPECT_EQ(html.find("https://"), std::string::npos);
  EXPECT_NE(html.find("Content-Security-Policy\" content=\"default-src 'none'"), std::string::npos);
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("<link"), std::string::npos);
  const std::string flags = fmt::format(
      " --headless --no-sandbox --disable-gpu --disable-background-networking --disable-component-update "
      "--disable-sync --no-first-run --user-data-dir={}",
      quoted(dir / "profile"));
  const std::string url = quoted(std::filesystem::path(fmt::format("file://{}", html_path.string())));
  const std::string dump = fmt::format("timeout 120 {}{} --dump-dom {} > {} 2> {}", browser, flags, url,
                                       quoted(dir / "dom.html"), quoted(dir / "browser.log"));
  ASSERT_EQ(std::system(dump.c_str()), 0) << slurp(dir / "browser.log");
  const std::string dom = slurp(dir / "dom.html");
  EXPECT_NE(dom.find("<svg class=\"chart\" id=\"pareto\""), std::string::npos);
  EXPECT_NE(dom.find("id=\"kld\""), std::string::npos);
  EXPECT_NE(dom.find("id=\"mmlu\""), std::string::npos);
  EXPECT_NE(dom.find("<table id=\"results\">"), std::string::npos);
  EXPECT_NE(dom.find("<td>nvfp4</td>"), std::string::npos);
  EXPECT_EQ(std::regex_search(dom, std::regex("<circle")), true);
  EXPECT_NE(dom.find("Protocol and machine"), std::string::npos);
  // A picture of it: a real PNG, larger than a blank page's.
  const std::string shot = fmt::format("timeout 120 {}{} --window-size=1200,1600 --screenshot={} {} > /dev/null 2>> {}",
                                       browser, flags, quoted(dir / "shot.png"), url, quoted(dir / "browser.log"));
  ASSERT_EQ(std::system(shot.c_str()), 0) << slurp(dir / "browser.log");
  const std::string png = slurp(dir / "shot.png");
  ASSERT_GT(png.size(), 20000u);
  EXPECT_EQ(png.substr(1, 3), "PNG");
}

// A dataset named by its repo id, found in the Hugging Face hub cache (refs/main -> snapshots/<commit>).
TEST(SuiteCli, MmluByRepoIdFromTheHubCache) {
  const auto dir = scratch_dir("suite-hub");
  const auto snap = dir / "hub" / "datasets--cais--mmlu" / "snapshots" / "0123abcd";
  std::filesystem::create_directories(dir / "hub" / "datasets--cais--mmlu" / "refs");
  std::ofstream(dir / "hub" / "datasets--cais--mmlu" / "refs" / "main") << "0123abcd\n";
  const char* subjects[] = {
      "abstract_algebra", "anatomy", "astronomy", "business_ethics", "clinical_knowledge", "college_biology",
      "college_chemistry", "college_computer_science", "college_mathematics", "college_medicine", "college_physics",
      "computer_security", "conceptual_physics", "econometrics", "electrical_engineering", "elementary_mathematics",
      "formal_logic", "global_facts", "high_school_biology", "high_school_chemistry", "high_school_computer_science",
      "high_school_european_history", "high_school_geography", "high_school_government_and_politics",
      "high_school_macroeconomics", "high_school_mathematics", "high_school_microeconomics", "high_school_physics",
      "high_school_psychology", "high_school_statistics", "high_school_us_history", "high_school_world_history",
      "human_aging", "human_sexuality", "international_law", "jurisprudence", "logical_fallacies",
      "machine_learning", "management", "marketing", "medical_genetics", "miscellaneous", "moral_disputes",
      "moral_scenarios", "nutrition", "philosophy", "prehistory", "professional_accounting", "professional_law",
      "professional_medicine", "professional_psychology", "public_relations", "security_studies", "sociology",
      "us_foreign_policy", "virology", "world_religions"};
  std::filesystem::create_directories(snap / "test");
  for (const char* s : subjects)
    std::ofstream(snap / "test" / fmt::format("{}_test.csv", s))
        << "\"Anna has a fig.\nQuestion: What does Anna have?\",fig,pear,plum,kiwi,A\n";
  const QlabRun r = run_env(dir, "suite --variants nvfp4 --chunks 2 --json --out out --mmlu cais/mmlu");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_NE(j.at("mmlu").at("origin").get<std::string>().find("0123abcd"), std::string::npos);
  const auto& m = j.at("variants").at(0).at("mmlu");
  EXPECT_EQ(m.at("items").get<int>(), 57);
  EXPECT_EQ(m.at("subjects").size(), 57u);
  EXPECT_EQ(m.at("categories").size(), 4u);
}

TEST(SuiteCli, BadInputIsOneLineAndNothingIsLost) {
  const auto dir = scratch_dir("suite-bad");
  expect_one_line(run_env(dir, "suite --variants nvfp5"), 2, "no variant named 'nvfp5'");
  // A truncated parquet file and one of another dataset.
  const std::string bytes = slurp(kSrc / "tests/fixtures/parquet/alltypes_plain.parquet");
  std::ofstream(dir / "cut.parquet", std::ios::binary) << bytes.substr(0, bytes.size() - 40);
  expect_one_line(run_env(dir, "suite --text cut.parquet"), 1, "cut short");
  expect_one_line(run_env(dir, fmt::format("suite --text {}", quoted(kSrc / "tests/fixtures/parquet/alltypes_plain.parquet"))), 1,
                  "a parquet file of another dataset");
  // An MMLU folder with two subjects.
  std::filesystem::create_directories(dir / "mmlu/test");
  std::ofstream(dir / "mmlu/test/anatomy_test.csv") << "q,a,b,c,d,A\n";
  std::ofstream(dir / "mmlu/test/virology_test.csv") << "q,a,b,c,d,B\n";
  expect_one_line(run_env(dir, "suite --mmlu mmlu"), 1, "MMLU test questions for 2 of its 57 subjects");
  // A dataset repo id that is not in the Hugging Face cache.
  expect_one_line(run_env(dir, "suite --mmlu cais/mmlu"), 1, "neither a file nor a dataset in the Hugging Face cache");
  // A checkpoint of another model.
  expect_one_line(run_env(dir, fmt::format("suite --variants int8-ch --add {}", quoted(kSrc / "tests/fixtures/models/llama"))), 1,
                  "a checkpoint of another model (vocabulary of 256, the baseline's 768)");
  // A cache entry written by an older qlab: one line saying so; the suite measures again and keeps the file.
  const auto q = short_questions(dir);
  ASSERT_EQ(run_env(dir, fmt::format("suite --variants int8-ch --chunks 2 --out out --mmlu {}", quoted(q))).code, 0);
  std::filesystem::path entry;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir / "cache"))
    if (e.path().filename().string().rfind("int8-ch.ppl.", 0) == 0) entry = e.path();
  ASSERT_FALSE(entry.empty());
  auto j = nlohmann::json::parse(slurp(entry));
  j["schema"] = 0;
  std::ofstream(entry) << j.dump();
  const QlabRun again = run_env(dir, fmt::format("suite --variants int8-ch --chunks 2 --out out --mmlu {}", quoted(q)));
  EXPECT_EQ(again.code, 0) << again.err;
  EXPECT_NE(again.err.find("was written by an older qlab"), std::string::npos) << again.err;
  auto aside = entry;
  aside += ".old";
  EXPECT_TRUE(std::filesystem::exists(aside));
}

}  // namespace
}  // namespace qlab::testing
