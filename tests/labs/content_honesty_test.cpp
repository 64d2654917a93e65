// Keeps the learner's text honest. Every figure in content/*.json is either produced by a job or
// carries a source, and the module's corrections are never contradicted.
//
// A figure is a number standing on its own in learner-facing text ("448", "4.5 bits", "262,144"),
// not part of a name ("E4M3", "int4-g128", "Llama-3-8B", "70B", "lab 2"). Any object in a content
// file may hold "claims": [{"figure": "273 GB/s", "source": "..."}]; they cover the figures of that
// object's text and of everything inside it. A source is one of
//   job: STEP     the step's job, run here on the built-in model, prints a number that rounds to it
//   calc: EXPR    arithmetic (+ - * / ^, log10, log2, sqrt) that rounds to it: a derived figure
//   cite: WHERE   the primary source it comes from (a paper, a specification, a reference note)
//   module: WHAT  the course module's own statement (shown as the module's, often to correct it)
//   def: WHAT     a definition (bits in a byte, the smallest value a setting takes)
//   example: WHY  a value to type or a wrong quiz answer: not a claim
// A claim no figure of its object uses is an error too (a figure removed, its claim left behind).
//
// The corrections of the module (../shared/MODULE.md), outside the text that quotes the module's
// claim: compute capability 10.0 for the Spark, trtllm-build as today's path, 3.5 times for a whole
// checkpoint, about 20 tokens/s FP16 decode on the Spark as achievable, 200B in about 100 GB at
// NVFP4's real bits.
#include <gtest/gtest.h>

#include <cctype>
#include <cmath>
#include <map>
#include <regex>
#include <set>

#include <nlohmann/json.hpp>

#include "labs/content_files.h"
#include "labs/lab.h"

namespace qlab::labs {
namespace {

using nlohmann::json;

// ---- figures --------------------------------------------------------------------------------------

struct Figure {
  std::string text;  // "262144" (thousands separators removed)
  double value = 0;
  int decimals = 0;
};

// Names that contain numbers but claim nothing: the module's number, model names, lab and day numbers.
std::string without_names(std::string s) {
  static const std::regex names(
      R"((Module \d+(\.\d+)?)|(Llama[ -]?\d+(\.\d+)?)|(\b[Ll]abs? \d+((,| and| or| to)\s*\d+)*)|(\b[Dd]ays? \d+((,| and| or| to)\s*\d+)*))");
  return std::regex_replace(s, names, " ");
}

bool ident_char(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }

std::vector<Figure> figures_in(const std::string& raw, bool skip_names = true) {
  const std::string s = skip_names ? without_names(raw) : raw;
  std::vector<Figure> out;
  static const std::regex num(R"(\d+(,\d{3})*(\.\d+)?)");
  for (auto it = std::sregex_iterator(s.begin(), s.end(), num); it != std::sregex_iterator(); ++it) {
    const auto b = static_cast<std::size_t>(it->position()), e = b + static_cast<std::size_t>(it->length());
    // part of a name: a letter, digit or '_' touching it, or a letter before a '-' or '.' touching it
    if (b > 0) {
      const char p = s[b - 1];
      if (ident_char(p) || std::isdigit(static_cast<unsigned char>(p))) continue;
      if ((p == '-' || p == '.') && b > 1 && ident_char(s[b - 2])) continue;
    }
    if (e < s.size() && (ident_char(s[e]) || std::isdigit(static_cast<unsigned char>(s[e])))) continue;
    Figure f;
    for (char c : it->str())
      if (c != ',') f.text += c;
    f.value = std::stod(f.text);
    const auto dot = f.text.find('.');
    f.decimals = dot == std::string::npos ? 0 : static_cast<int>(f.text.size() - dot - 1);
    out.push_back(f);
  }
  return out;
}

bool rounds_to(double v, const Figure& f) { return std::fabs(v - f.value) <= 0.5 * std::pow(10.0, -f.decimals) + 1e-12; }

// ---- calc: a small arithmetic evaluator -----------------------------------------------------------

class Calc {
 public:
  explicit Calc(std::string s) : s_(std::move(s)) {}
  double run() {
    double v = sum();
    skip();
    if (i_ != s_.size()) fail("unexpected '{}'", s_.substr(i_));
    return v;
  }

