// The tensor map: names and shapes per family (hand-counted here; the transformers-saved fixtures are
// checked in fixture_models_test.cpp), the role read back from every name, the default storage, and the
// config reader's families and bounds.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "engine/io/model_config.h"
#include "engine/io/tensor_map.h"
#include "tests/unit/io/io_test_util.h"

namespace qlab::io {
namespace {

using namespace qlab::io::testing;
using nlohmann::json;

json tiny_llama() {
  return {{"model_type", "llama"},       {"hidden_size", 64},        {"intermediate_size", 128},
          {"num_hidden_layers", 2},      {"num_attention_heads", 4}, {"num_key_value_heads", 2},
          {"vocab_size", 100}};
}

// Falcon's new decoder architecture (Falcon-40B/180B layout) at toy size.
json tiny_falcon() {
  return {{"architectures", {"FalconForCausalLM"}}, {"model_type", "falcon"}, {"hidden_size", 64},
          {"num_attention_heads", 4}, {"num_kv_heads", 2}, {"num_hidden_layers", 2}, {"vocab_size", 100},
          {"new_decoder_architecture", true}, {"parallel_attn", true}, {"bias", false},
          {"tie_word_embeddings", false}};
}

json tiny_gpt_oss() {
  return {{"architectures", {"GptOssForCausalLM"}}, {"model_type", "gpt_oss"}, {"hidden_size", 64},
          {"num_hidden_layers", 2}, {"num_attention_heads", 4}, {"num_key_value_heads", 2}, {"head_dim", 16},
          {"intermediate_size", 32}, {"vocab_size", 100}, {"num_local_experts", 4}, {"num_experts_per_tok", 2},
          {"layer_types", {"sliding_attention", "full_attention"}}, {"sliding_window", 8},
          {"quantization_config", {{"quant_method", "mxfp4"}}}};
}

ModelConfig shapes(const json& j) { return parse_model_config(j, "cfg/config.json", ConfigUse::Shapes); }

long long sum(const std::vector<TensorEntry>& map) {
  long long n = 0;
  for (const auto& t : map) n += t.numel();
  return n;
}

const TensorEntry* find(const std::vector<TensorEntry>& map, const std::string& name) {
  for (const auto& t : map)
    if (t.name == name) return &t;
  return nullptr;
}

TEST(TensorMap, EveryRoleReadsBackFromItsName) {
  json qwen = tiny_llama();
  qwen["model_type"] = "qwen2";
  json llama_bias = tiny_llama();
  llama_bias["attention_bias"] = true;
  llama_bias["mlp_bias"] = true;
  json old_falcon = tiny_falcon();
  old_falcon["new_decoder_architecture"] = false;
  old_falcon["parallel_attn"] = false;
  old_falcon["bias"] = true;
  for (const json& j : {tiny_llama(), qwen, llama_bias, tiny_falcon(), old_falcon, tiny_gpt_oss()}) {
    const ModelConfig c = shapes(j);
    for (const auto& t : tensor_map(c)) {
      EXPECT_EQ(role_of(t.name), t.role) << c.architecture << " " << t.name;
      long long n = 1;
      for (auto d : t.shape) n *= d;
      EXPECT_EQ(n, t.numel()) << t.name;
    }
  }
}

TEST(TensorMap, LlamaLinearWeightsAreTheSevenProjections) {
  const ModelConfig c = shapes(tiny_llama());
  const auto map = tensor_map(c);
  int linear = 0;
  for (const auto& t : map) linear += t.linear_weight() ? 1 : 0;
  EXPECT_EQ(linear, 7 * 2);
  const TensorEntry* o = find(map, "model.layers.1.self_attn.o_proj.weight");
  ASSERT_NE(o, nullptr);
  EXPECT_EQ(o->role, TensorRole::Attention);
  EXPECT_EQ(o->layer, 1);
  EXPECT_EQ(o->rows, 64);
  EXPECT_EQ(o->cols, 64);  // q width: 4 heads x 16
  const TensorEntry* k = find(map, "model.layers.0.self_attn.k_proj.weight");
  ASSERT_NE(k, nullptr);
  EXPECT_EQ(k->shape, (std::vector<std::int64_t>{32, 64}));  // 2 KV heads x 16
  EXPECT_EQ(role_of("model.embed_tokens.weight"), TensorRole::Embedding);
  EXPECT_EQ(role_of("lm_head.weight"), TensorRole::LmHead);
  EXPECT_EQ(role_of("model.layers.0.input_layernorm.weight"), TensorRole::Norm);
  EXPECT_EQ(role_of("model.layers.0.self_attn.q_proj.bias"), TensorRole::Bias);
  EXPECT_EQ(role_of("model.layers.0.mlp.down_proj.weight"), TensorRole::Mlp);
  EXPECT_EQ(role_of("model.layers.0.foo.weight"), TensorRole::Other);  // not a Linear weight it knows
  EXPECT_EQ(sum(map), c.parameter_count());
}

TEST(TensorMap, FalconHandCounted) {
  // per layer: ln_attn + ln_mlp (weight + bias) 4 x 64, query_key_value (4 + 2 x 2) x 16 = 128 x 64,
  // dense 64 x 64, dense_h_to_4h 256 x 64, dense_4h_to_h 64 x 256; embeddings, ln_f (2 x 64), lm_head
  const ModelConfig c = shapes(tiny_falcon());
  const long long layer = 4 * 64 + 128 * 64 + 64 * 64 + 2 * 256 * 64;
  EXPECT_EQ(c.parameter_count(), 100 * 64 + 2 * layer + 2 * 64 + 100 * 64);
  EXPECT_EQ(c.num_key_value_heads, 2);
  EXPECT_FALSE(c.gated_mlp);
  const auto map = tensor_map(c);
  ASSERT_NE(find(map, "transformer.h.1.ln_mlp.bias"), nullptr);
  ASSERT_NE(find(map, "transformer.h.0.self_attention.query_key_value.weight"), nullptr);
  EXPECT_EQ(find(map, "transformer.h.0.self_attention.query_key_value.weight")->rows, 128);
  // The original architecture (Falcon-7B): one KV head, one norm, embeddings tied unless told otherwise.
  json old = tiny_falcon();
  old["new_decoder_architecture"] = false;
  old.erase("tie_word_embeddings");
  const ModelConfig o = shapes(old);
  EXPECT_EQ(o.num_key_value_heads, 1);
  EXPECT_TRUE(o.tie_word_embeddings);
  const long long old_layer = 2 * 64 + 96 * 64 + 64 * 64 + 2 * 256 * 64;
  EXPECT_EQ(o.parameter_count(), 100 * 64 + 2 * old_layer + 2 * 64);
  EXPECT_NE(find(tensor_map(o), "transformer.h.0.input_layernorm.weight"), nullptr);
}

TEST(TensorMap, GptOssHandCounted) {
  const ModelConfig c = shapes(tiny_gpt_oss());
  // per layer: 2 norms 2 x 64, q/o 2 x 64x64, k/v 2 x 32x64, biases 64 + 32 + 32 + 64, sinks 4, router
  // 4 x 64 + 4, experts gate_up 4 x 64 x 64 + bias 4 x 64, down 4 x 64 x 32 + bias 4 x 64
  const long long layer = 2 * 64 + 2 * 64 * 64 + 2 * 32 * 64 + 192 + 4 + 4 * 64 + 4 + 4 * 64 * 64 + 4 * 64 +
                          4 * 64 * 32 + 4 * 64;
  EXPECT_EQ(c.parameter_count(), 100 * 64 + 2 * layer + 64 + 100 * 64);
  EXPECT_EQ(c.num_experts, 4);
  EXPECT_EQ(c.sliding_layers, 1);
  EXPECT_EQ(c.sliding_window, 8);
  EXPECT_EQ(c.released_format, "mxfp4");
  const auto map = tensor_map(c);
  const TensorEntry* up = find(map, "model.layers.0.mlp.experts.gate_up_proj");
  ASSERT_NE(up, nullptr);
  EXPECT_EQ(up->shape, (std::vector<std::int64_t>{4, 64, 64}));  // [experts, in, out]
  EXPECT_EQ(up->stack, 4);
  EXPECT_EQ(up->role, TensorRole::Experts);
  const TensorEntry* down = find(map, "model.layers.0.mlp.experts.down_proj");
  ASSERT_NE(down, nullptr);
  EXPECT_EQ(down->rows, 64);  // out = hidden
  EXPECT_EQ(down->cols, 32);  // in = intermediate: the axis blocks run along
  EXPECT_EQ(find(map, "model.layers.0.mlp.router.weight")->role, TensorRole::Router);
}

TEST(TensorMap, DefaultStorage) {
  EXPECT_TRUE(quantized(TensorRole::Attention));
  EXPECT_TRUE(quantized(TensorRole::Mlp));
  EXPECT_TRUE(quantized(TensorRole::Experts));
  for (auto r : {TensorRole::Router, TensorRole::Embedding, TensorRole::LmHead, TensorRole::Norm, TensorRole::Bias,
                 TensorRole::Other})
    EXPECT_FALSE(quantized(r)) << role_name(r);
  EXPECT_TRUE(quantized(TensorRole::Embedding, {.embeddings = true}));
  EXPECT_TRUE(quantized(TensorRole::LmHead, {.embeddings = true}));
  EXPECT_FALSE(quantized(TensorRole::Norm, {.embeddings = true}));
  EXPECT_FALSE(quantized(TensorRole::Attention, {.experts_only = true}));
  EXPECT_TRUE(quantized(TensorRole::Experts, {.experts_only = true}));
}

TEST(ModelConfigFamilies, ShapeOnlyFamiliesAreNotRunnable) {
  // The runtime's reader refuses them with its list; the shapes reader takes them.
  expect_error([] { parse_model_config(tiny_falcon(), "cfg/config.json"); },
               {"cfg/config.json", "unsupported architecture 'FalconForCausalLM'",
                "(supported: LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM)"});
  EXPECT_FALSE(shapes(tiny_gpt_oss()).runnable());
  EXPECT_TRUE(shapes(tiny_llama()).runnable());
  expect_error([] { model_config_to_json(shapes(tiny_falcon())); }, {"FalconForCausalLM", "not supported"});
  // RoPE is not read for shapes: a type the runtime cannot run does not stop the calculator.
  json yarn = tiny_llama();
  yarn["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", 4.0}};
  EXPECT_EQ(shapes(yarn).hidden_size, 64);
  expect_error([&] { parse_model_config(yarn, "cfg/config.json"); }, {"yarn"});
  expect_error([] { shapes(json{{"model_type", "mamba"}}); }, {"unsupported architecture", "GptOssForCausalLM"});
}

TEST(ModelConfigFamilies, BadFamilyFieldsNameTheField) {
  json j = tiny_gpt_oss();
  j["layer_types"] = {"sliding_attention"};
  expect_error([&] { shapes(j); }, {"cfg/config.json", "layer_types", "2 layers"});
  j = tiny_gpt_oss();
  j["layer_types"] = {"sliding_attention", 7};
  expect_error([&] { shapes(j); }, {"layer_types"});
  j = tiny_gpt_oss();
  j["num_experts_per_tok"] = 5;
  expect_error([&] { shapes(j); }, {"num_experts_per_tok", "4 experts"});
  j = tiny_gpt_oss();
  j["quantization_config"] = "mxfp4";
  expect_error([&] { shapes(j); }, {"quantization_config"});
  j = tiny_falcon();
  j["num_kv_heads"] = 3;
  expect_error([&] { shapes(j); }, {"num_kv_heads", "does not divide"});
  j = tiny_falcon();
  j["hidden_size"] = 1 << 19;  // 4 x hidden is past the MLP width bound
  j["num_attention_heads"] = 4;
  expect_error([&] { shapes(j); }, {"ffn_hidden_size"});
}

TEST(ModelConfigFamilies, ShapesPastEveryBoundAreRefusedNamingTheFile) {
  // Each field within its own bound, the model as a whole past 2^50 parameters: refused, not overflowed.
  json j = tiny_gpt_oss();
  j["num_hidden_layers"] = 1 << 14;
  j.erase("layer_types");
  j["hidden_size"] = 1 << 20;
  j["intermediate_size"] = 1 << 20;
  j["num_local_experts"] = 1 << 14;
  expect_error([&] { shapes(j); }, {"cfg/config.json", "more than", "parameters", "check those fields"});
  json l = tiny_llama();
  l["num_hidden_layers"] = 1 << 14;
  l["hidden_size"] = 1 << 20;
  l["num_attention_heads"] = 1;
  l["num_key_value_heads"] = 1;
  l["intermediate_size"] = 1 << 20;
  l["vocab_size"] = 1 << 20;
  expect_error([&] { parse_model_config(l, "cfg/config.json"); }, {"cfg/config.json", "parameters"});
  l["num_hidden_layers"] = 1 << 30;
  expect_error([&] { shapes(l); }, {"cfg/config.json", "num_hidden_layers", "out of range"});
}

}  // namespace
}  // namespace qlab::io
