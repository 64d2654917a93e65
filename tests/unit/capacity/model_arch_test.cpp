// Parameter counts derived from the published configs, against the totals their publishers state.
#include "engine/capacity/model_arch.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "engine/core/error.h"

namespace qlab::capacity {
namespace {

TEST(ModelArch, CatalogHasTheModulesModels) {
  const auto& ms = builtin_models();
  std::vector<std::string> ids;
  for (const auto& m : ms) ids.push_back(m.id);
  EXPECT_EQ(ids, (std::vector<std::string>{"llama-3.1-8b", "llama-3.1-70b", "llama-3.1-405b", "falcon-180b",
                                           "gpt-oss-20b", "gpt-oss-120b"}));
}

TEST(ModelArch, EveryCountMatchesItsPublishedTotalToTheStatedPrecision) {
  for (const auto& m : builtin_models()) {
    ASSERT_GT(m.published_parameters, 0) << m.id;
    EXPECT_LE(std::abs(double(m.parameter_count()) - m.published_parameters), m.published_rounded_to / 2)
        << m.id << ": " << m.parameter_count() << " vs published " << m.published_parameters;
  }
}

TEST(ModelArch, LlamaCountsEqualTheCheckpointBytes) {
  // The BF16 safetensors indexes state total_size in bytes: 2 bytes per parameter.
  EXPECT_EQ(builtin_model("llama-3.1-8b").parameter_count() * 2, 16060522496LL);
  EXPECT_EQ(builtin_model("llama-3.1-70b").parameter_count() * 2, 141107412992LL);
}

TEST(ModelArch, Llama405BHandDerived) {
  // 126 x (q 16384^2 + k,v 2 x 16384 x 1024 + o 16384^2 + 3 x 16384 x 53248 + 2 norms of 16384)
  // + embeddings and lm_head 2 x 128256 x 16384 + final norm 16384
  const std::int64_t layer = 2LL * 16384 * 16384 + 2LL * 16384 * 1024 + 3LL * 16384 * 53248 + 2 * 16384;
  EXPECT_EQ(builtin_model("llama-3.1-405b").parameter_count(), 126 * layer + 2LL * 128256 * 16384 + 16384);
}

TEST(ModelArch, GptOssActiveParametersMatchTheModelCard) {
  // gpt-oss model card: 3.61B and 5.13B active per token
  EXPECT_NEAR(double(builtin_model("gpt-oss-20b").active_parameter_count()), 3.61e9, 0.005e9);
  EXPECT_NEAR(double(builtin_model("gpt-oss-120b").active_parameter_count()), 5.13e9, 0.005e9);
}

TEST(ModelArch, ShapesThatDriveTheKvCache) {
  const auto l70 = builtin_model("Llama 3.1 70B");  // names work too
  EXPECT_EQ(l70.config.num_key_value_heads, 8);
  EXPECT_EQ(l70.config.head_dim, 128);
  EXPECT_EQ(l70.config.sliding_layers, 0);
  const auto g = builtin_model("gpt-oss-120b");
  EXPECT_EQ(g.config.head_dim, 64);
  EXPECT_EQ(g.config.sliding_layers, 18);
  EXPECT_EQ(g.config.sliding_window, 128);
  EXPECT_EQ(g.config.released_format, "mxfp4");
  const auto f = builtin_model("falcon-180b");
  EXPECT_EQ(f.config.head_dim, 64);
  EXPECT_EQ(f.config.num_key_value_heads, 8);
  EXPECT_FALSE(f.config.gated_mlp);
  EXPECT_EQ(f.config.intermediate_size, 4 * 14848);
}

TEST(ModelArch, TiedEmbeddingsAreCountedOnce) {
  nlohmann::json c = {{"model_type", "llama"},       {"hidden_size", 64},        {"intermediate_size", 128},
                      {"num_hidden_layers", 2},      {"num_attention_heads", 4}, {"num_key_value_heads", 2},
                      {"vocab_size", 100},           {"tie_word_embeddings", true}};
  auto tied = arch_from_hf_config(c, "tiny");
  c["tie_word_embeddings"] = false;
  auto untied = arch_from_hf_config(c, "tiny");
  EXPECT_EQ(untied.parameter_count() - tied.parameter_count(), 100 * 64);
  // hand count: per layer q 64x64, k,v 2 x 32x64, o 64x64, mlp 3 x 128x64, norms 2 x 64
  const std::int64_t layer = 64 * 64 + 2 * 32 * 64 + 64 * 64 + 3 * 128 * 64 + 2 * 64;
  EXPECT_EQ(tied.parameter_count(), 2 * layer + 100 * 64 + 64);
}

TEST(ModelArch, BadConfigsNameTheField) {
  nlohmann::json c = {{"model_type", "llama"}, {"hidden_size", 64}};
  try {
    arch_from_hf_config(c, "x/config.json");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("x/config.json"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("num_hidden_layers"), std::string::npos);
  }
  c = {{"model_type", "llama"}, {"hidden_size", -4}};
  EXPECT_THROW(arch_from_hf_config(c, "x"), Error);
  EXPECT_THROW(arch_from_hf_config(nlohmann::json{{"model_type", "mamba"}}, "x"), Error);
  EXPECT_THROW(arch_from_hf_config(nlohmann::json::array(), "x"), Error);
  EXPECT_THROW(load_model_catalog(nlohmann::json{{"models", 3}}, "x"), Error);
  try {
    builtin_model("llama-9000");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("gpt-oss-120b"), std::string::npos);  // lists what exists
  }
}

}  // namespace
}  // namespace qlab::capacity
