// GGUF files in the runtime: a model written by convert_to_gguf and read back by load_gguf_model
// computes what the same weights compute from their HF folder (bit for bit in F32: Q/K permuted on
// the way out and back in, nothing rounded). Hyper-parameters, rope scalings (linear, Llama 3.1's as
// rope_freqs) and Qwen2's biases survive the trip. The quantized types are checked end to end
// against real llama.cpp (tests/cli/gguf_llama_cpp_test.cpp, gguf_cli_test.cpp); here, the
// activation rounding that makes qlab compute what llama.cpp's CPU kernels compute.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <memory>

#include "engine/gguf/ggml_activations.h"
#include "engine/gguf/gguf_convert.h"
#include "engine/gguf/gguf_file.h"
#include "engine/gguf/gguf_metadata.h"
#include "engine/gguf/gguf_model.h"
#include "engine/model/forward.h"
#include "tests/unit/model/fixture_util.h"

namespace qlab::gguf {
namespace {

namespace fs = std::filesystem;
using qlab::testing::fixture;

class GgufRuntime : public ::testing::TestWithParam<std::string> {
 protected:
  fs::path dir = fs::temp_directory_path() / ("qlab-gguf-runtime-" + std::to_string(::getpid()));
  void SetUp() override { fs::create_directories(dir); }
  void TearDown() override { fs::remove_all(dir); }

