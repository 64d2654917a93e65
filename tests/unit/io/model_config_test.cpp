// config.json parsing: published configs (values and parameter counts from the model cards),
// transformers 4.x and 5.x spellings of the same model, and every kind of absurd field.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "engine/io/model_config.h"
#include "tests/unit/io/io_test_util.h"

namespace qlab::io {
namespace {

using namespace qlab::io::testing;
using nlohmann::json;

// TinyLlama/TinyLlama-1.1B-Chat-v1.0 config.json (transformers 4.35).
const char* kTinyLlama = R"({
  "architectures": ["LlamaForCausalLM"], "attention_bias": false, "bos_token_id": 1, "eos_token_id": 2,
  "hidden_act": "silu", "hidden_size": 2048, "initializer_range": 0.02, "intermediate_size": 5632,
  "max_position_embeddings": 2048, "model_type": "llama", "num_attention_heads": 32, "num_hidden_layers": 22,
  "num_key_value_heads": 4, "pretraining_tp": 1, "rms_norm_eps": 1e-05, "rope_scaling": null,
  "rope_theta": 10000.0, "tie_word_embeddings": false, "torch_dtype": "bfloat16",
  "transformers_version": "4.35.0", "use_cache": true, "vocab_size": 32000})";

// meta-llama/Llama-3.1-8B config.json (transformers 4.43).
const char* kLlama31_8B = R"({
  "architectures": ["LlamaForCausalLM"], "attention_bias": false, "attention_dropout": 0.0,
  "bos_token_id": 128000, "eos_token_id": 128001, "hidden_act": "silu", "hidden_size": 4096,
  "initializer_range": 0.02, "intermediate_size": 14336, "max_position_embeddings": 131072, "mlp_bias": false,
  "model_type": "llama", "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 8,
  "pretraining_tp": 1, "rms_norm_eps": 1e-05,
  "rope_scaling": {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                   "original_max_position_embeddings": 8192, "rope_type": "llama3"},
  "rope_theta": 500000.0, "tie_word_embeddings": false, "torch_dtype": "bfloat16",
  "transformers_version": "4.43.0.dev0", "use_cache": true, "vocab_size": 128256})";

// The same model as transformers 5.x writes it: rope_parameters and dtype.
const char* kLlama31_8B_v5 = R"({
  "architectures": ["LlamaForCausalLM"], "attention_bias": false, "attention_dropout": 0.0,
  "bos_token_id": 128000, "eos_token_id": 128001, "hidden_act": "silu", "hidden_size": 4096,
  "initializer_range": 0.02, "intermediate_size": 14336, "max_position_embeddings": 131072, "mlp_bias": false,
  "model_type": "llama", "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 8,
  "pretraining_tp": 1, "rms_norm_eps": 1e-05,
  "rope_parameters": {"factor": 8.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                      "original_max_position_embeddings": 8192, "rope_theta": 500000.0, "rope_type": "llama3"},
  "tie_word_embeddings": false, "dtype": "bfloat16", "transformers_version": "5.0.0", "use_cache": true,
  "vocab_size": 128256})";

// Qwen/Qwen2-0.5B config.json.
const char* kQwen2_05B = R"({
  "architectures": ["Qwen2ForCausalLM"], "attention_dropout": 0.0, "bos_token_id": 151643,
  "eos_token_id": 151643, "hidden_act": "silu", "hidden_size": 896, "initializer_range": 0.02,
  "intermediate_size": 4864, "max_position_embeddings": 131072, "max_window_layers": 24, "model_type": "qwen2",
  "num_attention_heads": 14, "num_hidden_layers": 24, "num_key_value_heads": 2, "rms_norm_eps": 1e-06,
  "rope_theta": 1000000.0, "sliding_window": 131072, "tie_word_embeddings": true, "torch_dtype": "bfloat16",
  "transformers_version": "4.40.1", "use_cache": true, "use_sliding_window": false, "vocab_size": 151936})";

// mistralai/Mistral-7B-v0.1 config.json.
const char* kMistral7B = R"({
  "architectures": ["MistralForCausalLM"], "bos_token_id": 1, "eos_token_id": 2, "hidden_act": "silu",
  "hidden_size": 4096, "initializer_range": 0.02, "intermediate_size": 14336, "max_position_embeddings": 32768,
  "model_type": "mistral", "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 8,
  "rms_norm_eps": 1e-05, "rope_theta": 10000.0, "sliding_window": 4096, "tie_word_embeddings": false,
  "torch_dtype": "bfloat16", "transformers_version": "4.34.0.dev0", "use_cache": true, "vocab_size": 32000})";

