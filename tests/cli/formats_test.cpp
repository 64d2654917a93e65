// `qlab formats list` and `qlab formats encode`, run as the real binary: outputs against values
// worked out by hand (number-formats.md), and the exit codes of bad input.
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "tests/cli/qlab_run.h"
#include <nlohmann/json.hpp>

namespace {

namespace fs = std::filesystem;

using Result = qlab::testing::QlabRun;

// Runs `qlab ARGS < stdin_text` in a scratch folder that is removed afterwards.
Result run_qlab(const std::string& args, const std::string& stdin_text = "") {
  const fs::path dir = qlab::testing::scratch_dir("qlab-formats-cli");
  Result r = qlab::testing::run_qlab(dir, args, stdin_text);
  fs::remove_all(dir);
  return r;
}

nlohmann::json encode_json(const std::string& format, const std::string& input, bool saturate = true) {
  Result r = run_qlab("formats encode --json --format " + format + (saturate ? "" : " --no-saturate"), input);
  EXPECT_EQ(r.code, 0) << r.err;
  return nlohmann::json::parse(r.out);
}

TEST(FormatsEncodeCli, F16JsonBothModes) {
  const std::string in = "1\n0.1\n-2.5\n65520\n0.000000059604644775390625\n";
  const auto sat = encode_json("f16", in);
  ASSERT_EQ(sat.size(), 5u);
  EXPECT_EQ(sat[0]["bits"], "0x3C00");
  EXPECT_EQ(sat[0]["decoded"], 1.0);
  EXPECT_EQ(sat[1]["bits"], "0x2E66");
  EXPECT_EQ(sat[1]["decoded"], 0.0999755859375);
  EXPECT_EQ(sat[1]["input"], static_cast<double>(0.1f));
  EXPECT_EQ(sat[2]["bits"], "0xC100");
  EXPECT_EQ(sat[2]["decoded"], -2.5);
  EXPECT_EQ(sat[3]["bits"], "0x7BFF");  // saturating: 65504
  EXPECT_EQ(sat[3]["decoded"], 65504.0);
  EXPECT_EQ(sat[4]["bits"], "0x0001");  // 2^-24, the smallest subnormal
  const auto raw = encode_json("f16", in, false);
  EXPECT_EQ(raw[3]["bits"], "0x7C00");  // 65520 is the tie that rounds to inf
  EXPECT_EQ(raw[3]["decoded"], "inf");
}

TEST(FormatsEncodeCli, E4M3OverflowAndNaN) {
  const std::string in = "500\n0.1\n464\nnan\n-nan\n-0\n0x1p-9\n";
  const auto sat = encode_json("e4m3", in);
  ASSERT_EQ(sat.size(), 7u);
  EXPECT_EQ(sat[0]["bits"], "0x7E");
  EXPECT_EQ(sat[0]["decoded"], 448.0);
  EXPECT_EQ(sat[0]["error"], -52.0);
  EXPECT_EQ(sat[1]["bits"], "0x1D");
  EXPECT_EQ(sat[1]["decoded"], 0.1015625);
  EXPECT_EQ(sat[2]["bits"], "0x7E");  // tie 448 / 480 goes to the even mantissa
  EXPECT_EQ(sat[3]["bits"], "0x7F");
  EXPECT_EQ(sat[3]["decoded"], "nan");
  EXPECT_EQ(sat[4]["bits"], "0xFF");
  EXPECT_EQ(sat[5]["bits"], "0x80");
  EXPECT_EQ(sat[6]["bits"], "0x01");  // hex input: the smallest subnormal
  const auto raw = encode_json("e4m3", in, false);
  EXPECT_EQ(raw[0]["bits"], "0x7F");  // ml_dtypes: NaN past the range
  EXPECT_EQ(raw[0]["decoded"], "nan");
  EXPECT_EQ(raw[2]["bits"], "0x7E");
}

TEST(FormatsEncodeCli, E2M1TextTable) {
  Result r = run_qlab("formats encode --format e2m1", "0.75\n\n5\n-0.1\n7\n");
  ASSERT_EQ(r.code, 0) << r.err;
  std::istringstream lines(r.out);
  std::string l;
  std::vector<std::vector<std::string>> rows;
  while (std::getline(lines, l)) {
    std::istringstream w(l);
    std::vector<std::string> words;
    for (std::string s; w >> s;) words.push_back(s);
    if (words.size() == 4 && words[1].rfind("0x", 0) == 0) rows.push_back(words);
  }
  ASSERT_EQ(rows.size(), 4u) << r.out;  // the blank line is skipped
  EXPECT_EQ(rows[0], (std::vector<std::string>{"0.75", "0x2", "1", "0.25"}));
  EXPECT_EQ(rows[1], (std::vector<std::string>{"5", "0x6", "4", "-1"}));
  EXPECT_EQ(rows[2][1], "0x8");
  EXPECT_EQ(rows[2][2], "-0");
  EXPECT_EQ(rows[3], (std::vector<std::string>{"7", "0x7", "6", "-1"}));
}

TEST(FormatsEncodeCli, OutOfFloatRangeInput) {
  const auto raw = encode_json("f16", "1e39\n-1e39\n1e-50\n", false);
  EXPECT_EQ(raw[0]["bits"], "0x7C00");
  EXPECT_EQ(raw[1]["bits"], "0xFC00");
  EXPECT_EQ(raw[2]["bits"], "0x0000");
}

TEST(FormatsEncodeCli, IntsAndNf4AndE8m0) {
  auto i8 = encode_json("int8", "2.5\n-200\n");
  EXPECT_EQ(i8[0]["bits"], "0x02");
  EXPECT_EQ(i8[1]["bits"], "0x80");
  EXPECT_EQ(i8[1]["decoded"], -128.0);
  auto nf4 = encode_json("nf4", "0.5\n-0.3\n");
  EXPECT_EQ(nf4[0]["bits"], "0xC");
  EXPECT_EQ(nf4[0]["decoded"], static_cast<double>(0.44070982933044434f));
  EXPECT_EQ(nf4[1]["bits"], "0x4");
  auto e8 = encode_json("e8m0", "1\n0.25\n1.5\n");
  EXPECT_EQ(e8[0]["bits"], "0x7F");
  EXPECT_EQ(e8[1]["bits"], "0x7D");
  EXPECT_EQ(e8[2]["bits"], "0x80");
}

TEST(FormatsEncodeCli, MalformedLineNamesTheLine) {
  Result r = run_qlab("formats encode --format f16", "1\n2\n3.5abc\n4\n");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("line 3"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("3.5abc"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "one line: " << r.err;
  Result r2 = run_qlab("formats encode --format e4m3", "--1\n");
  EXPECT_EQ(r2.code, 1);
  EXPECT_NE(r2.err.find("line 1"), std::string::npos) << r2.err;
}

TEST(FormatsEncodeCli, UnknownFormatIsUsageErrorListingNames) {
  Result r = run_qlab("formats encode --format fp9", "1\n");
  EXPECT_EQ(r.code, 2);
  for (const char* name : {"fp9", "f16", "bf16", "e4m3", "e5m2", "e2m1", "e8m0", "int8", "int4", "nf4"})
    EXPECT_NE(r.err.find(name), std::string::npos) << name << " in: " << r.err;
  Result b = run_qlab("formats encode --format nvfp4", "1\n");
  EXPECT_EQ(b.code, 2);
  EXPECT_NE(b.err.find("block format"), std::string::npos) << b.err;
  Result m = run_qlab("formats encode", "1\n");
  EXPECT_EQ(m.code, 2);
  EXPECT_NE(m.err.find("--format"), std::string::npos) << m.err;
}

TEST(FormatsListCli, JsonProperties) {
  Result r = run_qlab("formats list --json");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  ASSERT_TRUE(j.is_array());
  // "nf4" is both a scalar format (the 16 levels) and a block format (bitsandbytes blockwise)
  auto find = [&](const std::string& name, const std::string& kind = "scalar") {
    for (const auto& e : j)
      if (e["name"] == name && e["kind"] == kind) return e;
    ADD_FAILURE() << kind << " " << name << " not listed";
    return nlohmann::json{};
  };
  const auto e4m3 = find("e4m3");
  EXPECT_EQ(e4m3["kind"], "scalar");
  EXPECT_EQ(e4m3["max_finite"], 448.0);
  EXPECT_EQ(e4m3["min_normal"], 0.015625);
  EXPECT_EQ(e4m3["min_subnormal"], 0.001953125);
  EXPECT_EQ(e4m3["finite_count"], 253);
  EXPECT_EQ(e4m3["bias"], 7);
  EXPECT_EQ(e4m3["has_inf"], false);
  EXPECT_EQ(find("e5m2")["max_finite"], 57344.0);
  EXPECT_EQ(find("f16")["min_subnormal"], 5.9604644775390625e-8);
  EXPECT_EQ(find("bf16")["max_finite"], 3.3895313892515355e38);
  EXPECT_EQ(find("e2m1")["finite_count"], 15);
  EXPECT_EQ(find("e8m0")["max_finite"], 1.7014118346046923e38);
  EXPECT_EQ(find("nf4")["bits"], 4);
  // block formats: bits per weight from real bytes of a 16 x 4096 tensor (65536 weights)
  // nvfp4: 32768 B codes + 4096 B e4m3 scales + 4 B fp32 tensor scale
  EXPECT_EQ(find("nvfp4", "block")["bits_per_weight"], 8.0 * (32768 + 4096 + 4) / 65536);
  // mxfp4: 32768 B codes + 2048 B e8m0 scales
  EXPECT_EQ(find("mxfp4", "block")["bits_per_weight"], 4.25);
  // nf4: 32768 B codes + 1024 blocks x 4 B float32 absmax
  EXPECT_EQ(find("nf4", "block")["bits_per_weight"], 4.5);
  // int4-g128: per row 2048 B codes + 32 groups x 2 B f16 scale + 32 x 4-bit packed zero points (16 B)
  EXPECT_EQ(find("int4-g128", "block")["bits_per_weight"], 8.0 * 16 * (2048 + 64 + 16) / 65536);
}

TEST(FormatsListCli, TextTable) {
  Result r = run_qlab("formats list");
  ASSERT_EQ(r.code, 0) << r.err;
  std::istringstream lines(r.out);
  std::string l;
  bool e4m3 = false, nvfp4 = false;
  while (std::getline(lines, l)) {
    std::istringstream w(l);
    std::vector<std::string> words;
    for (std::string s; w >> s;) words.push_back(s);
    if (words.size() > 9 && words[0] == "e4m3") {
      e4m3 = true;
      EXPECT_EQ(words[1], "8");
      EXPECT_EQ(words[5], "448");
      EXPECT_EQ(words[9], "253");
    }
    if (words.size() > 2 && words[0] == "nvfp4") {
      nvfp4 = true;
      EXPECT_EQ(words[1], "4.5");  // 4.50049: the tensor scale's 4 bytes vanish at four digits
    }
  }
  EXPECT_TRUE(e4m3) << r.out;
  EXPECT_TRUE(nvfp4) << r.out;
}

}  // namespace
