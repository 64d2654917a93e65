// `qlab logits` and `qlab ppl`, run as the real binary on the fixtures transformers saved:
// logits written match transformers', the perplexity printed matches the fixture, and bad input
// gets exit 1 (error) or 2 (usage) with a one-line message.
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/cli/qlab_run.h"
#include <nlohmann/json.hpp>

namespace {

namespace fs = std::filesystem;

using RtResult = qlab::testing::QlabRun;
using qlab::testing::slurp;

class RuntimeCli : public ::testing::Test {
 protected:
  fs::path dir;
  fs::path models = fs::path(QLAB_SOURCE_DIR) / "tests" / "fixtures" / "models";
  void SetUp() override { dir = qlab::testing::scratch_dir("qlab-rt-cli"); }
  void TearDown() override { fs::remove_all(dir); }

  RtResult qlab(const std::string& args) { return qlab::testing::run_qlab(dir, args + " --threads 2"); }
  std::string model(const std::string& name) const { return qlab::testing::quoted(models / name); }
};

std::vector<float> floats(const std::string& bytes) {
  std::vector<float> v(bytes.size() / 4);
  std::memcpy(v.data(), bytes.data(), v.size() * 4);
  return v;
}

TEST_F(RuntimeCli, LogitsMatchTransformers) {
  const auto out = dir / "logits.bin";
  const auto r = qlab("logits " + model("qwen2") + " --tokens " + model("qwen2/tokens.txt") + " --out '" +
                      out.string() + "'");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto got = floats(slurp(out));
  const auto want = floats(slurp(models / "qwen2" / "logits.bin"));
  ASSERT_EQ(got.size(), want.size());
  double diff = 0, scale = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    diff = std::max(diff, static_cast<double>(std::fabs(got[i] - want[i])));
    scale = std::max(scale, static_cast<double>(std::fabs(want[i])));
  }
  EXPECT_LE(diff / scale, 1e-4);
}

TEST_F(RuntimeCli, PplMatchesFixture) {
  std::ifstream in(models / "llama" / "ppl.json");
  const auto want = nlohmann::json::parse(in);
  const auto r = qlab("ppl " + model("llama") + " --tokens " + model("llama/ppl_tokens.txt") + " --ctx 64 --json");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_NEAR(j["ppl"].get<double>(), want["ppl"].get<double>(), 1e-4 * want["ppl"].get<double>());
  EXPECT_EQ(j["scored_tokens"].get<int>(), want["n_scored"].get<int>());
  EXPECT_GT(j["tokens_per_s"].get<double>(), 0.0);
}

// `qlab ppl builtin` with no text scores the model's own held-out eval.txt at its trained context.
TEST_F(RuntimeCli, PplBuiltinDefaultsToHeldOutTextAndTrainedContext) {
  const fs::path builtin = fs::path(QLAB_SOURCE_DIR) / "assets" / "builtin";
  std::ifstream cfg_in(builtin / "config.json");
  const int trained_ctx = nlohmann::json::parse(cfg_in)["max_position_embeddings"].get<int>();
  const auto implicit = qlab("ppl builtin --chunks 2 --json");
  ASSERT_EQ(implicit.code, 0) << implicit.err;
  const auto explicit_text = qlab("ppl builtin --text '" + (builtin / "eval.txt").string() + "' --ctx " +
                                  std::to_string(trained_ctx) + " --chunks 2 --json");
  ASSERT_EQ(explicit_text.code, 0) << explicit_text.err;
  const auto a = nlohmann::json::parse(implicit.out), b = nlohmann::json::parse(explicit_text.out);
  EXPECT_EQ(a["ctx"].get<int>(), std::min(512, trained_ctx));
  EXPECT_EQ(a["tokens"], b["tokens"]);
  EXPECT_EQ(a["ppl"], b["ppl"]);
  // A folder without eval.txt still needs --text or --tokens: a usage error, exit 2.
  const auto none = qlab("ppl " + model("llama"));
  EXPECT_EQ(none.code, 2);
  EXPECT_NE(none.err.find("eval.txt"), std::string::npos) << none.err;
}

