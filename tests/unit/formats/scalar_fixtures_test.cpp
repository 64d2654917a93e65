// The scalar codecs against the fixtures made by numpy / ml_dtypes (tests/fixtures/gen_formats.py):
// every code's decode and every encode record, bit for bit, in both modes, and the NF4 table and
// pairs from bitsandbytes' rule. A missing fixture file fails the test.
#include <cmath>
#include <cstdlib>

#include <nlohmann/json.hpp>

#include "scalar_test_util.h"

namespace qlab::formats {
namespace {

using test::bits_of;
using test::fixture_dir;
using test::float_of;
using test::hex;
using test::read_u32_file;

class ScalarFixture : public ::testing::TestWithParam<const char*> {
 protected:
  ScalarFormat format() const { return *scalar_format_from_name(GetParam()); }
};

TEST_P(ScalarFixture, DecodeEveryCode) {
  const ScalarFormat f = format();
  const auto want = read_u32_file(fixture_dir() / (std::string("decode_") + GetParam() + ".bin"));
  ASSERT_EQ(want.size(), 1u << properties(f).bits);
  int bad = 0;
  for (std::uint32_t c = 0; c < want.size(); ++c) {
    const std::uint32_t got = bits_of(decode(f, c));
    bool ok = got == want[c];
    // numpy may quiet a signalling f16 NaN on the way to float32; a NaN is then a NaN of the same sign
    if (!ok && f == ScalarFormat::F16 && std::isnan(float_of(want[c])))
      ok = std::isnan(float_of(got)) && (got >> 31) == (want[c] >> 31);
    if (!ok && bad++ < 10) ADD_FAILURE() << "code " << hex(c) << ": got " << hex(got) << " want " << hex(want[c]);
  }
  EXPECT_EQ(bad, 0);
}

TEST_P(ScalarFixture, EncodeEveryRecordBothModes) {
  const ScalarFormat f = format();
  const auto rec = read_u32_file(fixture_dir() / (std::string("encode_") + GetParam() + ".bin"));
  ASSERT_EQ(rec.size() % 3, 0u);
  ASSERT_GE(rec.size() / 3, 1000u) << "expected several thousand records";
  int bad = 0;
  for (std::size_t i = 0; i < rec.size(); i += 3) {
    const float x = float_of(rec[i]);
    const std::uint32_t want[2] = {rec[i + 1], rec[i + 2]};
    const std::uint32_t got[2] = {encode(f, x, Saturation::NoSaturate), encode(f, x, Saturation::Saturate)};
    for (int m = 0; m < 2; ++m) {
      bool ok = got[m] == want[m];
      // f16 NaN payloads: numpy keeps the input's payload bits without forcing the quiet bit;
      // the engine forces it (as the CPU's conversion does). Same NaN-ness and sign.
      if (!ok && f == ScalarFormat::F16 && std::isnan(x))
        ok = is_nan_code(f, got[m]) && is_nan_code(f, want[m]) && (got[m] >> 15) == (want[m] >> 15);
      if (!ok && bad++ < 12)
        ADD_FAILURE() << (m ? "saturating" : "non-saturating") << " x=" << x << " (" << hex(rec[i]) << "): got "
                      << hex(got[m]) << " want " << hex(want[m]);
    }
  }
  EXPECT_EQ(bad, 0);
}

INSTANTIATE_TEST_SUITE_P(Formats, ScalarFixture, ::testing::Values("f16", "bf16", "e4m3", "e5m2", "e2m1", "e8m0"),
                         [](const auto& info) { return std::string(info.param); });

// bitsandbytes' kernel writes its midpoints as decimal float literals (csrc/kernels.cu,
// dQuantizeNF4). A C/C++ compiler rounds such a literal straight to float32; the fixture generator
// rounded the decimal to float64 first and then to float32. For 4 of the 15 midpoints the two
// roundings differ by one ulp (the decimal is the exact float64 midpoint of two float32 levels,
// which sits on a float32 tie). The engine uses the kernel's values; strtof (correctly rounded,
// independent of the compiler's literal parsing) recomputes them here from the kernel's text.
const char* const kKernelMidpointText[15] = {
    "-0.8480964004993439",  "-0.6106329262256622", "-0.4599952697753906", "-0.33967943489551544",
    "-0.23460740596055984", "-0.13791173323988914", "-0.045525018125772476", "0.03979014977812767",
    "0.1202552504837513",   "0.2035212516784668",  "0.2920137718319893",  "0.3893125355243683",
    "0.5016634166240692",   "0.6427869200706482",  "0.8614784181118011",
};

TEST(ScalarFixtureNF4, TableThresholdsAndPairs) {
  const auto text_path = fixture_dir() / "nf4.json";
  std::ifstream in(text_path);
  ASSERT_TRUE(in) << "fixture missing: " << text_path.string();
  const nlohmann::json doc = nlohmann::json::parse(in);
  ASSERT_EQ(doc.at("table").size(), 16u);
  for (std::uint32_t c = 0; c < 16; ++c) {
    EXPECT_EQ(decode(ScalarFormat::NF4, c), doc["table"][c].get<double>()) << c;
    EXPECT_EQ(hex(bits_of(decode(ScalarFormat::NF4, c))),
              hex(static_cast<std::uint32_t>(std::stoul(doc["table_bits"][c].get<std::string>(), nullptr, 16))));
  }
  // thresholds: equal to the fixture's, except one ulp apart exactly where float64 double
  // rounding moved the fixture's
  ASSERT_EQ(doc.at("thresholds").size(), 15u);
  std::vector<std::pair<float, float>> moved;  // (fixture, kernel)
  float kernel_thr[15];
  for (int i = 0; i < 15; ++i) {
    kernel_thr[i] = std::strtof(kKernelMidpointText[i], nullptr);
    const double text = std::strtod(kKernelMidpointText[i], nullptr);
    const float fixture = static_cast<float>(doc["thresholds"][i].get<double>());
    EXPECT_EQ(bits_of(kNF4Midpoints[i]), bits_of(kernel_thr[i])) << i;
    EXPECT_EQ(bits_of(fixture), bits_of(static_cast<float>(text))) << i;
    if (fixture != kernel_thr[i]) {
      EXPECT_EQ(std::nextafter(fixture, kernel_thr[i]), kernel_thr[i]) << i;
      moved.push_back({fixture, kernel_thr[i]});
    }
  }
  EXPECT_EQ(moved.size(), 4u);
  const auto& pairs = doc.at("pairs");
  ASSERT_GT(pairs.size(), 100u);
  int bad = 0, in_gap = 0;
  for (const auto& p : pairs) {
    const float x = static_cast<float>(p.at("x").get<double>());
    std::uint32_t want = p.at("code").get<std::uint32_t>();
    bool gap = false;  // x sits between a moved fixture threshold and the kernel's
    for (auto [fx, k] : moved) gap |= (x > fx) != (x > k);
    if (gap) {
      ++in_gap;
      std::uint32_t kernel_code = 0;
      for (float t : kernel_thr) kernel_code += x > t ? 1u : 0u;
      EXPECT_EQ(kernel_code > want ? kernel_code - want : want - kernel_code, 1u) << "x=" << x;
      want = kernel_code;
    }
    const std::uint32_t got = encode(ScalarFormat::NF4, x);
    if (got != want && bad++ < 10) ADD_FAILURE() << "x=" << x << " got " << got << " want " << want;
  }
  EXPECT_EQ(bad, 0);
  EXPECT_LE(in_gap, 4) << "only the one float32 between each moved pair of thresholds may differ";
}

}  // namespace
}  // namespace qlab::formats
