// qlab quantize-tensor --method gptq|awq and qlab ppl --method gptq|awq through the real binary: the
// numbers they print (output error beside RTN's; perplexity with a calibration report), and their usage
// errors (exit 2) and bad input (exit 1, one line naming the file).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/cli/qlab_run.h"

namespace {

namespace fs = std::filesystem;
using qlab::testing::quoted;
using qlab::testing::run_qlab;

fs::path fixtures() { return fs::path(QLAB_SOURCE_DIR) / "tests" / "fixtures" / "gptq"; }

std::string tensor_args(const std::string& method, const std::string& extra = "") {
  return "quantize-tensor --method " + method + " --format int4-g128 --in " + quoted(fixtures() / "W.bin") +
         " --rows 32 --cols 256 --acts " + quoted(fixtures() / "X.bin") + " --samples 512 " + extra;
}

TEST(CalibratedQuantCli, QuantizeTensorGptqAndAwqBesideRtn) {
  const auto dir = qlab::testing::scratch_dir("qlab-cq-cli");
  const auto g = run_qlab(dir, tensor_args("gptq", "--json --dequant-out q.bin"));
  ASSERT_EQ(g.code, 0) << g.err;
  const auto j = nlohmann::json::parse(g.out);
  EXPECT_LT(j["output_error"].get<double>() * 5, j["rtn_output_error"].get<double>());
  EXPECT_EQ(j["dead_columns"], 2);
  EXPECT_EQ(fs::file_size(dir / "q.bin"), 32u * 256 * 4);
  const auto act = nlohmann::json::parse(run_qlab(dir, tensor_args("gptq", "--json --act-order")).out);
  EXPECT_LT(act["output_error"].get<double>(), j["output_error"].get<double>());
  const auto a = run_qlab(dir, tensor_args("awq", "--json"));
  ASSERT_EQ(a.code, 0) << a.err;
  const auto ja = nlohmann::json::parse(a.out);
  EXPECT_LT(ja["output_error"].get<double>(), ja["rtn_output_error"].get<double>());
  const auto text = run_qlab(dir, tensor_args("gptq"));
  EXPECT_NE(text.out.find("output error    ||(Q-W)X^T||^2/||WX^T||^2 = "), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("(rtn "), std::string::npos) << text.out;
}

TEST(CalibratedQuantCli, UsageAndInputErrors) {
  const auto dir = qlab::testing::scratch_dir("qlab-cq-cli");
  EXPECT_EQ(run_qlab(dir, "quantize-tensor --format int4-g128 --synthetic gaussian --acts x.bin").code, 2);
  EXPECT_EQ(run_qlab(dir, "quantize-tensor --method gptq --format int4-g128 --synthetic gaussian").code, 2);
  EXPECT_EQ(run_qlab(dir, tensor_args("awq", "--act-order")).code, 2);
  EXPECT_EQ(run_qlab(dir, "ppl builtin --method gptq").code, 2);
  EXPECT_EQ(run_qlab(dir, "ppl builtin --quant int4-g128 --samples 4").code, 2);
  const auto nv = run_qlab(dir, tensor_args("gptq").replace(tensor_args("gptq").find("int4-g128"), 9, "nvfp4"));
  EXPECT_EQ(nv.code, 1);
  EXPECT_NE(nv.err.find("not nvfp4"), std::string::npos) << nv.err;
  const auto nocalib = run_qlab(dir, "ppl builtin --quant int4-g128 --method gptq --calib missing.txt");
  EXPECT_EQ(nocalib.code, 1);
  EXPECT_NE(nocalib.err.find("missing.txt"), std::string::npos) << nocalib.err;
  std::ofstream(dir / "short.txt") << "too short";
  const auto shortt = run_qlab(dir, "ppl builtin --quant int4-g128 --method awq --calib short.txt");
  EXPECT_EQ(shortt.code, 1);
  EXPECT_NE(shortt.err.find("fewer than one calibration window of 128"), std::string::npos) << shortt.err;
  EXPECT_EQ(shortt.err.find('\n'), shortt.err.size() - 1) << shortt.err;  // one line
}

TEST(CalibratedQuantCli, PplGptqReportsItsCalibration) {
  const auto dir = qlab::testing::scratch_dir("qlab-cq-cli");
  const auto r = run_qlab(dir, "ppl builtin --quant int4-g64 --method gptq --samples 16 --seed 3 --chunks 8 --json");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["calibration"]["method"], "gptq");
  EXPECT_EQ(j["calibration"]["samples"], 16);
  EXPECT_EQ(j["calibration"]["seq_len"], 128);
  EXPECT_EQ(j["calibration"]["linears"].size(), 28u);
  EXPECT_GT(j["ppl"].get<double>(), 1.0);
}

}  // namespace
