// `qlab memory` and `qlab sysinfo` as a user runs them: exit codes, JSON keys, bad values.
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace {

struct Run {
  int code = -1;
  std::string out;
};

// Runs the real binary with `args` (shell words), stdout captured, stderr appended when asked.
Run qlab(const std::string& args, bool with_stderr = false) {
  std::string cmd = std::string("'") + QLAB_BINARY + "' " + args + (with_stderr ? " 2>&1" : " 2>/dev/null");
  Run r;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return r;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  int status = ::pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

TEST(CliMemory, TableListsEveryModelAndFormat) {
  auto r = qlab("memory");
  ASSERT_EQ(r.code, 0);
  for (const char* s : {"Llama 3.1 8B", "Llama 3.1 70B", "Llama 3.1 405B", "Falcon 180B", "GPT-OSS 20B", "GPT-OSS 120B",
                        "nvfp4", "mxfp4", "int4 g128", "as released (mxfp4 experts)", "naive"})
    EXPECT_NE(r.out.find(s), std::string::npos) << s;
}

TEST(CliMemory, JsonKeysAndTheModulesNumbers) {
  auto r = qlab("memory --json --ctx 4096 --batch 2 --kv fp8 --budget-gb 64");
  ASSERT_EQ(r.code, 0);
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["context"], 4096);
  EXPECT_EQ(j["batch"], 2);
  EXPECT_EQ(j["kv_dtype"], "fp8");
  EXPECT_EQ(j["budget_gb"], 64.0);
  ASSERT_EQ(j["models"].size(), 6u);
  for (const auto& m : j["models"]) {
    for (const char* k : {"id", "name", "parameters", "published_parameters", "kv_cache_bytes", "estimates"})
      EXPECT_TRUE(m.contains(k)) << k;
    for (const auto& e : m["estimates"])
      for (const char* k : {"format", "bits_per_weight", "bits_per_weight_measured", "weight_bytes", "naive_bytes",
                            "scale_bytes", "kept_extra_bytes", "kv_bytes", "overhead_bytes", "total_bytes", "fits"})
        EXPECT_TRUE(e.contains(k)) << k;
  }
  // Llama 3.1 70B: KV cache fp8 = 2 x 80 layers x 8 heads x 128 x 1 byte x 4096 tokens x 2 sequences
  const auto& l70 = j["models"][1];
  EXPECT_EQ(l70["id"], "llama-3.1-70b");
  EXPECT_DOUBLE_EQ(l70["kv_cache_bytes"].get<double>(), 2.0 * 80 * 8 * 128 * 4096 * 2);
  for (const auto& e : l70["estimates"]) {
    if (e["format"] == "nvfp4") {
      EXPECT_NEAR(e["weight_bytes"].get<double>() / 1e9, 42.71, 0.01);
      EXPECT_TRUE(e["fits"].get<bool>());  // < 64 GB
    }
    if (e["format"] == "bf16") {
      EXPECT_FALSE(e["fits"].get<bool>());
    }
  }
}

TEST(CliMemory, OneModelAndChosenFormats) {
  auto r = qlab("memory --json --model gpt-oss-120b --formats nvfp4,released,int4-g64");
  ASSERT_EQ(r.code, 0);
  auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["models"].size(), 1u);
  const auto& es = j["models"][0]["estimates"];
  ASSERT_EQ(es.size(), 3u);
  EXPECT_EQ(es[1]["format"], "released");
  EXPECT_NEAR(es[1]["weight_bytes"].get<double>() / 1e9, 65.25, 0.01);
}

TEST(CliMemory, AConfigJsonFile) {
  auto dir = std::filesystem::temp_directory_path() / ("qlab-memory-cli-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "config.json") << R"({"model_type": "llama", "hidden_size": 64, "intermediate_size": 128,
    "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 100,
    "tie_word_embeddings": true})";
  auto r = qlab("memory --json --formats bf16 --model '" + dir.string() + "'");
  EXPECT_EQ(r.code, 0);
  auto j = nlohmann::json::parse(r.out);
  // hand count: 2 x (64x64 + 2 x 32x64 + 64x64 + 3 x 128x64 + 2 x 64) + 100 x 64 + 64
  EXPECT_EQ(j["models"][0]["parameters"], 2 * (64 * 64 + 2 * 32 * 64 + 64 * 64 + 3 * 128 * 64 + 2 * 64) + 6400 + 64);
  std::ofstream(dir / "config.json") << R"({"model_type": "llama", "hidden_size": 64})";
  auto bad = qlab("memory --model '" + dir.string() + "'", true);
  EXPECT_EQ(bad.code, 1);
  EXPECT_NE(bad.out.find("num_hidden_layers"), std::string::npos);
  // Every field within its bound, the shapes together past what 64-bit counts hold: an error naming
  // the file, not numbers from an overflow.
  std::ofstream(dir / "config.json") << R"({"model_type": "llama", "num_hidden_layers": 16384,
    "hidden_size": 1048576, "head_dim": 1048576, "num_attention_heads": 1, "num_key_value_heads": 1,
    "intermediate_size": 1048576, "vocab_size": 1048576})";
  auto huge = qlab("memory --model '" + dir.string() + "'", true);
  EXPECT_EQ(huge.code, 1);
  EXPECT_NE(huge.out.find((dir / "config.json").string()), std::string::npos) << huge.out;
  EXPECT_NE(huge.out.find("parameters"), std::string::npos) << huge.out;
  std::filesystem::remove_all(dir);
}

TEST(CliMemory, BadValuesAreUsageErrors) {
  for (const char* args : {"--ctx 0", "--ctx abc", "--ctx -5", "--batch 0", "--budget-gb -1", "--budget-gb nan",
                           "--budget-gb x", "--kv int4", "--model llama-9000", "--formats nvfp5", "--formats ,",
                           "--frobnicate", "extra-word"}) {
    auto r = qlab(std::string("memory ") + args, true);
    EXPECT_EQ(r.code, 2) << args << ": " << r.out;
    EXPECT_NE(r.out.find("qlab memory"), std::string::npos) << args;
  }
}

TEST(CliMemory, Help) {
  auto r = qlab("memory --help");
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("--budget-gb"), std::string::npos);
}

TEST(CliSysinfo, TextAndJson) {
  auto t = qlab("sysinfo");
  EXPECT_EQ(t.code, 0);
  EXPECT_NE(t.out.find("cpu"), std::string::npos);
  auto r = qlab("sysinfo --json");
  ASSERT_EQ(r.code, 0);
  auto j = nlohmann::json::parse(r.out);
  EXPECT_GT(j["cpu"]["logical_cpus"].get<int>(), 0);
  EXPECT_TRUE(j["memory"]["total_bytes"].is_number());
  EXPECT_TRUE(j["gpus"].is_array());
  EXPECT_TRUE(j["hardware_line"].is_string());
  EXPECT_EQ(qlab("sysinfo --bogus").code, 2);
}

}  // namespace
