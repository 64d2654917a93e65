// MODEL as a Hugging Face repo id, found in the Hugging Face cache the way huggingface_hub lays it
// out (models--ORG--NAME/refs/main names a commit; snapshots/COMMIT/ holds the files, as links into
// blobs/), with the cache's own order of places: $HF_HUB_CACHE, $HF_HOME/hub, ~/.cache/huggingface/hub.
// Also `qlab mc` on the built-in model's questions, and the explanation texts of info and bench.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/cli/qlab_run.h"

namespace {

namespace fs = std::filesystem;
using qlab::testing::QlabRun;
using qlab::testing::quoted;
using qlab::testing::slurp;

fs::path builtin_dir() { return fs::path(QLAB_SOURCE_DIR) / "assets" / "builtin"; }

class ModelsCli : public ::testing::Test {
 protected:
  fs::path dir;
  void SetUp() override { dir = qlab::testing::scratch_dir("qlab-models-cli"); }
  void TearDown() override { fs::remove_all(dir); }

  // `env -u HF_HUB_CACHE -u HF_HOME -u XDG_CACHE_HOME HOME=<dir>/home ENV qlab ARGS`
  QlabRun qlab(const std::string& env, const std::string& args) {
    const std::string cmd = "cd " + quoted(dir) + " && env -u HF_HUB_CACHE -u HF_HOME -u XDG_CACHE_HOME HOME=" +
                            quoted(dir / "home") + " " + env + " '" + QLAB_BINARY + "' " + args +
                            " < /dev/null > .stdout 2> .stderr";
    const int status = std::system(cmd.c_str());
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, slurp(dir / ".stdout"), slurp(dir / ".stderr")};
  }

  // The built-in model's files as a cached snapshot of `repo` at `commit`: blobs linked from the
  // snapshot folder, refs/main naming the commit (unless ref is empty).
  fs::path cache_model(const fs::path& cache, const std::string& folder, const std::string& commit,
                       const std::string& ref = "main", bool with_config = true) {
    const fs::path repo = cache / folder;
    fs::create_directories(repo / "blobs");
    fs::create_directories(repo / "snapshots" / commit);
    for (const char* f : {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"}) {
      if (!with_config && std::string(f) == "config.json") continue;
      const fs::path blob = repo / "blobs" / (std::string("blob-") + f);
      fs::copy_file(builtin_dir() / f, blob, fs::copy_options::overwrite_existing);
      fs::create_symlink(fs::path("../../blobs") / blob.filename(), repo / "snapshots" / commit / f);
    }
    if (!ref.empty()) {
      fs::create_directories(repo / "refs");
      std::ofstream(repo / "refs" / ref) << commit;  // huggingface_hub writes the hash with no newline
    }
    return repo / "snapshots" / commit;
  }
};

TEST_F(ModelsCli, ARepoIdIsFoundInTheHubCacheAndRunsLikeItsFolder) {
  const fs::path snap = cache_model(dir / "cache", "models--acme--tiny-llama", "0123abcd");
  QlabRun info = qlab("HF_HUB_CACHE=" + quoted(dir / "cache"), "info acme/tiny-llama --json");
  ASSERT_EQ(info.code, 0) << info.err;
  EXPECT_EQ(fs::path(nlohmann::json::parse(info.out)["model"].get<std::string>()), snap);
  // the same numbers as the folder itself
  const std::string text = " --text " + quoted(builtin_dir() / "eval.txt") + " --chunks 4 --json";
  QlabRun by_id = qlab("HF_HUB_CACHE=" + quoted(dir / "cache"), "ppl acme/tiny-llama" + text);
  QlabRun by_dir = qlab("", "ppl builtin" + text);
  ASSERT_EQ(by_id.code, 0) << by_id.err;
  ASSERT_EQ(by_dir.code, 0) << by_dir.err;
  EXPECT_EQ(nlohmann::json::parse(by_id.out)["ppl"], nlohmann::json::parse(by_dir.out)["ppl"]);
}

TEST_F(ModelsCli, TheCacheIsLookedForWhereHuggingfaceHubKeepsIt) {
  cache_model(dir / "hf-home" / "hub", "models--acme--a", "c1");
  EXPECT_EQ(qlab("HF_HOME=" + quoted(dir / "hf-home"), "info acme/a").code, 0);
  cache_model(dir / "home" / ".cache" / "huggingface" / "hub", "models--acme--b", "c2");
  EXPECT_EQ(qlab("", "info acme/b").code, 0);
  cache_model(dir / "xdg" / "huggingface" / "hub", "models--acme--c", "c3");
  EXPECT_EQ(qlab("XDG_CACHE_HOME=" + quoted(dir / "xdg"), "info acme/c").code, 0);
  // HF_HUB_CACHE wins over HF_HOME
  QlabRun r = qlab("HF_HUB_CACHE=" + quoted(dir / "nowhere") + " HF_HOME=" + quoted(dir / "hf-home"), "info acme/a");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find(dir.string() + "/nowhere"), std::string::npos) << r.err;
}

