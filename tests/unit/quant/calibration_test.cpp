// Calibration text and windows: plain / JSONL / gzip files, windows reproducible from the seed and
// drawn without overlap, and the two ways a short text ends (fewer samples with a warning, or an error).
#include "engine/quant/calibration.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <fstream>
#include <numeric>
#include <set>

#include "engine/core/error.h"

namespace qlab::quant {
namespace {

namespace fs = std::filesystem;

fs::path temp_file(const std::string& name, const std::string& content) {
  const fs::path p = fs::temp_directory_path() / ("qlab_calib_" + std::to_string(::getpid()) + "_" + name);
  std::ofstream(p, std::ios::binary) << content;
  return p;
}

std::vector<std::int32_t> stream(std::int32_t n) {
  std::vector<std::int32_t> s(static_cast<std::size_t>(n));
  std::iota(s.begin(), s.end(), 0);
  return s;
}

TEST(Calibration, WindowsReproducibleAndWithoutOverlap) {
  const auto s = stream(10000);
  const auto a = calibration_windows(s, 20, 128, 7, "t"), b = calibration_windows(s, 20, 128, 7, "t");
  const auto c = calibration_windows(s, 20, 128, 8, "t");
  EXPECT_EQ(a.tokens, b.tokens);
  EXPECT_NE(a.tokens, c.tokens);
  ASSERT_EQ(a.samples, 20);
  std::set<std::int32_t> seen;
  for (std::int64_t i = 0; i < a.samples; ++i) {
    const std::int32_t first = a.tokens[static_cast<std::size_t>(i * 128)];
    for (std::int64_t t = 0; t < 128; ++t) {
      EXPECT_EQ(a.tokens[static_cast<std::size_t>(i * 128 + t)], first + t);  // a contiguous slice of the text
      EXPECT_TRUE(seen.insert(first + static_cast<std::int32_t>(t)).second);  // no token twice
    }
  }
}

TEST(Calibration, ShortTextGivesFewerSamplesWithAWarningOrAnError) {
  std::vector<std::string> warnings;
  const auto set = calibration_windows(stream(1000), 128, 128, 0, "calib.txt",
                                       [&](const std::string& w) { warnings.push_back(w); });
  EXPECT_EQ(set.samples, 7);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("calib.txt holds 1000 tokens: 7 windows of 128"), std::string::npos) << warnings[0];
  EXPECT_NE(warnings[0].find("calibrating on 7"), std::string::npos) << warnings[0];
  try {
    calibration_windows(stream(100), 4, 128, 0, "short.txt");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("short.txt holds 100 tokens, fewer than one calibration window of 128"),
              std::string::npos) << e.what();
  }
}

TEST(Calibration, PlainJsonlAndGzipFiles) {
  const auto plain = temp_file("plain.txt", "one text\n{not json at the start of line 2}\n");
  EXPECT_EQ(read_calibration_text(plain), std::vector<std::string>{"one text\n{not json at the start of line 2}\n"});
  const auto jl = temp_file("docs.jsonl", "{\"text\": \"first\"}\n\n{\"text\": \"second\", \"id\": 2}\n");
  EXPECT_EQ(read_calibration_text(jl), (std::vector<std::string>{"first", "second"}));
  const fs::path gz = fs::temp_directory_path() / ("qlab_calib_" + std::to_string(::getpid()) + "_docs.jsonl.gz");
  gzFile f = gzopen(gz.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  const std::string body = "{\"text\": \"zipped\"}\n";
  gzwrite(f, body.data(), static_cast<unsigned>(body.size()));
  gzclose(f);
  EXPECT_EQ(read_calibration_text(gz), std::vector<std::string>{"zipped"});
  const auto bad = temp_file("bad.jsonl", "{\"text\": \"ok\"}\n{\"txt\": \"no\"}\n");
  try {
    read_calibration_text(bad);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("bad.jsonl:2: no \"text\" string"), std::string::npos) << e.what();
  }
  EXPECT_THROW(read_calibration_text(fs::temp_directory_path() / "qlab_no_such_calib.txt"), Error);
  for (const auto& p : {plain, jl, gz, bad}) fs::remove(p);
}

}  // namespace
}  // namespace qlab::quant