 private:
  void skip() {
    while (i_ < s_.size() && s_[i_] == ' ') ++i_;
  }
  bool eat(char c) {
    skip();
    if (i_ < s_.size() && s_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }
  double sum() {
    double v = product();
    for (;;) {
      if (eat('+')) v += product();
      else if (eat('-')) v -= product();
      else return v;
    }
  }
  double product() {
    double v = power();
    for (;;) {
      if (eat('*')) v *= power();
      else if (eat('/')) v /= power();
      else return v;
    }
  }
  double power() {
    double v = unary();
    if (eat('^')) v = std::pow(v, power());
    return v;
  }
  double unary() {
    if (eat('-')) return -unary();
    return atom();
  }
  double atom() {
    skip();
    if (eat('(')) {
      double v = sum();
      if (!eat(')')) fail("missing ')'");
      return v;
    }
    for (const char* fn : {"log10", "log2", "sqrt"}) {
      const std::string name(fn);
      if (s_.compare(i_, name.size(), name) == 0) {
        i_ += name.size();
        if (!eat('(')) fail("{} needs '('", fn);
        double a = sum();
        if (!eat(')')) fail("missing ')'");
        return name == "log10" ? std::log10(a) : name == "log2" ? std::log2(a) : std::sqrt(a);
      }
    }
    std::size_t used = 0;
    double v = std::stod(s_.substr(i_), &used);
    i_ += used;
    return v;
  }
  std::string s_;
  std::size_t i_ = 0;
};

// ---- jobs: the numbers a step prints ----------------------------------------------------------------

void numbers_of(const json& j, std::vector<double>& out) {
  if (j.is_number()) out.push_back(j.get<double>());
  else if (j.is_string())
    for (const auto& f : figures_in(j.get<std::string>(), false)) out.push_back(f.value);
  else if (j.is_structured())
    for (const auto& v : j) numbers_of(v, out);
}

void numbers_of(const std::string& s, std::vector<double>& out) { numbers_of(json(s), out); }

class JobNumbers {
 public:
  // Steps too slow to run in a test (a minute of training) cannot be a figure's source.
  static bool runnable(const std::string& step) { return step != "lab03.train" && step != "lab01.bits"; }

  const std::vector<double>& of(const std::string& step_id) {
    auto it = cache_.find(step_id);
    if (it != cache_.end()) return it->second;
    std::vector<double> nums;
    for (const auto& lab : all_labs())
      if (const Step* s = lab.find(step_id)) {
        JobContext ctx;
        ctx.model.display = "built-in";
        ctx.model.dir = std::string(QLAB_SOURCE_DIR) + "/assets/builtin";
        ctx.builtin_dir = ctx.model.dir;
        StepResult r = run_step(*s, ctx, Progress::none(), {});
        EXPECT_EQ(r.outcome, Outcome::Done) << step_id << ": " << r.message;
        numbers_of(r.record, nums);
        for (const auto& b : r.blocks) {
          if (auto t = std::get_if<Text>(&b)) numbers_of(t->body, nums);
          if (auto t = std::get_if<Table>(&b)) {
            numbers_of(t->title, nums);
            for (const auto& h : t->header) numbers_of(h, nums);
            for (const auto& row : t->rows)
              for (const auto& c : row) numbers_of(c, nums);
          }
          if (auto c = std::get_if<LineChart>(&b)) numbers_of(c->title, nums);
          if (auto h = std::get_if<Histogram>(&b)) numbers_of(h->title, nums);
          if (auto c = std::get_if<BarChart>(&b)) nums.insert(nums.end(), c->values.begin(), c->values.end());
          if (auto n = std::get_if<NumberLine>(&b)) {
            numbers_of(n->title, nums);
            for (const auto& v : n->values) nums.insert(nums.end(), v.begin(), v.end());
          }
        }
      }
    return cache_.emplace(step_id, std::move(nums)).first->second;
  }

