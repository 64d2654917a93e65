// The checkpoint layouts against what vLLM's loaders register (names, dtypes, shapes, written out here
// from modelopt.py and compressed_tensors/schemes/*.py create_weights), the config blocks against the
// keys those loaders read, and the scheme reader on configs as NVIDIA and llm-compressor publish them.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "engine/core/error.h"
#include "engine/io/quant_checkpoint.h"

namespace qlab::io {
namespace {

namespace fs = std::filesystem;
using Shape = std::vector<std::int64_t>;

struct Expected {
  const char* suffix;
  DType dtype;
  Shape shape;
};

void expect_parts(const char* method, QuantLayout layout, const std::vector<Expected>& want) {
  SCOPED_TRACE(std::string(method) + " " + layout_name(layout));
  const auto parts = linear_parts(quant_scheme(method, layout), 128, 256);  // [out, in]
  ASSERT_EQ(parts.size(), want.size());
  for (std::size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(parts[i].suffix, want[i].suffix);
    EXPECT_EQ(parts[i].dtype, want[i].dtype) << want[i].suffix;
    EXPECT_EQ(parts[i].shape, want[i].shape) << want[i].suffix;
  }
}

TEST(QuantCheckpoint, TensorsPerLinearAsTheLoadersRegisterThem) {
  // modelopt.py ModelOptNvFp4W4A16LinearMethod: weight uint8 [out, in/2], weight_scale e4m3 [out, in/16],
  // weight_scale_2 fp32 per tensor (ModelOpt writes a 0-d scalar).
  expect_parts("nvfp4-w4a16", QuantLayout::ModelOpt,
               {{"weight", DType::U8, {128, 128}}, {"weight_scale", DType::F8_E4M3, {128, 16}},
                {"weight_scale_2", DType::F32, {}}});
  // modelopt.py ModelOptFp8PcPtLinearMethod: weight e4m3 [out, in], weight_scale fp32 [out].
  expect_parts("fp8-channel", QuantLayout::ModelOpt,
               {{"weight", DType::F8_E4M3, {128, 256}}, {"weight_scale", DType::F32, {128}}});
  // compressed_tensors_w4a16_nvfp4.py: weight_packed, weight_scale, weight_global_scale.
  expect_parts("nvfp4-w4a16", QuantLayout::CompressedTensors,
               {{"weight_packed", DType::U8, {128, 128}}, {"weight_scale", DType::F8_E4M3, {128, 16}},
                {"weight_global_scale", DType::F32, {1}}});
  // compressed_tensors_w4a16_mxfp4.py: weight_packed uint8 [out, in/2], weight_scale uint8 [out, in/32].
  expect_parts("mxfp4", QuantLayout::CompressedTensors,
               {{"weight_packed", DType::U8, {128, 128}}, {"weight_scale", DType::U8, {128, 8}}});
  // compressed_tensors_w8a16_fp8.py: weight e4m3, weight_scale [1] (tensor) or [out, 1] (channel).
  expect_parts("fp8", QuantLayout::CompressedTensors,
               {{"weight", DType::F8_E4M3, {128, 256}}, {"weight_scale", DType::F32, {1}}});
  expect_parts("fp8-channel", QuantLayout::CompressedTensors,
               {{"weight", DType::F8_E4M3, {128, 256}}, {"weight_scale", DType::F32, {128, 1}}});
}

TEST(QuantCheckpoint, ActivationScalesOfW4A4AndStaticFp8) {
  // modelopt.py ModelOptNvFp4LinearMethod registers input_scale beside the weight's three tensors.
  expect_parts("nvfp4", QuantLayout::ModelOpt,
               {{"weight", DType::U8, {128, 128}}, {"weight_scale", DType::F8_E4M3, {128, 16}},
                {"weight_scale_2", DType::F32, {}}, {"input_scale", DType::F32, {}}});
  // compressed_tensors_w4a4_nvfp4.py: input_global_scale, the reciprocal convention again.
  expect_parts("nvfp4", QuantLayout::CompressedTensors,
               {{"weight_packed", DType::U8, {128, 128}}, {"weight_scale", DType::F8_E4M3, {128, 16}},
                {"weight_global_scale", DType::F32, {1}}, {"input_global_scale", DType::F32, {1}}});
  // modelopt.py ModelOptFp8LinearMethod: weight, weight_scale and input_scale (always registered).
  expect_parts("fp8", QuantLayout::ModelOpt,
               {{"weight", DType::F8_E4M3, {128, 256}}, {"weight_scale", DType::F32, {}},
                {"input_scale", DType::F32, {}}});
  EXPECT_EQ(quantization_config(quant_scheme("nvfp4", QuantLayout::ModelOpt))["quant_algo"], "NVFP4");
  EXPECT_EQ(quantization_config(quant_scheme("fp8", QuantLayout::ModelOpt))["quant_algo"], "FP8");
  const auto ct = quantization_config(quant_scheme("nvfp4", QuantLayout::CompressedTensors));
  EXPECT_EQ(ct["config_groups"]["group_0"]["input_activations"]["strategy"], "tensor_group");
  EXPECT_EQ(ct["config_groups"]["group_0"]["input_activations"]["group_size"], 16);
}

TEST(QuantCheckpoint, PairsNoLoaderReadsAreRefused) {
  EXPECT_THROW(quant_scheme("mxfp4", QuantLayout::ModelOpt), Error);
  EXPECT_THROW(quant_scheme("int4", QuantLayout::CompressedTensors), Error);
}

TEST(QuantCheckpoint, ConfigBlocksCarryWhatTheLoadersRead) {
  QuantScheme s = quant_scheme("nvfp4-w4a16", QuantLayout::ModelOpt);
  s.ignore = {"lm_head"};
  const auto hf = hf_quant_config_json(s);
  // ModelOptNvFp4Config._from_config requires these three fields in hf_quant_config.json
  EXPECT_EQ(hf["quantization"]["quant_algo"], "W4A16_NVFP4");
  EXPECT_EQ(hf["quantization"]["group_size"], 16);
  EXPECT_TRUE(hf["quantization"].contains("kv_cache_quant_algo"));
  EXPECT_EQ(hf["quantization"]["exclude_modules"], nlohmann::json::array({"lm_head"}));
  const auto q = quantization_config(s);
  EXPECT_EQ(q["quant_method"], "modelopt");
  EXPECT_EQ(q["quant_algo"], "W4A16_NVFP4");
  EXPECT_EQ(q["ignore"], nlohmann::json::array({"lm_head"}));

  // CompressedTensorsConfig._is_nvfp4_format / _is_mxfp4
  const auto ct = quantization_config(quant_scheme("nvfp4-w4a16", QuantLayout::CompressedTensors));
  EXPECT_EQ(ct["quant_method"], "compressed-tensors");
  EXPECT_EQ(ct["format"], "nvfp4-pack-quantized");
  const auto& w = ct["config_groups"]["group_0"]["weights"];
  EXPECT_EQ(w["strategy"], "tensor_group");
  EXPECT_EQ(w["group_size"], 16);
  EXPECT_EQ(w["num_bits"], 4);
  EXPECT_EQ(w["type"], "float");
  EXPECT_EQ(w["symmetric"], true);
  EXPECT_TRUE(ct["config_groups"]["group_0"]["input_activations"].is_null());  // W4A16
  const auto mx = quantization_config(quant_scheme("mxfp4", QuantLayout::CompressedTensors));
  EXPECT_EQ(mx["format"], "mxfp4-pack-quantized");
  EXPECT_EQ(mx["config_groups"]["group_0"]["weights"]["strategy"], "group");
  EXPECT_EQ(mx["config_groups"]["group_0"]["weights"]["group_size"], 32);
}

class SchemeFiles : public ::testing::Test {
 protected:
  fs::path dir = fs::temp_directory_path() / ("qlab-scheme-" + std::to_string(::getpid()) + "-" +
                                              ::testing::UnitTest::GetInstance()->current_test_info()->name());
  void SetUp() override {
    fs::remove_all(dir);
    fs::create_directories(dir);
  }
  void TearDown() override { fs::remove_all(dir); }
  void write(const char* name, const std::string& text) { std::ofstream(dir / name) << text; }
};

// As nvidia/Llama-3.1-8B-Instruct-FP4 ships it: hf_quant_config.json only, W4A4 NVFP4.
TEST_F(SchemeFiles, ReadsNvidiaStyleHfQuantConfig) {
  write("config.json", R"({"architectures": ["LlamaForCausalLM"]})");
  write("hf_quant_config.json", R"({"producer": {"name": "modelopt", "version": "0.23.0"},
    "quantization": {"quant_algo": "NVFP4", "kv_cache_quant_algo": null, "group_size": 16,
                     "exclude_modules": ["lm_head"]}})");
  const auto s = read_checkpoint_scheme(dir);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->method, "nvfp4");
  EXPECT_EQ(s->format, "nvfp4");
  EXPECT_EQ(s->layout, QuantLayout::ModelOpt);
  EXPECT_TRUE(scheme_ignores(*s, "lm_head"));
  EXPECT_FALSE(scheme_ignores(*s, "model.layers.0.mlp.up_proj"));
}

