// Lab 2's jobs (and lab 1's model-tensor step) on a small model folder written here, and the memory
// table against hand-derived byte counts.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>

#include "engine/capacity/model_arch.h"
#include "engine/core/input_file.h"
#include "engine/eval/perplexity.h"
#include "engine/eval/ppl_setup.h"
#include "engine/io/model_config.h"
#include "engine/io/tokenizer.h"
#include "engine/model/model.h"
#include "engine/io/safetensors.h"
#include "engine/tensor/synthetic.h"
#include "labs/lab.h"
#include "tests/temp_dir.h"

namespace qlab::labs {
namespace {

namespace fs = std::filesystem;

class Lab02Test : public ::testing::Test {
 protected:
  static constexpr std::int64_t kRows = 64, kCols = 256;
  void SetUp() override {
    const std::filesystem::path tmpl = qlab::testing::make_temp_dir("qlab-lab02");
    ASSERT_FALSE(tmpl.empty()) << "cannot make a temporary folder";
    dir_ = tmpl;
    w_ = tensor::synthetic_tensor(tensor::SyntheticKind::Gaussian, kRows * kCols);
    io::TensorToWrite t{"model.layers.0.self_attn.q_proj.weight", io::DType::F32, {kRows, kCols},
                        std::as_bytes(std::span<const float>(w_))};
    io::write_safetensors(dir_ / "model.safetensors", {t});
  }
  void TearDown() override { fs::remove_all(dir_); }
  StepResult run(const std::string& lab, const std::string& id) {
    JobContext ctx;
    ctx.model.display = dir_.string();
    ctx.model.dir = dir_;
    ctx.model.builtin = false;
    return run_step(*find_lab(lab)->find(id), ctx, Progress::none(), {});
  }
  fs::path dir_;
  std::vector<float> w_;
};

TEST_F(Lab02Test, BlockScalesFollowTheNvfp4Recipe) {
  StepResult r = run("lab02", "lab02.block_scales");
  ASSERT_EQ(r.outcome, Outcome::Done) << r.message;
  double amax = 0;
  for (float v : w_) amax = std::max(amax, static_cast<double>(std::fabs(v)));
  // ModelOpt: tensor scale = amax / (6 * 448); one E4M3 scale per 16 weights
  EXPECT_NEAR(r.record["tensor_scale"].get<double>(), amax / 2688.0, amax / 2688.0 * 1e-6);
  EXPECT_EQ(r.record["blocks"].get<int>(), kRows * kCols / 16);
  // 4 bits per weight + 8 bits per 16 + one fp32 tensor scale
  EXPECT_NEAR(r.record["bits_per_weight"].get<double>(), 4.5 + 32.0 / (kRows * kCols), 1e-9);
}

TEST_F(Lab02Test, CompareReportsBitsPerWeightFromRealBytes) {
  StepResult r = run("lab02", "lab02.compare");
  ASSERT_EQ(r.outcome, Outcome::Done) << r.message;
  EXPECT_NEAR(r.record["mxfp4"]["bits_per_weight"].get<double>(), 4.25, 0.005);  // 8-bit scale per 32
  EXPECT_NEAR(r.record["nvfp4"]["bits_per_weight"].get<double>(), 4.5, 0.005);   // 8-bit scale per 16
  EXPECT_NEAR(r.record["nf4"]["bits_per_weight"].get<double>(), 4.5, 0.005);     // fp32 absmax per 64
  EXPECT_LT(r.record["nf4-dq"]["bits_per_weight"].get<double>(), 4.5);
  double g128 = r.record["int4-g128"]["bits_per_weight"].get<double>();
  EXPECT_GT(g128, 4.1);
  EXPECT_LT(g128, 4.2);
  for (const char* f : {"nvfp4", "mxfp4", "nf4", "int4-g128"}) {
    double s = r.record[f]["sqnr_db"].get<double>();
    // 4 bits of codes: between the 3-bit and 5-bit uniform-quantizer figures on a bell curve
    EXPECT_GT(s, 12.0) << f;
    EXPECT_LT(s, 25.0) << f;
  }
}

TEST_F(Lab02Test, ModelTensorStepMeasuresTheRealTensor) {
  StepResult r = run("lab01", "lab01.model_tensor");
  ASSERT_EQ(r.outcome, Outcome::Done) << r.message;
  EXPECT_NE(r.record["tensor"].get<std::string>().find("q_proj"), std::string::npos);
  double amax = 0, ms = 0;
  for (float v : w_) {
    amax = std::max(amax, static_cast<double>(std::fabs(v)));
    ms += static_cast<double>(v) * v;
  }
  ms /= static_cast<double>(w_.size());
  double d = amax / 127;
  EXPECT_NEAR(r.record["sqnr_db"]["model tensor"]["int8"].get<double>(), 10 * std::log10(12 * ms / (d * d)), 0.5);
}

TEST(Lab02Memory, TableMatchesHandCountedBytes) {
  StepResult r = run_step(*find_lab("lab02")->find("lab02.memory"), JobContext{}, Progress::none(), {});
  ASSERT_EQ(r.outcome, Outcome::Done) << r.message;
  const auto a70 = capacity::builtin_model("llama-3.1-70b");
  const double params = static_cast<double>(a70.parameter_count());
  const double embed_head = 2.0 * a70.config.vocab_size * a70.config.hidden_size;  // untied: embeddings + output head
  // BF16: 2 bytes per parameter
  EXPECT_NEAR(r.record["llama-3.1-70b"]["bf16"]["weights_gb"].get<double>(), params * 2 / 1e9, 0.05);
  // NVFP4: linear weights at 4.5 bits, embeddings and head kept in BF16 (norms: tiny, in the tolerance)
  EXPECT_NEAR(r.record["llama-3.1-70b"]["nvfp4"]["weights_gb"].get<double>(),
              ((params - embed_head) * 4.5 / 8 + embed_head * 2) / 1e9, 0.1);
  EXPECT_FALSE(r.record["llama-3.1-70b"]["bf16"]["fits"].get<bool>());  // 140 GB > 128 GB
  EXPECT_TRUE(r.record["llama-3.1-70b"]["nvfp4"]["fits"].get<bool>());
  EXPECT_TRUE(r.record["llama-3.1-8b"]["bf16"]["fits"].get<bool>());
}

TEST(Lab03, InferenceWithoutTheModelSaysSo) {
  JobContext ctx;
  ctx.model.dir = "/nonexistent-model-dir";
  StepResult r = run_step(*find_lab("lab03")->find("lab03.fp8_inference"), ctx, Progress::none(), {});
  EXPECT_EQ(r.outcome, Outcome::NotAvailable);
  EXPECT_NE(r.message.find("config.json"), std::string::npos) << r.message;
}

}  // namespace
}  // namespace qlab::labs

