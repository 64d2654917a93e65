// The memory calculator against hand-derived byte counts and the module's capacity table.
#include "engine/capacity/memory_model.h"

#include <set>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "engine/core/error.h"
#include "engine/formats/block.h"

namespace qlab::capacity {
namespace {

constexpr double GB = 1e9;

MemoryEstimate est(const std::string& model, const std::string& scheme, MemoryOptions o = {}) {
  const auto& m = builtin_model(model);
  return estimate_memory(m, scheme_from_name(scheme, m), o);
}

// Linear weights of Llama 3.1 70B: 80 x (q 8192^2 + k,v 2 x 8192 x 1024 + o 8192^2 + 3 x 8192 x 28672)
constexpr std::int64_t kL70Linear = 80LL * (2LL * 8192 * 8192 + 2LL * 8192 * 1024 + 3LL * 8192 * 28672);
constexpr std::int64_t kL70Total = 70553706496LL;

TEST(MemoryModel, Llama70BNvfp4ByHand) {
  auto e = est("llama-3.1-70b", "nvfp4");
  // NVFP4: 4-bit codes + one E4M3 byte per 16 weights = 9/16 byte per weight, + a 4-byte fp32
  // weight_scale_2 per tensor (7 Linear per layer); everything else BF16.
  const double linear = double(kL70Linear) * 9.0 / 16.0 + 4.0 * 7 * 80;
  const double kept = 2.0 * double(kL70Total - kL70Linear);
  EXPECT_EQ(e.quantized_parameters, kL70Linear);
  EXPECT_DOUBLE_EQ(e.quantized_element_bytes + e.quantized_scale_bytes, linear);
  EXPECT_DOUBLE_EQ(e.kept_bytes, kept);
  EXPECT_DOUBLE_EQ(e.weight_bytes, linear + kept);                 // 42.71 GB
  EXPECT_DOUBLE_EQ(e.embedding_head_bytes, 2.0 * 2 * 128256 * 8192);  // 4.2 GB of BF16 embeddings + head
  EXPECT_NEAR(e.bits_per_weight, 4.5, 1e-6);
}

TEST(MemoryModel, ModulesCapacityTable) {
  // MODULE.md: FP16 8B 16 GB; 70B 140 GB (too big); NVFP4 70B 35 GB (35-40 with the scales), ~100 GB for 200B.
  EXPECT_NEAR(est("llama-3.1-8b", "bf16").weight_bytes / GB, 16.0, 0.1);
  auto l70 = est("llama-3.1-70b", "bf16");
  EXPECT_NEAR(l70.weight_bytes / GB, 141.1, 0.05);
  EXPECT_FALSE(l70.fits);

  auto n70 = est("llama-3.1-70b", "nvfp4");
  const double n70_linear = (n70.quantized_element_bytes + n70.quantized_scale_bytes) / GB;
  EXPECT_GE(n70_linear, 35.0);  // the quantized layers alone: 38.5 GB
  EXPECT_LE(n70_linear, 40.0);
  EXPECT_NEAR(n70.naive_bytes / GB, 35.28, 0.01);  // the module's 35 GB is params x 4 bits
  // MODULE.md corrections: the whole checkpoint with BF16 embeddings and head is ~3.3x smaller than BF16
  EXPECT_NEAR(l70.weight_bytes / n70.weight_bytes, 3.3, 0.05);
  EXPECT_TRUE(n70.fits);

  auto f = est("falcon-180b", "nvfp4");  // the ~200B model
  EXPECT_GE(f.weight_bytes / GB, 100.0);
  EXPECT_LE(f.weight_bytes / GB, 113.0);
  EXPECT_TRUE(f.fits);  // at the default 8k context, batch 1, f16 KV
  EXPECT_FALSE(est("falcon-180b", "bf16").fits);
  EXPECT_FALSE(est("llama-3.1-405b", "nvfp4").fits);  // 234 GB of weights

  // FP8: the module's "70 GB" is the naive rule; with BF16 embeddings and head it is 72.7 GB
  auto f70 = est("llama-3.1-70b", "fp8");
  EXPECT_DOUBLE_EQ(f70.weight_bytes, double(kL70Linear) + 4.0 * 7 * 80 + 2.0 * double(kL70Total - kL70Linear));
  EXPECT_NEAR(f70.naive_bytes / GB, 70.55, 0.01);
}

TEST(MemoryModel, Falcon180BNvfp4ByHand) {
  // 80 x (query_key_value (232 + 2 x 8) x 64 x 14848 + dense 14848^2 + MLP 2 x 14848 x 59392)
  const std::int64_t linear = 80LL * ((232 + 16) * 64LL * 14848 + 14848LL * 14848 + 2LL * 14848 * 59392);
  const std::int64_t total = builtin_model("falcon-180b").parameter_count();
  auto e = est("falcon-180b", "nvfp4");
  EXPECT_DOUBLE_EQ(e.weight_bytes, double(linear) * 9 / 16 + 4.0 * 4 * 80 + 2.0 * double(total - linear));
}

TEST(MemoryModel, GptOssAsReleasedMatchesTheCheckpointLayout) {
  // Experts in MXFP4 (4-bit codes + one E8M0 byte per 32 = 17/32 byte per weight), the rest BF16.
  for (auto [id, layers, experts] : {std::tuple{"gpt-oss-120b", 36, 128}, std::tuple{"gpt-oss-20b", 24, 32}}) {
    const std::int64_t expert_weights = std::int64_t(layers) * experts * 3 * 2880 * 2880;
    const std::int64_t total = builtin_model(id).parameter_count();
    auto e = est(id, "released");
    EXPECT_DOUBLE_EQ(e.weight_bytes, double(expert_weights) * 17 / 32 + 2.0 * double(total - expert_weights)) << id;
  }
  // 65.2 GB and 13.8 GB: the sizes the two checkpoints download at
  EXPECT_NEAR(est("gpt-oss-120b", "released").weight_bytes / GB, 65.2, 0.1);
  EXPECT_NEAR(est("gpt-oss-20b", "released").weight_bytes / GB, 13.8, 0.1);
}

TEST(MemoryModel, KvCacheByHand) {
  MemoryOptions o;
  o.context = 8192;
  // Llama 3.1 8B: 2 (K, V) x 32 layers x 8 heads x 128 x 2 bytes x 8192 tokens = 1 GiB
  EXPECT_DOUBLE_EQ(est("llama-3.1-8b", "bf16", o).kv_bytes, 1073741824.0);
  o.kv = KvDtype::FP8;
  EXPECT_DOUBLE_EQ(est("llama-3.1-8b", "bf16", o).kv_bytes, 536870912.0);
  o.kv = KvDtype::F16;
  o.batch = 4;
  EXPECT_DOUBLE_EQ(est("llama-3.1-70b", "bf16", o).kv_bytes, 4.0 * 2 * 80 * 8 * 128 * 2 * 8192);
  // GPT-OSS: half the layers keep only a 128-token window
  o.batch = 1;
  EXPECT_DOUBLE_EQ(est("gpt-oss-120b", "released", o).kv_bytes, 2.0 * 8 * 64 * 2 * (18 * 8192 + 18 * 128));
  o.context = 100;  // shorter than the window
  EXPECT_DOUBLE_EQ(est("gpt-oss-120b", "released", o).kv_bytes, 2.0 * 8 * 64 * 2 * 36 * 100);
}

TEST(MemoryModel, OverheadFollowsTheStatedAssumption) {
  MemoryOptions o;  // 8192 x 1: a 2048-token step
  const double act = 2048.0 * 2 * (2 * 4096 + 4096 + 2 * 1024 + 2 * 14336);
  EXPECT_DOUBLE_EQ(est("llama-3.1-8b", "bf16", o).overhead_bytes, 1e9 + act + 4.0 * 128256);
  o.context = 100;  // a 100-token step
  EXPECT_LT(est("llama-3.1-8b", "bf16", o).overhead_bytes, 1e9 + act);
}

TEST(MemoryModel, TotalsAndBudget) {
  MemoryOptions o;
  auto e = est("llama-3.1-70b", "nvfp4", o);
  EXPECT_DOUBLE_EQ(e.total_bytes, e.weight_bytes + e.kv_bytes + e.overhead_bytes);
  o.budget_gb = e.total_bytes / GB - 0.01;
  EXPECT_FALSE(est("llama-3.1-70b", "nvfp4", o).fits);
  o.budget_gb = e.total_bytes / GB + 0.01;
  EXPECT_TRUE(est("llama-3.1-70b", "nvfp4", o).fits);
  // a long context at batch 16 no longer fits
  MemoryOptions big;
  big.context = 131072;
  big.batch = 16;
  EXPECT_FALSE(est("llama-3.1-70b", "nvfp4", big).fits);
  EXPECT_THROW(estimate_memory(builtin_model("llama-3.1-8b"), scheme_from_name("bf16", builtin_model("llama-3.1-8b")),
                               MemoryOptions{0, 1, KvDtype::F16, 128}),
               Error);
}

TEST(MemoryModel, FormatsOrderAsTheirBits) {
  double last = 1e300;
  for (const char* s : {"bf16", "int8", "fp8", "nvfp4", "int4-g128"}) {
    double w = est("llama-3.1-8b", s).weight_bytes;
    EXPECT_LT(w, last) << s;
    last = w;
  }
}

TEST(MemoryModel, SchemesAndErrors) {
  const auto l8 = builtin_model("llama-3.1-8b");
  EXPECT_EQ(default_schemes(l8).size(), 7u);
  EXPECT_EQ(default_schemes(builtin_model("gpt-oss-20b")).size(), 8u);  // plus "released"
  EXPECT_EQ(scheme_from_name("int4-g64", l8).linear_format, "int4-g64");
  EXPECT_THROW(scheme_from_name("int5", l8), Error);
  EXPECT_THROW(scheme_from_name("released", l8), Error);  // Llama is published in BF16
}

TEST(MemoryModel, StorageCountsAreTheBytesQuantizeWrites) {
  // The calculator counts bytes with formats::storage_sizes at full shapes; check that those are the
  // bytes real quantization stores, at every row width the catalog's models quantize.
  std::set<std::int64_t> widths;
  for (const auto& m : builtin_models())
    for (const auto& t : m.tensors)
      if (is_linear_weight(t.role)) widths.insert(t.cols);
  EXPECT_EQ(widths.size(), 9u);
  for (const auto& s : default_schemes(builtin_model("gpt-oss-20b"))) {
    if (s.linear_format == "bf16") continue;
    auto spec = *formats::block_format_from_name(s.linear_format);
    for (auto cols : widths) {
      const std::int64_t rows = 3, padded = formats::padded_cols(spec, cols);
      std::vector<float> x(std::size_t(rows * padded));
      for (std::size_t i = 0; i < x.size(); ++i) x[i] = float(int(i % 17) - 8) * 0.01f;
      auto q = formats::quantize(spec, x, rows, padded);
      EXPECT_EQ(q.storage_bytes(), formats::storage_sizes(spec, rows, padded).total()) << s.name << " " << cols;
    }
  }
}

TEST(MemoryModel, TensorBitsPerWeight) {
  // block-formats.md §6, plus the per-tensor fp32 scalar where the format has one
  EXPECT_DOUBLE_EQ(tensor_bits_per_weight("nvfp4", 16, 4096), 4.5 + 32.0 / (16 * 4096));
  EXPECT_DOUBLE_EQ(tensor_bits_per_weight("mxfp4", 16, 4096), 4.25);
  EXPECT_DOUBLE_EQ(tensor_bits_per_weight("nf4", 16, 4096), 4.5);
  EXPECT_DOUBLE_EQ(tensor_bits_per_weight("int4-g128", 16, 4096), 4.15625);  // fp16 scale + 4-bit zero
  EXPECT_DOUBLE_EQ(tensor_bits_per_weight("int8-ch", 16, 4096), 8.0 + 32.0 / 4096);
  EXPECT_DOUBLE_EQ(tensor_bits_per_weight("bf16", 16, 4096), 16.0);
  // GPT-OSS rows of 2880 are not whole 128-groups: padded to 2944, 1472 + 23 x 2 + 12 bytes per row
  EXPECT_DOUBLE_EQ(tensor_bits_per_weight("int4-g128", 4, 2880), 1530.0 * 8 / 2880);
  EXPECT_THROW(tensor_bits_per_weight("nvfp5", 4, 64), Error);
}

// A config whose every field is within its own bound but whose product is not (a reliability review's
// reproduction: 2^30 layers, 2^20 wide) printed garbage from a signed 64-bit overflow (undefined
// behaviour; UBSan stops the test there). It must be an error naming the file.
TEST(MemoryModel, ShapesThatOverflowAreAnErrorNamingTheFile) {
  auto expect_refused = [](const nlohmann::json& cfg, const char* field) {
    try {
      const ModelArch m = arch_from_hf_config(cfg, "huge/config.json");
      const auto e = estimate_memory(m, scheme_from_name("nvfp4", m), {});
      ADD_FAILURE() << "accepted: " << m.parameter_count() << " parameters, " << e.total_bytes << " bytes";
    } catch (const Error& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find("huge/config.json"), std::string::npos) << msg;
      EXPECT_NE(msg.find(field), std::string::npos) << msg;
    }
  };
  nlohmann::json c = {{"model_type", "llama"},      {"num_hidden_layers", 1 << 30}, {"hidden_size", 1 << 20},
                      {"head_dim", 1 << 20},        {"num_attention_heads", 1},     {"num_key_value_heads", 1},
                      {"intermediate_size", 1 << 20}, {"vocab_size", 1 << 20}};
  expect_refused(c, "num_hidden_layers");
  c["num_hidden_layers"] = 1 << 14;  // within every field's bound, past 2^50 parameters together
  expect_refused(c, "parameters");
  nlohmann::json moe = {{"model_type", "gpt_oss"},        {"num_hidden_layers", 1 << 14}, {"hidden_size", 1 << 20},
                        {"num_attention_heads", 1},        {"head_dim", 64},               {"num_key_value_heads", 1},
                        {"intermediate_size", 1 << 20},    {"vocab_size", 1 << 24},        {"num_local_experts", 1 << 14}};
  expect_refused(moe, "parameters");
}

}  // namespace
}  // namespace qlab::capacity
