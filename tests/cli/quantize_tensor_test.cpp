// `qlab quantize-tensor`, run as the real binary: the NVFP4 worked example of block-formats.md 1.2
// through a file, synthetic tensors, padding, and the exit codes of bad input.
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/cli/qlab_run.h"
#include <nlohmann/json.hpp>

namespace {

namespace fs = std::filesystem;

using Result = qlab::testing::QlabRun;
using qlab::testing::run_qlab;
using qlab::testing::slurp;

fs::path work_dir() { return qlab::testing::scratch_dir("qlab-qt-cli"); }

void write_floats(const fs::path& p, const std::vector<float>& v) {
  std::ofstream(p, std::ios::binary).write(reinterpret_cast<const char*>(v.data()), static_cast<std::streamsize>(v.size() * 4));
}

std::vector<float> read_floats(const fs::path& p) {
  std::string s = slurp(p);
  std::vector<float> v(s.size() / 4);
  std::memcpy(v.data(), s.data(), v.size() * 4);
  return v;
}

const std::vector<float> kRow = {5.25f, -2.625f, 1.0f,  0.25f,  -0.625f, 2.1875f, -5.25f, 0.0f,  4.375f, -1.3125f, 0.4375f,
                                 2.625f, -1.75f, 0.125f, 4.8125f, -0.875f, 0.85f,  -0.4f,  0.3f,  0.1f,   -0.55f,   0.05f,
                                 0.7f,  -0.2f,  0.0f,  0.6f,   -0.35f,  0.45f,   -0.08f, 0.18f, -0.85f, 0.25f};

TEST(QuantizeTensorCli, Nvfp4WorkedExampleThroughAFile) {
  fs::path d = work_dir();
  write_floats(d / "w.bin", kRow);
  Result r = run_qlab(d, "quantize-tensor --format nvfp4 --in w.bin --rows 1 --cols 32 --dequant-out deq.bin --json");
  ASSERT_EQ(r.code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  // 16 bytes of codes + 2 E4M3 scales + the fp32 tensor scale = 22 bytes for 32 weights
  EXPECT_EQ(j["storage_bytes"], 22);
  EXPECT_DOUBLE_EQ(j["bits_per_weight"].get<double>(), 22 * 8 / 32.0);
  // largest error: 4.375 -> 3.5 (a tie at 5.0 rounded to the even code 4.0, times 0.875)
  EXPECT_DOUBLE_EQ(j["max_abs_error"].get<double>(), 0.875);
  EXPECT_EQ(j["max_abs_error_at"], nlohmann::json::array({0, 8}));
  std::vector<float> y = read_floats(d / "deq.bin");
  ASSERT_EQ(y.size(), 32u);
  EXPECT_EQ(y[5], 1.75f);
  EXPECT_EQ(y[14], 5.25f);
  EXPECT_EQ(y[16], 0.84375f);
  EXPECT_EQ(y[30], -0.84375f);
  double se = 0, sx = 0;
  for (std::size_t i = 0; i < 32; ++i) {
    se += (double(y[i]) - kRow[i]) * (double(y[i]) - kRow[i]);
    sx += double(kRow[i]) * kRow[i];
  }
  EXPECT_NEAR(j["mse"].get<double>(), se / 32, 1e-12);
  EXPECT_NEAR(j["sqnr_db"].get<double>(), 10 * std::log10(sx / se), 1e-9);
  fs::remove_all(d);
}

TEST(QuantizeTensorCli, SyntheticIsDeterministicAndReportsRealBits) {
  fs::path d = work_dir();
  Result a = run_qlab(d, "quantize-tensor --format int4-g128 --synthetic laplace --rows 64 --cols 1024 --seed 3 --json");
  Result b = run_qlab(d, "quantize-tensor --format int4-g128 --synthetic laplace --rows 64 --cols 1024 --seed 3 --json");
  Result c = run_qlab(d, "quantize-tensor --format int4-g128 --synthetic laplace --rows 64 --cols 1024 --seed 4 --json");
  ASSERT_EQ(a.code, 0) << a.err;
  auto ja = nlohmann::json::parse(a.out), jb = nlohmann::json::parse(b.out), jc = nlohmann::json::parse(c.out);
  EXPECT_EQ(ja["mse"], jb["mse"]);
  EXPECT_NE(ja["mse"], jc["mse"]);
  EXPECT_DOUBLE_EQ(ja["bits_per_weight"].get<double>(), 4.15625);  // f16 scale + 4-bit zero per 128
  // 4-bit asymmetric on std-0.02 data: SQNR in the usual 15..25 dB band
  EXPECT_GT(ja["sqnr_db"].get<double>(), 15);
  EXPECT_LT(ja["sqnr_db"].get<double>(), 25);
  std::uint64_t total = 0;
  for (auto n : ja["histogram"]["counts"]) total += n.get<std::uint64_t>();
  EXPECT_EQ(total, 64u * 1024u);
  fs::remove_all(d);
}

TEST(QuantizeTensorCli, ColumnsNotFillingBlocksAskForPadding) {
  fs::path d = work_dir();
  Result r = run_qlab(d, "quantize-tensor --format nvfp4 --synthetic gaussian --rows 4 --cols 40");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("nvfp4"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("16"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--pad"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  r = run_qlab(d, "quantize-tensor --format nvfp4 --synthetic gaussian --rows 4 --cols 40 --pad --json --dequant-out y.bin");
  ASSERT_EQ(r.code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["padded_cols"], 48);
  EXPECT_EQ(read_floats(d / "y.bin").size(), 4u * 40u);  // the original shape comes back
  fs::remove_all(d);
}

TEST(QuantizeTensorCli, BadInputIsOneLineAndTheRightExitCode) {
  fs::path d = work_dir();
  write_floats(d / "w.bin", kRow);
  Result r = run_qlab(d, "quantize-tensor --format nvfp4 --in w.bin --rows 2 --cols 32");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("w.bin"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("256"), std::string::npos) << r.err;  // the bytes it needs
  std::vector<float> bad = kRow;
  bad[7] = NAN;
  write_floats(d / "nan.bin", bad);
  r = run_qlab(d, "quantize-tensor --format mxfp4 --in nan.bin --rows 1 --cols 32");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("column 7"), std::string::npos) << r.err;
  EXPECT_EQ(run_qlab(d, "quantize-tensor --format nvfp5 --synthetic gaussian").code, 2);
  EXPECT_EQ(run_qlab(d, "quantize-tensor --format e4m3 --synthetic gaussian").code, 2);
  EXPECT_EQ(run_qlab(d, "quantize-tensor --format nvfp4").code, 2);
  EXPECT_EQ(run_qlab(d, "quantize-tensor --format nvfp4 --synthetic gaussian --in w.bin").code, 2);
  EXPECT_EQ(run_qlab(d, "quantize-tensor --format nvfp4 --in w.bin").code, 2);
  EXPECT_EQ(run_qlab(d, "quantize-tensor --format nvfp4 --synthetic cauchy").code, 2);
  EXPECT_EQ(run_qlab(d, "quantize-tensor --format nvfp4 --in missing.bin --rows 1 --cols 32").code, 1);
  for (const char* f : {"nvfp4", "mxfp4", "nf4", "nf4-dq", "int4-g128", "int4-g128-sym", "int8-ch", "fp8-tensor",
                        "fp8-channel"})
    EXPECT_EQ(run_qlab(d, std::string("quantize-tensor --synthetic gaussian-outliers --rows 8 --cols 256 --format ") + f).code, 0) << f;
  fs::remove_all(d);
}

}  // namespace
