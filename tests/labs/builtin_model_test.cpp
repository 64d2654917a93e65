// Lab 2's and lab 3's model steps on the built-in model, checked against references computed here:
// `qlab ppl` run as a separate process on the same text and context (its own tokenization and BOS
// handling), and the runtime's perplexity against the trainer's (two forward passes written apart).
// Nothing here knows the model's numbers: it may be retrained, and the checks hold for any model.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "engine/core/atomic_file.h"
#include "engine/eval/perplexity.h"
#include "engine/formats/block.h"
#include "engine/io/safetensors.h"
#include "engine/io/tokenizer.h"
#include "engine/model/model.h"
#include "labs/lab.h"

namespace qlab::labs {
namespace {

namespace fs = std::filesystem;

fs::path builtin_dir() { return fs::path(QLAB_SOURCE_DIR) / "assets" / "builtin"; }

JobContext builtin_ctx() {
  JobContext ctx;
  ctx.model.display = "built-in";
  ctx.model.dir = builtin_dir();
  ctx.model.builtin = true;
  return ctx;
}

StepResult run(const std::string& lab, const std::string& step) {
  return run_step(*find_lab(lab)->find(step), builtin_ctx(), Progress::none(), {});
}

// `qlab ARGS --json` as its own process; the parsed standard output.
nlohmann::json qlab_json(const std::string& args) {
  const std::string cmd = std::string("'") + QLAB_BINARY + "' " + args + " --json 2>/dev/null";
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return {};
  std::string out;
  std::array<char, 4096> buf{};
  std::size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  const int st = ::pclose(p);
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << cmd << "\n" << out;
  return nlohmann::json::parse(out, nullptr, false);
}

class BuiltinModel : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(fs::exists(builtin_dir() / "config.json")) << builtin_dir() << ": the built-in model is part of the tree";
    ASSERT_TRUE(fs::exists(builtin_dir() / "eval.txt"));
  }
};

TEST_F(BuiltinModel, Lab2PerplexityMatchesQlabPplBeforeAndAfterNvfp4) {
  StepResult r = run("lab02", "lab02.perplexity");
  ASSERT_EQ(r.outcome, Outcome::Done) << r.message;
  const model::Model m = model::Model::load(builtin_dir());
  const std::int64_t n_ctx = r.record["n_ctx"].get<std::int64_t>();
  const std::int64_t chunks = r.record["chunks"].get<std::int64_t>();
  // The context is the model's own when shorter than 512; by default the whole text is scored.
  EXPECT_EQ(n_ctx, std::min<std::int64_t>(512, m.config().max_position_embeddings));
  EXPECT_EQ(chunks, r.record["text_tokens"].get<std::int64_t>() / n_ctx);

  // The command line's paired run, as the step's text tells the learner to type it.
  const nlohmann::json ref = qlab_json("ppl '" + builtin_dir().string() + "' --text '" +
                                       (builtin_dir() / "eval.txt").string() + "' --quant nvfp4 --kld");
  ASSERT_TRUE(ref.contains("base")) << ref.dump();
  EXPECT_EQ(ref["ctx"].get<std::int64_t>(), n_ctx);
  EXPECT_EQ(ref["base"]["chunks"].get<std::int64_t>(), chunks);
  EXPECT_EQ(ref["base"]["scored_tokens"].get<std::int64_t>(), r.record["scored_tokens"].get<std::int64_t>());
  const double b = r.record["ppl_before"].get<double>(), a = r.record["ppl_after"].get<double>();
  std::printf("[ lab 2 ] ppl %.4f -> %.4f with nvfp4 (qlab ppl: %.4f -> %.4f), ctx %lld, %lld chunks, KLD %.5f\n", b, a,
              ref["base"]["ppl"].get<double>(), ref["quantized"]["ppl"].get<double>(), static_cast<long long>(n_ctx),
              static_cast<long long>(chunks), r.record["mean_kld"].get<double>());
  // The step runs the text a few chunks at a time and adds the per-token values in the command's
  // order, so the figures are the command's to the last bit.
  EXPECT_EQ(b, ref["base"]["ppl"].get<double>());
  EXPECT_EQ(a, ref["quantized"]["ppl"].get<double>());
  EXPECT_EQ(r.record["ln_ratio"].get<double>(), ref["ln_ppl_ratio"].get<double>());
  EXPECT_EQ(r.record["ln_ratio_error"].get<double>(), ref["ln_ppl_ratio_error"].get<double>());
  EXPECT_EQ(r.record["mean_kld"].get<double>(), ref["kld"]["mean"].get<double>());
  EXPECT_EQ(r.record["kld_error"].get<double>(), ref["kld"]["error"].get<double>());
  EXPECT_EQ(r.record["same_top"].get<double>(), ref["same_top"]["fraction"].get<double>());
  EXPECT_EQ(r.record["matrices"].get<int>(), ref["quant"]["matrices"].get<int>());
  EXPECT_EQ(r.record["matrices"].get<int>(), 7 * m.config().num_hidden_layers);
  // Rounding every weight to 4 bits costs something, and not everything.
  EXPECT_GT(a, b);
  EXPECT_LT(a, 2 * b);
  EXPECT_GT(b, 1.0);
  EXPECT_LT(b, m.config().vocab_size);  // better than guessing uniformly
  EXPECT_GT(r.record["mean_kld"].get<double>(), 0.0);
}