TEST_F(ModelsCli, ARevisionPicksASnapshot) {
  cache_model(dir / "cache", "models--acme--m", "aaaa1111");
  cache_model(dir / "cache", "models--acme--m", "bbbb2222", "v2");
  const std::string env = "HF_HUB_CACHE=" + quoted(dir / "cache");
  QlabRun a = qlab(env, "info acme/m@bbbb2222 --json");
  ASSERT_EQ(a.code, 0) << a.err;
  EXPECT_NE(a.out.find("snapshots/bbbb2222"), std::string::npos);
  QlabRun b = qlab(env, "info acme/m@v2 --json");
  ASSERT_EQ(b.code, 0) << b.err;
  EXPECT_NE(b.out.find("snapshots/bbbb2222"), std::string::npos);
  QlabRun c = qlab(env, "info acme/m@v3");
  EXPECT_EQ(c.code, 1);
  EXPECT_NE(c.err.find("no snapshot for 'v3' (snapshots: aaaa1111, bbbb2222; add @<one of them>)"), std::string::npos)
      << c.err;
}

TEST_F(ModelsCli, AMissingOrPartialModelSaysWhereItLookedAndWhatToDo) {
  fs::create_directories(dir / "cache");
  QlabRun r = qlab("HF_HUB_CACHE=" + quoted(dir / "cache"), "info meta-llama/Llama-3.1-8B");
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << "one line: " << r.err;
  EXPECT_NE(r.err.find("meta-llama/Llama-3.1-8B is not in the Hugging Face cache"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("models--meta-llama--Llama-3.1-8B"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("hf download meta-llama/Llama-3.1-8B"), std::string::npos) << r.err;
  cache_model(dir / "cache", "models--acme--half", "dead", "main", false);
  QlabRun p = qlab("HF_HUB_CACHE=" + quoted(dir / "cache"), "info acme/half");
  EXPECT_EQ(p.code, 1);
  EXPECT_NE(p.err.find("has no config.json (a partial download?)"), std::string::npos) << p.err;
  // a path that does not exist and is no repo id
  QlabRun q = qlab("", "info ./no/such/folder");
  EXPECT_EQ(q.code, 1);
  EXPECT_NE(q.err.find("does not exist"), std::string::npos) << q.err;
}

TEST_F(ModelsCli, MultipleChoiceOnTheBuiltInModelsSet) {
  QlabRun r = qlab("", "mc builtin --json");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  // the set the built-in model ships: one question per row of its mmlu.csv
  std::ifstream csv(builtin_dir() / "mmlu.csv");
  int rows = 0;
  for (std::string line; std::getline(csv, line);)  // a question's story runs over lines; its row ends in the letter
    rows += line.size() >= 2 && line[line.size() - 2] == ',' && line.back() >= 'A' && line.back() <= 'D' ? 1 : 0;
  EXPECT_EQ(j["items"].get<int>(), rows);
  EXPECT_GE(j["letter_accuracy"].get<double>(), 0.0);
  EXPECT_LE(j["letter_accuracy"].get<double>(), 1.0);
  // the answer texts come from the text the model was trained on: it does better than guessing
  EXPECT_GT(j["text_accuracy"].get<double>(), 0.25 + 3 * j["text_accuracy_error"].get<double>());
  QlabRun text = qlab("", "mc builtin --limit 3");
  ASSERT_EQ(text.code, 0) << text.err;
  EXPECT_NE(text.out.find("3 questions"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("guessing scores 25%"), std::string::npos) << text.out;
}

TEST_F(ModelsCli, MultipleChoiceReadsTheMmluCsvLayoutAndNamesABadRow) {
  {
    std::ofstream(dir / "q.csv") << "\"What is 2+2, in words?\",four,five,\"six, or \"\"seven\"\"\",eight,A\n"
                                    "\"Two\nlines\",a,b,c,d,D\n";
  }
  QlabRun r = qlab("", "mc builtin --csv q.csv --json");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["items"], 2);
  { std::ofstream(dir / "bad.csv") << "q,a,b,c,d,A\nq,a,b,c,E\n"; }
  QlabRun bad = qlab("", "mc builtin --csv bad.csv");
  EXPECT_EQ(bad.code, 1);
  EXPECT_NE(bad.err.find("bad.csv: row 2 has 5 fields, not 6"), std::string::npos) << bad.err;
  { std::ofstream(dir / "letter.csv") << "q,a,b,c,d,F\n"; }
  QlabRun letter = qlab("", "mc builtin --csv letter.csv");
  EXPECT_NE(letter.err.find("row 1: the answer 'F' is not one of A, B, C, D"), std::string::npos) << letter.err;
}

// Item 18 and 19 of the learner's report: the texts say what the numbers are.
TEST_F(ModelsCli, InfoBenchAndPplSayWhatTheirNumbersAre) {
  QlabRun info = qlab("", "info builtin");
  ASSERT_EQ(info.code, 0) << info.err;
  EXPECT_NE(info.out.find("f32/f16/bf16: every tensor in that type"), std::string::npos) << info.out;
  EXPECT_EQ(info.out.find("(layer Linear weights in the format; embeddings"), std::string::npos) << info.out;
  QlabRun help = qlab("", "ppl --help");
  EXPECT_NE(help.out.find("[--chunks N]"), std::string::npos) << help.out;
  QlabRun bench = qlab("QLAB_THREADS=1", "bench forward builtin --prompt 16 --decode 2");
  ASSERT_EQ(bench.code, 0) << bench.err;
  EXPECT_NE(bench.out.find("The %: the prompt pass's GFLOP/s as a share of one SGEMM"), std::string::npos) << bench.out;
}

}  // namespace