  // The fixture model written as file type `ft` and loaded back.
  model::Model round_trip(const std::string& name, FileType ft) {
    ConvertOptions o;
    o.mix.file_type = ft;
    const fs::path out = dir / (name + ".gguf");
    convert_to_gguf(fixture("models/" + name), out, o);
    return load_gguf_model(std::make_shared<const GgufFile>(GgufFile::open(out)));
  }
};

TEST_P(GgufRuntime, F32FileGivesTheFolderModelsLogits) {
  const std::string name = GetParam();
  const model::Model hf = model::Model::load(fixture("models/" + name));
  const model::Model gg = round_trip(name, FileType::ALL_F32);
  const io::ModelConfig &a = hf.config(), &b = gg.config();
  EXPECT_EQ(a.hidden_size, b.hidden_size);
  EXPECT_EQ(a.num_hidden_layers, b.num_hidden_layers);
  EXPECT_EQ(a.num_attention_heads, b.num_attention_heads);
  EXPECT_EQ(a.num_key_value_heads, b.num_key_value_heads);
  EXPECT_EQ(a.head_dim, b.head_dim);
  EXPECT_EQ(a.intermediate_size, b.intermediate_size);
  EXPECT_EQ(a.vocab_size, b.vocab_size);
  EXPECT_EQ(a.tie_word_embeddings, b.tie_word_embeddings);
  EXPECT_EQ(a.attention_bias, b.attention_bias);
  EXPECT_FLOAT_EQ(static_cast<float>(a.rms_norm_eps), static_cast<float>(b.rms_norm_eps));
  const auto tokens = qlab::testing::read_ids(fixture("models/" + name + "/tokens.txt"));
  const std::vector<float> want = model::forward_all(hf, tokens), got = model::forward_all(gg, tokens);
  if (a.rope.type == "llama3") {
    // rope_freqs holds the converter's float32 factors; the folder model blends in double. The
    // frequencies agree to a float32 ulp or two, the logits to ~1e-6 of their range.
    EXPECT_LT(qlab::testing::max_row_rel_error(got, want, static_cast<std::size_t>(a.vocab_size)), 1e-5);
  } else {
    ASSERT_EQ(got.size(), want.size());
    EXPECT_EQ(0, std::memcmp(got.data(), want.data(), got.size() * sizeof(float))) << "logits differ";
  }
}

TEST(GgmlActivations, RoundLikeGgmlsDotProductTypes) {
  // q8_0 (quantize_row_q8_0_ref): per 32 values d = amax / 127 stored as fp16, q = roundf(x / d)
  // with ties away from zero; the values the dot product sees are q * fp16(d). The block below has
  // amax 2.54 (d = 0.02, fp16 0.0200042...), an exact tie (0.01 / d = 0.5 -> 1) and a zero.
  std::vector<float> x(32, 0.0f);
  x[0] = 2.54f;
  x[1] = -1.0f;
  x[2] = 0.01f;
  llama_cpp_input_rounding(GgmlType::Q4_0)(x.data(), 1, 32);
  const float d = 0.0200042725f;  // fp16(2.54 / 127)
  EXPECT_FLOAT_EQ(x[0], 127 * d);
  EXPECT_FLOAT_EQ(x[1], -50 * d);
  EXPECT_FLOAT_EQ(x[2], 1 * d);
  EXPECT_EQ(x[3], 0.0f);
  // q8_K (quantize_row_q8_K_ref): per 256 values, scale -127 / max (max: the signed value of largest
  // magnitude), q = min(127, nearest_int(scale * x)), d = 1 / scale in float32.
  std::vector<float> k(256, 0.25f);
  k[7] = -0.5f;  // max = -0.5: scale -127 / -0.5 = 254, d = 1/254
  llama_cpp_input_rounding(GgmlType::Q4_K)(k.data(), 1, 256);
  EXPECT_FLOAT_EQ(k[7], -127 * (1 / 254.0f));
  EXPECT_FLOAT_EQ(k[0], 64 * (1 / 254.0f));  // 254 * 0.25 = 63.5: nearest_int ties to even, 64
  // f16 / bf16: round to nearest even; f32 weights leave activations alone.
  float h[1] = {1.0f + 1.0f / 4096};  // halfway between two f16 values: stays 1
  llama_cpp_input_rounding(GgmlType::F16)(h, 1, 1);
  EXPECT_EQ(h[0], 1.0f);
  EXPECT_EQ(llama_cpp_input_rounding(GgmlType::F32), nullptr);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, GgufRuntime,
                         ::testing::Values("llama", "llama31", "llama_linear", "llama_tied", "llama_bf16", "mistral",
                                           "qwen2"));

TEST(GgufMetadata, Llama3RopeFactorsFollowTheConvertersFormula) {
  // LlamaModel.generate_extra_tensors, worked here in double: 1 for short wavelengths, `factor`
  // for long ones, 1 / ((1 - s) / factor + s) between, s = (old_ctx / wavelen - lo) / (hi - lo).
  io::ModelConfig c = io::llama_config(2, 64, 4, 2, 128, 256);
  c.head_dim = 16;
  c.rope.type = "llama3";
  c.rope.theta = 50000.0;
  c.rope.factor = 8.0;
  c.rope.low_freq_factor = 1.0;
  c.rope.high_freq_factor = 4.0;
  c.rope.original_max_position_embeddings = 32;
  const std::vector<float> f = llama3_rope_factors(c);
  ASSERT_EQ(f.size(), 8u);
  int blended = 0;
  for (int i = 0; i < 8; ++i) {
    const double freq = 1.0 / std::pow(50000.0, 2.0 * i / 16.0), wavelen = 2 * M_PI / freq;
    double want = 8.0;
    if (wavelen < 32.0 / 4.0) {
      want = 1.0;
    } else if (wavelen <= 32.0) {
      const double s = (32.0 / wavelen - 1.0) / 3.0;
      want = 1.0 / ((1 - s) / 8.0 + s);
      ++blended;
    }
    EXPECT_NEAR(f[static_cast<std::size_t>(i)], want, 2e-6 * want) << i;
  }
  EXPECT_GT(blended, 0);  // the vector exercises the blend
}

TEST(GgufMetadata, KeysHaveTheTypesLlamaCppRequires) {
  io::ModelConfig c = io::llama_config(4, 64, 2, 1, 256, 768);
  c.max_position_embeddings = 128;
  c.architecture = "LlamaForCausalLM";
  c.model_type = "llama";
  for (const auto& [k, v] : model_metadata(c, "m")) {
    if (k.ends_with("_length") || k.ends_with("_count") || k.ends_with("count_kv") || k.ends_with("vocab_size")) {
      EXPECT_EQ(v.type(), ValueType::U32) << k;
    }
    if (k.ends_with("epsilon") || k.ends_with("freq_base")) {
      EXPECT_EQ(v.type(), ValueType::F32) << k;
    }
  }
}

}  // namespace
}  // namespace qlab::gguf