namespace qlab::labs {
namespace {

// The checkpoint step on the built-in model: three checkpoints written where the step keeps its files,
// their sizes as the written files hold them (counted here from the safetensors headers and the
// format's layout: NVFP4 = 4 bits a weight, one E4M3 byte per 16, two float32 scalars per Linear),
// each perplexity that of the written folder loaded and scored on its own, and no milestone for a
// model this small.
TEST(Lab02Checkpoint, WritesMeasuresAndScoresTheBuiltinModel) {
  const fs::path builtin = fs::path(QLAB_SOURCE_DIR) / "assets" / "builtin";
  const fs::path out = qlab::testing::make_temp_dir("qlab-lab02-checkpoint");
  ASSERT_FALSE(out.empty());
  JobContext ctx;
  ctx.model.display = "built-in";
  ctx.model.dir = builtin;
  ctx.builtin_dir = builtin;
  ctx.out_dir = out;
  const StepResult r = run_step(*find_lab("lab02")->find("lab02.checkpoint"), ctx, Progress::none(), {});
  ASSERT_EQ(r.outcome, Outcome::Done) << r.message;
  const auto& rows = r.record["checkpoints"];
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0]["method"], "nvfp4");
  EXPECT_EQ(rows[1]["method"], "mxfp4");
  EXPECT_EQ(rows[2]["method"], "fp8");
  const eval::PplSetup setup = [&] {
    const io::Tokenizer tok = io::Tokenizer::load(builtin);
    eval::PplRequest q;
    q.text = read_file(builtin / "eval.txt");
    return eval::ppl_setup(io::load_model_config(builtin / "config.json"), &tok, q);
  }();
  for (const auto& row : rows) {
    SCOPED_TRACE(row["method"].get<std::string>());
    const fs::path folder = row["folder"].get<std::string>();
    ASSERT_TRUE(fs::is_regular_file(folder / "config.json"));
    EXPECT_EQ(folder.parent_path(), out) << "kept in the step's folder";
    const io::TensorStore st = io::TensorStore::open(folder);
    std::uint64_t linear = 0, all = 0, disk = 0;
    for (const auto& name : st.names()) {
      const std::uint64_t n = st.at(name).bytes.size();
      all += n;
      if (name.find("_proj.") != std::string::npos) linear += n;
    }
    for (const auto& e : fs::directory_iterator(folder)) disk += e.file_size();
    EXPECT_EQ(row["linear_written_bytes"].get<std::uint64_t>(), linear);
    EXPECT_EQ(row["written_tensor_bytes"].get<std::uint64_t>(), all);
    EXPECT_EQ(row["written_bytes"].get<std::uint64_t>(), disk);
    const double ppl = eval::perplexity(model::Model::load(folder), setup.tokens, setup.options).nll.ppl();
    EXPECT_NEAR(row["ppl"].get<double>(), ppl, 1e-9 * ppl);
    EXPECT_GT(row["resident_peak_bytes"].get<std::uint64_t>(), 0u);
  }
  const std::uint64_t w = rows[0]["linear_weights"].get<std::uint64_t>();
  EXPECT_EQ(w, 4u * (2 * 64 * 64 + 2 * 32 * 64 + 3 * 64 * 256));  // q, o; k, v (one head of 32); gate, up, down
  EXPECT_EQ(rows[0]["linear_written_bytes"].get<std::uint64_t>(), w / 2 + w / 16 + 28 * 8);
  EXPECT_EQ(r.record["completes_milestone"], false);
  EXPECT_LT(r.record["parameters"].get<double>(), 1e6);
  fs::remove_all(out);
}

}  // namespace
}  // namespace qlab::labs
