// Every case of tests/fixtures/formats/blocks/manifest.json (made by gen_blocks.py with torch after
// each peer's formulas): quantize the input, compare every stored byte and the dequantized floats bit
// for bit, on the fast and the reference path. A missing fixture fails.
#include <algorithm>
#include <cmath>
#include <iostream>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "block_test_util.h"
#include "engine/core/atomic_file.h"
#include "engine/formats/block.h"
#include "engine/formats/scalar.h"

namespace qlab::formats {
namespace {

using blocktest::blocks_fixture_dir;

std::vector<std::uint8_t> bytes_of(const nlohmann::json& c, const char* key) {
  if (!c.contains(key)) return {};
  std::string s = read_file(blocks_fixture_dir() / c[key].get<std::string>());
  return {s.begin(), s.end()};
}

std::vector<float> floats_of(const nlohmann::json& c, const char* key) {
  std::vector<std::uint8_t> b = bytes_of(c, key);
  std::vector<float> v(b.size() / 4);
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = blocktest::f32_at(b, i);
  return v;
}

// First differing index of two byte vectors, or -1.
long first_diff(const std::vector<std::uint8_t>& a, const std::vector<std::uint8_t>& b) {
  for (std::size_t i = 0; i < std::min(a.size(), b.size()); ++i)
    if (a[i] != b[i]) return static_cast<long>(i);
  return a.size() == b.size() ? -1 : static_cast<long>(std::min(a.size(), b.size()));
}

// NF4 codes. The generator takes bnb's thresholds as the float64 midpoints of the table rounded to
// float32; bnb's kernel writes them as decimal float literals, which round to a neighbouring float
// for 4 of the 15 (the engine, through the scalar codec, uses the kernel's). So a scaled value lying
// between the two versions of a threshold codes one step apart; every other code must be equal.
void expect_nf4_codes(const std::vector<float>& x, const std::vector<std::uint8_t>& got,
                      const std::vector<std::uint8_t>& want) {
  ASSERT_EQ(got.size(), want.size());
  const std::size_t n = x.size();
  int gap = 0;
  for (std::size_t i = 0; i < n; ++i) {
    auto nib = [&](const std::vector<std::uint8_t>& d) { return i % 2 ? d[i / 2] & 0xF : d[i / 2] >> 4; };
    int g = nib(got), w = nib(want);
    if (g == w) continue;
    float amax = 0.0f;
    for (std::size_t j = i / 64 * 64; j < std::min(n, i / 64 * 64 + 64); ++j) amax = std::max(amax, std::fabs(x[j]));
    const float v = x[i] * (1.0f / amax);
    bool in_gap = false;
    for (int t = 0; t < 15; ++t) {
      const float fixture_t = static_cast<float>((static_cast<double>(decode(ScalarFormat::NF4, t)) +
                                                  static_cast<double>(decode(ScalarFormat::NF4, t + 1))) / 2);
      if ((v > fixture_t) != (v > kNF4Midpoints[t])) in_gap = true;
    }
    EXPECT_TRUE(in_gap && std::abs(g - w) == 1) << "element " << i << " (scaled " << v << "): code " << g
                                                << ", fixture " << w;
    ++gap;
  }
  if (gap) std::cout << "  (" << gap << " NF4 codes on the far side of a kernel threshold literal)\n";
}

nlohmann::json load_manifest() {
  auto path = blocks_fixture_dir() / "manifest.json";
  if (!std::filesystem::exists(path)) {
    ADD_FAILURE() << "fixture missing: " << path.string()
                  << " (generate it with tests/fixtures/gen_blocks.py, see tests/fixtures/README.md)";
    return nlohmann::json::array();
  }
  return nlohmann::json::parse(read_file(path));
}

void check_case(const nlohmann::json& c, KernelPath path) {
  const std::string name = c["name"], format = c["format"];
  SCOPED_TRACE(name + (path == KernelPath::Fast ? " (fast)" : " (reference)"));
  auto s = block_format_from_name(format);
  ASSERT_TRUE(s) << "unknown format " << format;
  const std::int64_t rows = c["rows"], cols = c["cols"];
  std::vector<float> x = floats_of(c, "input");
  ASSERT_EQ(x.size(), static_cast<std::size_t>(rows * cols));
  QuantizedTensor q = quantize(*s, x, rows, cols, path);

  std::vector<float> want_ts;
  if (c.contains("tensor_scales")) want_ts = c["tensor_scales"].get<std::vector<float>>();
  ASSERT_EQ(q.tensor_scales.size(), want_ts.size());
  for (std::size_t i = 0; i < want_ts.size(); ++i)
    EXPECT_EQ(blocktest::fbits(q.tensor_scales[i]), blocktest::fbits(want_ts[i]))
        << "tensor scale " << i << ": " << q.tensor_scales[i] << " vs " << want_ts[i];

  for (const char* key : {"data", "scales", "zeros", "aux"}) {
    std::vector<std::uint8_t> want = bytes_of(c, key);
    if (key == std::string("data") && (format == "nf4" || format == "nf4-dq")) {
      expect_nf4_codes(x, q.data, want);
      continue;
    }
    const std::vector<std::uint8_t>& got = key == std::string("data")     ? q.data
                                           : key == std::string("scales") ? q.scales
                                           : key == std::string("zeros")  ? q.zeros
                                                                          : q.aux;
    long d = first_diff(got, want);
    EXPECT_EQ(d, -1) << key << ": " << got.size() << " vs " << want.size() << " bytes, first difference at "
                     << d << (d >= 0 && static_cast<std::size_t>(d) < std::min(got.size(), want.size())
                                  ? " (" + std::to_string(got[static_cast<std::size_t>(d)]) + " vs " +
                                        std::to_string(want[static_cast<std::size_t>(d)]) + ")"
                                  : std::string());
  }

  // Dequantize the fixture's own bytes (so a quantize difference does not hide a dequant one).
  QuantizedTensor fq;
  fq.format = s->name;
  fq.rows = rows;
  fq.cols = cols;
  fq.data = bytes_of(c, "data");
  fq.scales = bytes_of(c, "scales");
  fq.zeros = bytes_of(c, "zeros");
  fq.aux = bytes_of(c, "aux");
  fq.tensor_scales = want_ts;
  std::vector<float> want_deq = floats_of(c, "dequant"), deq(x.size());
  dequantize(fq, deq, path);
  ASSERT_EQ(want_deq.size(), deq.size());
  // Bit for bit, except that +0 and -0 count as equal: torch's symmetric int dequant multiplies by
  // round(x / scale), which is -0.0 for a small negative x, and the stored code cannot say so.
  int bad = 0;
  for (std::size_t i = 0; i < deq.size() && bad < 5; ++i)
    if (blocktest::fbits(deq[i]) != blocktest::fbits(want_deq[i]) && !(deq[i] == 0.0f && want_deq[i] == 0.0f)) {
      ++bad;
      ADD_FAILURE() << "dequant[" << i << "] = " << deq[i] << ", fixture " << want_deq[i];
    }
}

TEST(BlockFixtures, EveryCaseBitExactFast) {
  nlohmann::json m = load_manifest();
  EXPECT_GE(m.size(), 40u);
  for (const auto& c : m) check_case(c, KernelPath::Fast);
}

TEST(BlockFixtures, EveryCaseBitExactReference) {
  nlohmann::json m = load_manifest();
  for (const auto& c : m) check_case(c, KernelPath::Reference);
}

// Every format the fixture generator covers is one the engine has.
TEST(BlockFixtures, CoverEveryFamily) {
  nlohmann::json m = load_manifest();
  std::set<std::string> seen;
  for (const auto& c : m) seen.insert(c["format"].get<std::string>());
  for (const char* f : {"nvfp4", "mxfp4", "nf4", "nf4-dq", "int4-g128", "int4-g128-sym", "int3-g128",
                        "int2-g64", "int8-ch", "fp8-tensor", "fp8-channel"})
    EXPECT_TRUE(seen.count(f)) << f << " has no fixture case";
}

}  // namespace
}  // namespace qlab::formats