 private:
  std::map<std::string, std::vector<double>> cache_;
};

// ---- the check ----------------------------------------------------------------------------------

struct Claim {
  std::string figure, source;
};

// Keys whose strings are not learner-facing words (ids, references to other ids, numbers as data).
// "steps" is data where it lists step ids (paths.json), and learner-facing text where it holds a lab's
// step objects.
bool data_key(const std::string& k, const json& v) {
  if (k == "steps") {
    for (const auto& e : v)
      if (!e.is_string()) return false;
    return true;
  }
  return k == "id" || k == "lab" || k == "claims" || k == "answer" || k == "number";
}

class Checker {
 public:
  explicit Checker(JobNumbers& jobs) : jobs_(jobs) {}

  std::vector<std::string> check(const std::string& file, const json& j) {
    problems_.clear();
    walk(file, j, {}, false);
    return problems_;
  }

 private:
  // Visits one object or value; `claims` are those in scope; `quoting` is true inside a correction's
  // "claim" (the module's own words, which may say what the corrections correct).
  void walk(const std::string& where, const json& j, std::vector<Claim> claims, bool quoting) {
    if (j.is_object()) {
      std::vector<Claim> own;
      if (auto c = j.find("claims"); c != j.end()) {
        for (const auto& cl : *c) own.push_back({cl.value("figure", ""), cl.value("source", "")});
        for (const auto& cl : own) check_source(where, cl);
      }
      claims.insert(claims.end(), own.begin(), own.end());
      // every claim of this object is used by some figure of its text
      std::vector<Figure> figs;
      collect(j, figs);
      for (const auto& cl : own)
        for (const auto& cf : figures_in(cl.figure, false)) {
          bool used = false;
          for (const auto& f : figs) used = used || f.text == cf.text;
          if (!used) problems_.push_back(fmt::format("{}: claim '{}' ({}) names no figure of its text", where, cl.figure, cf.text));
        }
      const bool correction = j.contains("claim") && j.contains("fact");
      for (const auto& [k, v] : j.items()) {
        if (data_key(k, v)) continue;
        walk(where + "." + (j.contains("id") && j["id"].is_string() ? j["id"].get<std::string>() + "." : "") + k, v,
             claims, quoting || (correction && k == "claim"));
      }
    } else if (j.is_array()) {
      for (const auto& v : j) walk(where, v, claims, quoting);
    } else if (j.is_string()) {
      const std::string s = j.get<std::string>();
      for (const auto& f : figures_in(s)) {
        bool covered = false;
        for (const auto& cl : claims)
          for (const auto& cf : figures_in(cl.figure, false)) covered = covered || cf.text == f.text;
        if (!covered)
          problems_.push_back(fmt::format("{}: the figure {} has no source (add a claim): \"{}\"", where, f.text, s));
      }
      if (!quoting) check_corrections(where, s);
    }
  }

  void collect(const json& j, std::vector<Figure>& out) {
    if (j.is_string()) {
      auto f = figures_in(j.get<std::string>());
      out.insert(out.end(), f.begin(), f.end());
    } else if (j.is_object()) {
      for (const auto& [k, v] : j.items())
        if (!data_key(k, v)) collect(v, out);
    } else if (j.is_array()) {
      for (const auto& v : j) collect(v, out);
    }
  }