TEST_F(BuiltinModel, Lab2CompareGivesNvfp4FourAndAHalfBitsPerWeight) {
  StepResult r = run("lab02", "lab02.compare");
  ASSERT_EQ(r.outcome, Outcome::Done) << r.message;
  // The tensor's shape from the file: 4-bit codes, one 8-bit scale per 16, one fp32 scale per tensor.
  io::TensorStore store = io::TensorStore::open(builtin_dir());
  const io::TensorRef& t = store.at(r.record["tensor"].get<std::string>());
  ASSERT_EQ(t.shape.size(), 2u);
  const double n = static_cast<double>(t.shape[0] * t.shape[1]);
  EXPECT_NEAR(r.record["nvfp4"]["bits_per_weight"].get<double>(), 4.5 + 32.0 / n, 1e-9);
  EXPECT_NEAR(r.record["mxfp4"]["bits_per_weight"].get<double>(), 4.25, 1e-9);  // one 8-bit scale per 32
  // Rows wide enough for whole 128-groups, so no padding: 4-bit codes plus a 16-bit scale and a 4-bit
  // zero point per 128 weights.
  EXPECT_GE(t.shape[1], 256);
  EXPECT_NEAR(r.record["int4-g128"]["bits_per_weight"].get<double>(), 4.0 + 20.0 / 128, 1e-9);
  // A trained tensor is not far from a bell curve: 4-bit formats land in the 3-to-5-bit uniform band.
  for (const char* f : {"nvfp4", "mxfp4", "nf4", "int4-g128"}) {
    const double s = r.record[f]["sqnr_db"].get<double>();
    EXPECT_GT(s, 10.0) << f;
    EXPECT_LT(s, 30.0) << f;
  }
}

TEST_F(BuiltinModel, Lab3Fp8InferenceIsCloseToFp32AndFp32MatchesTheRuntime) {
  StepResult r = run("lab03", "lab03.fp8_inference");
  ASSERT_EQ(r.outcome, Outcome::Done) << r.message;
  const double f32 = r.record["ppl_fp32"].get<double>(), bf16 = r.record["ppl_bf16"].get<double>(),
               fp8 = r.record["ppl_fp8"].get<double>();
  const std::int64_t scored = r.record["scored_tokens"].get<std::int64_t>();

  // Reference: the runtime (engine/model), not the trainer's forward pass the step uses, on the
  // chunks `qlab ppl` makes: eval.txt tokenized with BOS first when the tokenizer adds one, BOS
  // written on each chunk's first position, 512 tokens per chunk or the model's context if shorter.
  const model::Model m = model::Model::load(builtin_dir());
  const io::Tokenizer tok = io::Tokenizer::load(builtin_dir());
  const auto ids = tok.encode(read_file(builtin_dir() / "eval.txt"), true);
  eval::PplOptions opt;
  opt.n_ctx = std::min(512, m.config().max_position_embeddings);
  if (tok.bos_id() && ids.front() == *tok.bos_id()) opt.bos = tok.bos_id();
  const eval::PplResult ref = eval::perplexity(m, ids, opt);
  std::printf("[ lab 3 ] ppl fp32 %.5f (runtime %.5f), bf16 %.5f, fp8 %.5f, %lld tokens\n", f32, ref.nll.ppl(), bf16,
              fp8, static_cast<long long>(scored));
  EXPECT_EQ(r.record["n_ctx"].get<std::int64_t>(), opt.n_ctx);
  EXPECT_EQ(scored, ref.nll.count);
  EXPECT_NEAR(f32, ref.nll.ppl(), 1e-4 * ref.nll.ppl());

  ASSERT_TRUE(std::isfinite(fp8));
  ASSERT_TRUE(std::isfinite(bf16));
  EXPECT_NE(fp8, f32);  // the casts really happened
  EXPECT_NE(bf16, f32);
  // Per-tensor E4M3 with calibrated scales keeps a model close: within 10% of float32.
  EXPECT_NEAR(fp8, f32, 0.10 * f32);
  EXPECT_NEAR(bf16, f32, 0.05 * f32);
}

// Lab 3's FP32 row and lab 2's original-weights row are one measurement (one text, one protocol), made
// by two forward passes written apart: they agree to float rounding, not to a token's difference.
TEST_F(BuiltinModel, Lab3Fp32EqualsLab2OriginalOnTheSameTextAndProtocol) {
  StepResult r2 = run("lab02", "lab02.perplexity");
  StepResult r3 = run("lab03", "lab03.fp8_inference");
  ASSERT_EQ(r2.outcome, Outcome::Done) << r2.message;
  ASSERT_EQ(r3.outcome, Outcome::Done) << r3.message;
  EXPECT_EQ(r2.record["scored_tokens"].get<std::int64_t>(), r3.record["scored_tokens"].get<std::int64_t>());
  EXPECT_EQ(r2.record["n_ctx"].get<std::int64_t>(), r3.record["n_ctx"].get<std::int64_t>());
  const double p2 = r2.record["ppl_before"].get<double>(), p3 = r3.record["ppl_fp32"].get<double>();
  EXPECT_NEAR(p2, p3, 1e-4 * p2);
  // Both say which text they scored, in the same words.
  EXPECT_EQ(r2.record["text"], r3.record["text"]);
}

}  // namespace
}  // namespace qlab::labs