// Greedy generation through the KV cache agrees with one full forward pass of `qlab logits` over the
// prompt and the generated ids: each generated id is the argmax of the row before it.
TEST_F(RuntimeCli, GreedyGenerateAgreesWithLogitsOnBuiltin) {
  const auto g = qlab("generate builtin --prompt 'Anna has a red' -n 12 --temp 0 --json");
  ASSERT_EQ(g.code, 0) << g.err;
  const auto j = nlohmann::json::parse(g.out);
  std::vector<int> ids = j["prompt_ids"].get<std::vector<int>>();
  const auto generated = j["ids"].get<std::vector<int>>();
  ASSERT_EQ(generated.size(), 12u);
  const std::size_t n_prompt = ids.size();
  ids.insert(ids.end(), generated.begin(), generated.end());
  std::ofstream(dir / "ids.txt") << [&] {
    std::string s;
    for (int id : ids) s += std::to_string(id) + " ";
    return s;
  }();
  const auto l = qlab("logits builtin --tokens '" + (dir / "ids.txt").string() + "' --out '" +
                      (dir / "logits.bin").string() + "'");
  ASSERT_EQ(l.code, 0) << l.err;
  const auto logits = floats(slurp(dir / "logits.bin"));
  ASSERT_EQ(logits.size() % ids.size(), 0u);
  const std::size_t V = logits.size() / ids.size();
  for (std::size_t t = n_prompt; t < ids.size(); ++t) {
    const float* row = logits.data() + (t - 1) * V;
    const auto best = static_cast<int>(std::max_element(row, row + V) - row);
    EXPECT_EQ(best, ids[t]) << "generated token " << t - n_prompt;
  }
  EXPECT_FALSE(j["text"].get<std::string>().empty());
}

// --device on the commands that run a model: a bad name is a usage error (exit 2) before any work;
// --device cpu says where it ran ("device" in JSON) and changes nothing else (the same answers as
// the default on a machine without a GPU).
TEST_F(RuntimeCli, DeviceIsAcceptedByEveryCommandThatRunsAModel) {
  for (const char* cmd : {"mc builtin --limit 4", "imatrix builtin --chunks 2 --out im.gguf", "serve builtin --port 1",
                          "bench infer builtin -p 8 -n 4 --repetitions 1", "bench gptq --rows 8 --cols 64 --samples 1 --seq-len 32"}) {
    const auto r = qlab(std::string(cmd) + " --device tpu");
    EXPECT_EQ(r.code, 2) << cmd << ": " << r.err;
    EXPECT_NE(r.err.find("unknown device 'tpu'"), std::string::npos) << cmd << ": " << r.err;
  }
  const auto plain = qlab("mc builtin --limit 20 --json"), on_cpu = qlab("mc builtin --limit 20 --json --device cpu");
  ASSERT_EQ(plain.code, 0) << plain.err;
  ASSERT_EQ(on_cpu.code, 0) << on_cpu.err;
  auto a = nlohmann::json::parse(plain.out), b = nlohmann::json::parse(on_cpu.out);
  EXPECT_EQ(b["device"], "cpu");
  EXPECT_FALSE(a.contains("device"));
  b.erase("device");
  EXPECT_EQ(a, b);
  const auto im = qlab("imatrix builtin --chunks 2 --json --device cpu --out '" + (dir / "im.gguf").string() + "'");
  ASSERT_EQ(im.code, 0) << im.err;
  EXPECT_EQ(nlohmann::json::parse(im.out)["device"], "cpu");
  const auto bi = qlab("bench infer builtin -p 8 -n 4 --repetitions 1 --json --device cpu");
  ASSERT_EQ(bi.code, 0) << bi.err;
  EXPECT_EQ(nlohmann::json::parse(bi.out)["device"], "cpu");
}

TEST_F(RuntimeCli, PplKldReportsStatistics) {
  const auto r = qlab("ppl " + model("llama") + " --tokens " + model("llama/ppl_tokens.txt") +
                      " --ctx 64 --quant int4-g32 --kld --json");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_GT(j["kld"]["mean"].get<double>(), 0.0);
  EXPECT_LE(j["kld"]["quantiles"]["median"].get<double>(), j["kld"]["quantiles"]["max"].get<double>());
  EXPECT_GE(j["same_top"]["fraction"].get<double>(), 0.0);
  EXPECT_LE(j["same_top"]["fraction"].get<double>(), 1.0);
}

TEST_F(RuntimeCli, BadInputIsAOneLineError) {
  auto r = qlab("ppl " + model("llama") + " --tokens " + model("llama/ppl_tokens.txt") + " --ctx 128");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("needs at least 2 x 128"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;

  std::ofstream(dir / "bad.txt") << "1 2 999\n";
  r = qlab("logits " + model("llama") + " --tokens '" + (dir / "bad.txt").string() + "' --out '" +
           (dir / "x.bin").string() + "'");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("out of range"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir / "x.bin"));

  r = qlab("ppl " + model("llama") + " --tokens " + model("llama/ppl_tokens.txt") + " --kld");
  EXPECT_EQ(r.code, 2) << r.err;
  r = qlab("ppl " + model("llama") + " --tokens " + model("llama/ppl_tokens.txt") + " --quant no-such-format");
  EXPECT_EQ(r.code, 2) << r.err;
  r = qlab("generate " + model("llama") + " --prompt hi");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("tokenizer.json"), std::string::npos) << r.err;
}

}  // namespace