TEST_F(SchemeFiles, ReadsLlmCompressorFp8Dynamic) {
  write("config.json", R"({"quantization_config": {"quant_method": "compressed-tensors", "format": "float-quantized",
    "config_groups": {"group_0": {"targets": ["Linear"], "weights": {"num_bits": 8, "type": "float",
      "strategy": "channel", "symmetric": true, "dynamic": false},
      "input_activations": {"num_bits": 8, "type": "float", "strategy": "token", "dynamic": true}}},
    "ignore": ["lm_head", "re:.*mlp.gate$"]}})");
  const auto s = read_checkpoint_scheme(dir);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->method, "fp8-channel");
  EXPECT_EQ(s->layout, QuantLayout::CompressedTensors);
}

TEST_F(SchemeFiles, UnquantizedDisagreeingAndForeignSchemes) {
  write("config.json", R"({"architectures": ["LlamaForCausalLM"]})");
  EXPECT_FALSE(read_checkpoint_scheme(dir));
  write("config.json", R"({"quantization_config": {"quant_method": "modelopt", "quant_algo": "FP8_PER_CHANNEL_PER_TOKEN"}})");
  write("hf_quant_config.json", R"({"quantization": {"quant_algo": "W4A16_NVFP4"}})");
  EXPECT_THROW(read_checkpoint_scheme(dir), Error);
  fs::remove(dir / "hf_quant_config.json");
  // GPTQ is read now (int_checkpoint.h); bitsandbytes is not
  write("config.json", R"({"quantization_config": {"quant_method": "gptq", "bits": 4}})");
  const auto g = read_checkpoint_scheme(dir);
  ASSERT_TRUE(g && g->ints);
  EXPECT_EQ(g->ints->layout, IntLayout::Gptq);
  EXPECT_EQ(g->format, "int4-g128-sym");
  write("config.json", R"({"quantization_config": {"quant_method": "bitsandbytes", "load_in_4bit": true}})");
  try {
    read_checkpoint_scheme(dir);
    FAIL() << "bitsandbytes accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("config.json"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace qlab::io
