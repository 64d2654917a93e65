// `qlab info` and `qlab synth-model`, run as the real binary: a synthetic model described back by
// info, the fixtures transformers saved, and the exit codes and one-line messages of bad input.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "tests/cli/qlab_run.h"
#include <nlohmann/json.hpp>

namespace {

namespace fs = std::filesystem;

using IoResult = qlab::testing::QlabRun;
using qlab::testing::slurp;

class IoCli : public ::testing::Test {
 protected:
  fs::path dir;
  void SetUp() override { dir = qlab::testing::scratch_dir("qlab-io-cli"); }
  void TearDown() override { fs::remove_all(dir); }

  IoResult qlab(const std::string& args) { return qlab::testing::run_qlab(dir, args); }
  std::string at(const std::string& leaf) const { return qlab::testing::quoted(dir / leaf); }
};

// An error is one line on stderr that names what is wrong.
void expect_one_line_error(const IoResult& r, int code, const std::string& needle) {
  EXPECT_EQ(r.code, code) << r.err;
  ASSERT_FALSE(r.err.empty());
  EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << "not one line: " << r.err;
  EXPECT_NE(r.err.find(needle), std::string::npos) << "'" << needle << "' not in: " << r.err;
}

TEST_F(IoCli, SynthThenInfoDescribesTheSameModel) {
  IoResult w = qlab("synth-model --out " + at("m") +
                    " --layers 3 --hidden 96 --heads 6 --kv-heads 2 --intermediate 160 --vocab 300 --dtype f16 --json");
  ASSERT_EQ(w.code, 0) << w.err;
  auto wj = nlohmann::json::parse(w.out);
  // 300*96*2 + 3*(96*96*2 + 2*96*32 + 3*96*160 + 2*96) + 96, worked out by hand
  const long long params = 57600 + 3 * (18432 + 6144 + 46080 + 192) + 96;
  EXPECT_EQ(wj["parameters"].get<long long>(), params);

  IoResult r = qlab("info --json " + at("m"));
  ASSERT_EQ(r.code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["architecture"], "LlamaForCausalLM");
  EXPECT_EQ(j["parameters"].get<long long>(), params);
  EXPECT_EQ(j["parameters_from_config"].get<long long>(), params);
  EXPECT_TRUE(j["config_check"].empty());
  EXPECT_EQ(j["bytes"].get<long long>(), 2 * params);
  EXPECT_EQ(j["config"]["num_key_value_heads"], 2);
  EXPECT_EQ(j["tensors"].size(), 2u + 3u * 9u + 1u);
  bool saw_k = false;
  for (const auto& t : j["tensors"])
    if (t["name"] == "model.layers.2.self_attn.k_proj.weight") {
      saw_k = true;
      EXPECT_EQ(t["dtype"], "F16");
      EXPECT_EQ(t["shape"], nlohmann::json::array({32, 96}));
      EXPECT_EQ(t["bytes"], 32 * 96 * 2);
    }
  EXPECT_TRUE(saw_k);
  std::map<std::string, nlohmann::json> mem;
  for (const auto& m : j["memory"]) mem[m["format"].get<std::string>()] = m;
  EXPECT_EQ(mem.at("f32")["bytes"].get<long long>(), 4 * params);
  EXPECT_EQ(mem.at("bf16")["bytes"].get<long long>(), 2 * params);
  if (mem.count("int8-ch")) {
    // int8 per-row: 1 byte per linear weight + a float32 scale per row; the rest stays f16
    const long long linear = 3 * (96 * 96 * 2 + 2 * 96 * 32 + 3 * 96 * 160);
    const long long rows = 3 * (96 + 32 + 32 + 96 + 160 + 160 + 96);
    EXPECT_EQ(mem.at("int8-ch")["bytes"].get<long long>(), linear + 4 * rows + 2 * (params - linear));
  }
  IoResult text = qlab("info " + at("m"));
  ASSERT_EQ(text.code, 0) << text.err;
  EXPECT_NE(text.out.find("model.layers.2.self_attn.k_proj.weight"), std::string::npos);
  EXPECT_NE(text.out.find("every tensor the config implies is present"), std::string::npos);
}

TEST_F(IoCli, SynthPresetShardsAndInfoReadsTheIndex) {
  IoResult w = qlab("synth-model --out " + at("s") + " --preset tiny --dtype f32 --max-shard-mb 0 ");
  EXPECT_EQ(w.code, 2) << "--max-shard-mb 0 must be refused";
  // 1 MB shards of the tiny f32 model (~630 kB) give one file; the fixture below is sharded
  w = qlab("synth-model --out " + at("s") + " --preset tiny --seed 3");
  ASSERT_EQ(w.code, 0) << w.err;
  EXPECT_TRUE(fs::exists(dir / "s" / "model.safetensors"));
  IoResult r = qlab("info --json '" + std::string(QLAB_SOURCE_DIR) + "/tests/fixtures/models/llama_sharded'");
  ASSERT_EQ(r.code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_GT(j["files"].size(), 1u);
  EXPECT_EQ(j["parameters"], j["parameters_from_config"]);
}

TEST_F(IoCli, InfoOnEveryFixture) {
  for (const auto& e : fs::directory_iterator(fs::path(QLAB_SOURCE_DIR) / "tests/fixtures/models")) {
    IoResult r = qlab("info --json '" + e.path().string() + "'");
    ASSERT_EQ(r.code, 0) << e.path() << ": " << r.err;
    auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["parameters"], j["parameters_from_config"]) << e.path();
    EXPECT_TRUE(j["config_check"].empty()) << e.path() << ": " << j["config_check"].dump();
  }
}

TEST_F(IoCli, InfoBadInput) {
  expect_one_line_error(qlab("info " + at("absent")), 1, "absent");
  fs::create_directories(dir / "empty");
  std::ofstream(dir / "empty" / "config.json") << "{\"architectures\": [\"GPT2LMHeadModel\"]}";
  expect_one_line_error(qlab("info " + at("empty")), 1, "unsupported architecture 'GPT2LMHeadModel'");
  // a real fixture with its weights cut short
  fs::create_directories(dir / "cut");
  const fs::path src = fs::path(QLAB_SOURCE_DIR) / "tests/fixtures/models/llama";
  fs::copy_file(src / "config.json", dir / "cut" / "config.json");
  std::string weights = slurp(src / "model.safetensors");
  std::ofstream(dir / "cut" / "model.safetensors", std::ios::binary) << weights.substr(0, weights.size() / 2);
  expect_one_line_error(qlab("info " + at("cut")), 1, "model.safetensors: tensor '");
  expect_one_line_error(qlab("info"), 2, "expected 1 argument");
}

TEST_F(IoCli, SynthBadInput) {
  expect_one_line_error(qlab("synth-model --preset tiny"), 2, "--out");
  expect_one_line_error(qlab("synth-model --out " + at("x") + " --preset nope"), 2, "unknown preset 'nope'");
  expect_one_line_error(
      qlab("synth-model --out " + at("x") + " --layers 2 --hidden 100 --heads 3 --intermediate 8 --vocab 10"), 2,
      "not divisible");
  expect_one_line_error(
      qlab("synth-model --out " + at("x") + " --layers 2 --hidden 64 --heads 4 --kv-heads 3 --intermediate 8 --vocab 10"),
      2, "--kv-heads 3");
  expect_one_line_error(qlab("synth-model --out " + at("x") + " --layers 2 --hidden 64 --heads 4 --intermediate 8"), 2,
                        "--vocab");
  expect_one_line_error(qlab("synth-model --out " + at("x") + " --preset tiny --dtype int8"), 2, "--dtype");
  expect_one_line_error(qlab("synth-model --out " + at("x") + " --preset tiny --layers 3"), 2, "not both");
  EXPECT_FALSE(fs::exists(dir / "x"));
  fs::create_directories(dir / "full");
  std::ofstream(dir / "full" / "keep.txt") << "mine";
  expect_one_line_error(qlab("synth-model --out " + at("full") + " --preset tiny"), 1, "not an empty folder");
  EXPECT_EQ(slurp(dir / "full" / "keep.txt"), "mine");
}

}  // namespace