ModelConfig parse(const std::string& text, const std::string& name = "config.json") {
  return parse_model_config(json::parse(text), name);
}

TEST(ModelConfig, TinyLlama) {
  auto c = parse(kTinyLlama);
  EXPECT_EQ(c.architecture, "LlamaForCausalLM");
  EXPECT_EQ(c.model_type, "llama");
  EXPECT_EQ(c.num_hidden_layers, 22);
  EXPECT_EQ(c.num_key_value_heads, 4);
  EXPECT_EQ(c.head_dim, 64);
  EXPECT_DOUBLE_EQ(c.rms_norm_eps, 1e-5);
  EXPECT_EQ(c.rope.type, "default");
  EXPECT_DOUBLE_EQ(c.rope.theta, 10000.0);
  EXPECT_EQ(c.dtype, "bfloat16");
  EXPECT_FALSE(c.tie_word_embeddings);
  EXPECT_FALSE(c.attention_bias);
  EXPECT_EQ(c.bos_token_id, 1);
  EXPECT_EQ(c.eos_token_id, 2);
  EXPECT_EQ(c.parameter_count(), 1'100'048'384LL);  // the model card's count
}

TEST(ModelConfig, Llama31In4xAnd5xStyleAgree) {
  for (const char* text : {kLlama31_8B, kLlama31_8B_v5}) {
    auto c = parse(text);
    EXPECT_EQ(c.hidden_size, 4096);
    EXPECT_EQ(c.num_key_value_heads, 8);
    EXPECT_EQ(c.head_dim, 128);
    EXPECT_EQ(c.max_position_embeddings, 131072);
    EXPECT_DOUBLE_EQ(c.rope.theta, 500000.0);
    EXPECT_EQ(c.rope.type, "llama3");
    EXPECT_DOUBLE_EQ(c.rope.factor, 8.0);
    EXPECT_DOUBLE_EQ(c.rope.low_freq_factor, 1.0);
    EXPECT_DOUBLE_EQ(c.rope.high_freq_factor, 4.0);
    EXPECT_EQ(c.rope.original_max_position_embeddings, 8192);
    EXPECT_EQ(c.dtype, "bfloat16");
    EXPECT_EQ(c.parameter_count(), 8'030'261'248LL);  // the model card's count
  }
}

TEST(ModelConfig, Llama31InstructEosList) {
  json j = json::parse(kLlama31_8B);
  j["eos_token_id"] = {128001, 128008, 128009};
  auto c = parse_model_config(j, "config.json");
  EXPECT_EQ(c.eos_token_id, 128001);
  EXPECT_EQ(c.eos_token_ids, (std::vector<int>{128001, 128008, 128009}));
}

TEST(ModelConfig, Qwen2HasQkvBiasAndTiedEmbeddings) {
  auto c = parse(kQwen2_05B);
  EXPECT_EQ(c.architecture, "Qwen2ForCausalLM");
  EXPECT_TRUE(c.attention_bias);
  EXPECT_FALSE(c.o_proj_bias);
  EXPECT_TRUE(c.tie_word_embeddings);
  EXPECT_EQ(c.head_dim, 64);
  EXPECT_EQ(c.sliding_window, 0);  // use_sliding_window is false
  EXPECT_DOUBLE_EQ(c.rope.theta, 1e6);
  EXPECT_EQ(c.parameter_count(), 494'032'768LL);  // the model card's count
}

TEST(ModelConfig, Mistral) {
  auto c = parse(kMistral7B);
  EXPECT_EQ(c.architecture, "MistralForCausalLM");
  EXPECT_EQ(c.sliding_window, 4096);
  EXPECT_FALSE(c.attention_bias);
  EXPECT_EQ(c.parameter_count(), 7'241'732'096LL);  // the model card's count
}

TEST(ModelConfig, LinearScalingOldAndNewSpelling) {
  json j = json::parse(kTinyLlama);
  j["rope_scaling"] = {{"type", "linear"}, {"factor", 4.0}};
  auto c = parse_model_config(j, "config.json");
  EXPECT_EQ(c.rope.type, "linear");
  EXPECT_DOUBLE_EQ(c.rope.factor, 4.0);
  j.erase("rope_scaling");
  j.erase("rope_theta");
  j["rope_parameters"] = {{"rope_type", "linear"}, {"factor", 2.0}, {"rope_theta", 20000.0}};
  c = parse_model_config(j, "config.json");
  EXPECT_EQ(c.rope.type, "linear");
  EXPECT_DOUBLE_EQ(c.rope.factor, 2.0);
  EXPECT_DOUBLE_EQ(c.rope.theta, 20000.0);
}

TEST(ModelConfig, OptionalFieldsTakeTransformersDefaults) {
  auto c = parse(R"({"model_type": "llama", "vocab_size": 100, "hidden_size": 64, "intermediate_size": 128,
                     "num_hidden_layers": 2, "num_attention_heads": 4})");
  EXPECT_EQ(c.architecture, "LlamaForCausalLM");
  EXPECT_EQ(c.num_key_value_heads, 4);
  EXPECT_EQ(c.head_dim, 16);
  EXPECT_DOUBLE_EQ(c.rope.theta, 10000.0);
  EXPECT_DOUBLE_EQ(c.rms_norm_eps, 1e-6);
  EXPECT_FALSE(c.tie_word_embeddings);
  EXPECT_EQ(c.dtype, "float32");
  EXPECT_EQ(c.bos_token_id, -1);
}

TEST(ModelConfig, ExplicitHeadDim) {
  json j = json::parse(kMistral7B);
  j["hidden_size"] = 5120;
  j["head_dim"] = 128;  // Mistral-Nemo: 32 heads x 128 != 5120
  auto c = parse_model_config(j, "config.json");
  EXPECT_EQ(c.head_dim, 128);
}

TEST(ModelConfig, RoundTripsInBothStyles) {
  for (const char* text : {kTinyLlama, kLlama31_8B, kQwen2_05B, kMistral7B}) {
    auto c = parse(text);
    for (auto style : {ConfigStyle::Transformers4, ConfigStyle::Transformers5}) {
      json j = model_config_to_json(c, style);
      EXPECT_EQ(j.contains("rope_parameters"), style == ConfigStyle::Transformers5);
      EXPECT_EQ(j.contains("torch_dtype"), style == ConfigStyle::Transformers4);
      auto d = parse_model_config(j, "round trip");
      EXPECT_EQ(model_config_to_json(d, style), j);
      EXPECT_EQ(d.parameter_count(), c.parameter_count());
      EXPECT_EQ(d.rope.type, c.rope.type);
      EXPECT_EQ(d.sliding_window, c.sliding_window);
    }
  }
}

struct BadConfig : ::testing::Test {
  void expect_bad(const std::function<void(json&)>& edit, std::initializer_list<std::string> needles) {
    json j = json::parse(kTinyLlama);
    edit(j);
    std::vector<std::string> all(needles);
    all.push_back("cfg/config.json");
    try {
      parse_model_config(j, "cfg/config.json");
      ADD_FAILURE() << "accepted: " << j.dump();
    } catch (const qlab::Error& e) {
      std::string m = e.what();
      EXPECT_EQ(m.find('\n'), std::string::npos);
      for (const auto& n : all) EXPECT_NE(m.find(n), std::string::npos) << "'" << n << "' not in: " << m;
    }
  }
};

TEST_F(BadConfig, ZeroAndNegativeSizes) {
  expect_bad([](json& j) { j["num_attention_heads"] = 0; }, {"num_attention_heads", "out of range"});
  expect_bad([](json& j) { j["hidden_size"] = -2048; }, {"hidden_size", "out of range"});
  expect_bad([](json& j) { j["num_hidden_layers"] = 0; }, {"num_hidden_layers"});
  expect_bad([](json& j) { j["vocab_size"] = 0; }, {"vocab_size"});
  expect_bad([](json& j) { j["num_key_value_heads"] = 0; }, {"num_key_value_heads"});
  expect_bad([](json& j) { j["intermediate_size"] = -1; }, {"intermediate_size"});
  expect_bad([](json& j) { j["head_dim"] = 0; }, {"head_dim"});
}

TEST_F(BadConfig, AbsurdlyLarge) {
  expect_bad([](json& j) { j["hidden_size"] = 1LL << 40; }, {"hidden_size", "out of range"});
  expect_bad([](json& j) { j["vocab_size"] = 18446744073709551615ull; }, {"vocab_size", "out of range"});
  expect_bad([](json& j) { j["head_dim"] = 1 << 20; }, {"num_attention_heads x head_dim", "out of range"});
}

TEST_F(BadConfig, HiddenNotDivisibleByHeads) {
  expect_bad([](json& j) { j["hidden_size"] = 2050; }, {"hidden_size", "2050", "not divisible", "num_attention_heads"});
}

TEST_F(BadConfig, KvHeadsMustDivideHeads) {
  expect_bad([](json& j) { j["num_key_value_heads"] = 5; }, {"num_key_value_heads", "does not divide"});
}

TEST_F(BadConfig, OddHeadDim) {
  expect_bad([](json& j) { j["head_dim"] = 63; }, {"odd", "RoPE"});
}

TEST_F(BadConfig, MissingRequiredField) {
  expect_bad([](json& j) { j.erase("vocab_size"); }, {"\"vocab_size\" is missing"});
  expect_bad([](json& j) { j["hidden_size"] = nullptr; }, {"\"hidden_size\" is missing"});
}

TEST_F(BadConfig, WrongTypes) {
  expect_bad([](json& j) { j["hidden_size"] = "2048"; }, {"hidden_size", "whole number"});
  expect_bad([](json& j) { j["hidden_size"] = 2048.5; }, {"hidden_size", "whole number"});
  expect_bad([](json& j) { j["tie_word_embeddings"] = "yes"; }, {"tie_word_embeddings", "true or false"});
  expect_bad([](json& j) { j["rms_norm_eps"] = "small"; }, {"rms_norm_eps", "number"});
  expect_bad([](json& j) { j["rms_norm_eps"] = 0; }, {"rms_norm_eps", "out of range"});
  expect_bad([](json& j) { j["architectures"] = "LlamaForCausalLM"; }, {"architectures"});
}

TEST_F(BadConfig, UnsupportedArchitecture) {
  expect_bad([](json& j) { j["architectures"] = {"GPT2LMHeadModel"}; },
             {"unsupported architecture 'GPT2LMHeadModel'",
              "(supported: LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM)"});
  expect_bad(
      [](json& j) {
        j.erase("architectures");
        j["model_type"] = "gemma";
      },
      {"unsupported architecture", "gemma", "supported:"});
}

TEST_F(BadConfig, RopeProblems) {
  expect_bad([](json& j) { j["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", 4.0}}; },
             {"unsupported RoPE type 'yarn'", "rope_scaling", "supported: default, linear, llama3"});
  expect_bad([](json& j) { j["rope_scaling"] = {{"rope_type", "llama3"}, {"factor", 8.0}}; },
             {"low_freq_factor", "missing", "rope_scaling"});
  expect_bad([](json& j) { j["rope_scaling"] = {{"rope_type", "linear"}}; }, {"factor", "missing"});
  expect_bad([](json& j) { j["rope_theta"] = -1.0; }, {"rope_theta", "out of range"});
  expect_bad(
      [](json& j) {
        j["rope_parameters"] = {{"full_attention", {{"rope_type", "default"}}}};
      },
      {"rope_parameters"});
  expect_bad([](json& j) { j["rope_parameters"] = {{"rope_type", "dynamic"}, {"rope_theta", 1e4}}; },
             {"unsupported RoPE type 'dynamic'", "rope_parameters"});
}

TEST_F(BadConfig, ActivationOtherThanSilu) {
  expect_bad([](json& j) { j["hidden_act"] = "gelu"; }, {"hidden_act", "'gelu'"});
}

TEST(ModelConfigFile, ErrorsNameTheFile) {
  ScratchDir dir;
  expect_error([&] { load_model_config(dir.path()); }, {"config.json", "no such file"});
  write_raw(dir / "config.json", "{\"hidden_size\": 64,");
  expect_error([&] { load_model_config(dir.path()); }, {(dir / "config.json").string(), "invalid JSON"});
  write_raw(dir / "config.json", R"({"hidden_size": 64, "hidden_size": 128})");
  expect_error([&] { load_model_config(dir / "config.json"); }, {"duplicate key 'hidden_size'"});
  write_raw(dir / "config.json", kQwen2_05B);
  EXPECT_EQ(load_model_config(dir.path()).hidden_size, 896);
}

}  // namespace
}  // namespace qlab::io