  void check_source(const std::string& where, const Claim& cl) {
    const auto colon = cl.source.find(':');
    const std::string kind = colon == std::string::npos ? "" : cl.source.substr(0, colon);
    std::string what = colon == std::string::npos ? "" : cl.source.substr(colon + 1);
    while (!what.empty() && what.front() == ' ') what.erase(what.begin());
    const auto figs = figures_in(cl.figure, false);
    if (figs.empty()) problems_.push_back(fmt::format("{}: claim '{}' holds no figure", where, cl.figure));
    if (kind == "job") {
      if (!find_step(what)) {
        problems_.push_back(fmt::format("{}: claim '{}': no step '{}'", where, cl.figure, what));
        return;
      }
      if (!JobNumbers::runnable(what)) {
        problems_.push_back(fmt::format("{}: claim '{}': step {} cannot be run to check it", where, cl.figure, what));
        return;
      }
      const auto& nums = jobs_.of(what);
      for (const auto& f : figs) {
        bool found = false;
        for (double v : nums) found = found || rounds_to(std::fabs(v), f) || rounds_to(100 * std::fabs(v), f);
        if (!found) problems_.push_back(fmt::format("{}: {} is not among what {} prints", where, f.text, what));
      }
    } else if (kind == "calc") {
      double v = 0;
      try {
        v = Calc(what).run();
      } catch (const std::exception& e) {
        problems_.push_back(fmt::format("{}: claim '{}': bad calc '{}': {}", where, cl.figure, what, e.what()));
        return;
      }
      for (const auto& f : figs)
        if (!rounds_to(v, f))
          problems_.push_back(fmt::format("{}: claim '{}': {} = {}, not {}", where, cl.figure, what, v, f.text));
    } else if (kind == "cite" || kind == "module" || kind == "def" || kind == "example") {
      if (what.size() < (kind == "cite" ? 12u : 4u))
        problems_.push_back(fmt::format("{}: claim '{}': say which {} ('{}' is too short)", where, cl.figure, kind, what));
    } else {
      problems_.push_back(fmt::format("{}: claim '{}': source '{}' is not job:, calc:, cite:, module:, def: or example:",
                                      where, cl.figure, cl.source));
    }
  }

  static const Step* find_step(const std::string& id) {
    for (const auto& lab : all_labs())
      if (const Step* s = lab.find(id)) return s;
    return nullptr;
  }

  // MODULE.md's corrections: text outside the module's quoted claims must not say the corrected thing.
  void check_corrections(const std::string& where, const std::string& text) {
    // sentence by sentence, so a qualifier ("removed", "naive") counts only where it stands
    static const std::regex sentence_end(R"(\.\s+|\n)");
    for (auto it = std::sregex_token_iterator(text.begin(), text.end(), sentence_end, -1);
         it != std::sregex_token_iterator(); ++it) {
      const std::string s = *it;
      auto has = [&](const char* re) { return std::regex_search(s, std::regex(re, std::regex::icase)); };
      if (has(R"(\b10\.0\b)") && !has("B200"))
        problems_.push_back(fmt::format("{}: compute capability 10.0 for the Spark (GB10 reports 12.1): \"{}\"", where, s));
      if (has("trtllm-build") && !has("remov") && !has("written for"))
        problems_.push_back(fmt::format("{}: trtllm-build as today's path (TensorRT-LLM removed it): \"{}\"", where, s));
      if (has(R"(\b3\.5\s*(x|×|times)\b)"))
        problems_.push_back(fmt::format("{}: 3.5 times smaller (a whole checkpoint is about 3.3): \"{}\"", where, s));
      if (has(R"((~|about )?\b20 (tok|tokens per second|tokens/s))"))
        problems_.push_back(fmt::format("{}: about 20 tokens/s FP16 decode (the bound is about 17): \"{}\"", where, s));
      if (has(R"(\b100 GB\b)") && !has("naive") && !has(R"(\b4\.0 bits)"))
        problems_.push_back(fmt::format("{}: 200B in about 100 GB (112.5 GB at 4.5 bits): \"{}\"", where, s));
    }
  }

  JobNumbers& jobs_;
  std::vector<std::string> problems_;
};

JobNumbers& shared_jobs() {
  static JobNumbers jobs;
  return jobs;
}

TEST(ContentHonesty, EveryFigureIsMeasuredOrSourcedAndNoCorrectionIsContradicted) {
  Checker checker(shared_jobs());
  int files = 0;
  for (const auto& f : embedded_content_files()) {
    ++files;
    const json j = json::parse(f.text);
    for (const auto& p : checker.check(std::string(f.name), j)) ADD_FAILURE() << p;
  }
  EXPECT_GE(files, 12);
}

// The checker itself, on content written to break each rule.
TEST(ContentHonesty, CheckerCatchesEachKindOfProblem) {
  Checker checker(shared_jobs());
  auto problems = [&](const char* text) { return checker.check("test.json", json::parse(text)); };
  auto has = [](const std::vector<std::string>& ps, const std::string& needle) {
    for (const auto& p : ps)
      if (p.find(needle) != std::string::npos) return true;
    return false;
  };
  // a figure without a source; names are not figures
  auto p = problems(R"({"body": "E4M3 in lab 2 on Llama-3-8B (70B too) with int4-g128 tops out at 448."})");
  EXPECT_TRUE(has(p, "the figure 448 has no source")) << ::testing::PrintToString(p);
  EXPECT_EQ(p.size(), 1u) << ::testing::PrintToString(p);
  // a job that does not print it, a calc that does not round to it, an unknown source kind
  p = problems(R"({"body": "448 and 449 and 3.5 and 7", "claims": [
      {"figure": "448", "source": "job: lab01.properties"}, {"figure": "449", "source": "job: lab01.properties"},
      {"figure": "3.5", "source": "calc: 16 / 4.5"}, {"figure": "7", "source": "guess: seven"}]})");
  EXPECT_FALSE(has(p, " 448 is not among")) << ::testing::PrintToString(p);
  EXPECT_TRUE(has(p, "449 is not among what lab01.properties prints")) << ::testing::PrintToString(p);
  EXPECT_TRUE(has(p, "16 / 4.5 = ")) << ::testing::PrintToString(p);
  EXPECT_TRUE(has(p, "is not job:, calc:")) << ::testing::PrintToString(p);
  // a claim left behind
  p = problems(R"({"body": "no figures", "claims": [{"figure": "17", "source": "calc: 273 / 16"}]})");
  EXPECT_TRUE(has(p, "names no figure of its text")) << ::testing::PrintToString(p);
  // each correction of the module
  const char* contradictions[] = {
      "The Spark's GB10 has compute capability 10.0.",      "Build the engine with trtllm-build.",
      "NVFP4 checkpoints are 3.5 times smaller than FP16.", "An 8B model decodes about 20 tokens per second in FP16.",
      "A 200B model fits in 100 GB with NVFP4."};
  for (const char* c : contradictions) {
    json j = {{"body", c}, {"claims", json::array()}};
    for (const auto& f : figures_in(c)) j["claims"].push_back({{"figure", f.text}, {"source", "module: the claim"}});
    EXPECT_FALSE(checker.check("test.json", j).empty()) << c;
  }
  // ... which a correction may quote as the module's claim
  json quoted = {{"claim", "A 200B model fits in about 100 GB with NVFP4."},
                 {"fact", "Only at a naive 4.0 bits."},
                 {"claims", {{{"figure", "100"}, {"source", "module: capacity table"}},
                             {{"figure", "4.0"}, {"source", "calc: 100 * 8 / 200"}}}}};
  EXPECT_TRUE(checker.check("test.json", quoted).empty()) << ::testing::PrintToString(checker.check("test.json", quoted));
}

TEST(ContentHonesty, FiguresAreNumbersStandingOnTheirOwn) {
  auto texts = [](const std::string& s) {
    std::vector<std::string> out;
    for (const auto& f : figures_in(s)) out.push_back(f.text);
    return out;
  };
  EXPECT_EQ(texts("262,144 values, 4.5 bits, 8-bit scale, 1e-5, FP16, Q4_K_M, int4-g128, 8B, Llama 3.1 8B"),
            (std::vector<std::string>{"262144", "4.5", "8"}));
  EXPECT_EQ(texts("labs 4, 5, 6 on day 2; Module 3.2; between -7 and 7 [1, 2)"),
            (std::vector<std::string>{"7", "7", "1", "2"}));
  EXPECT_NEAR(Calc("273 / (6.03 - 128256 * 4096 * 2 / 1e9)").run(), 54.8, 0.05);
  EXPECT_NEAR(Calc("100 * 2 ^ -4").run(), 6.25, 1e-12);
  EXPECT_NEAR(Calc("20 * log10(2)").run(), 6.0206, 1e-4);
}

}  // namespace
}  // namespace qlab::labs
