// Lab 1's jobs on the real engine, checked against hand-derived values and invariants.
#include <gtest/gtest.h>

#include <cmath>

#include "engine/tensor/synthetic.h"
#include "labs/lab.h"

namespace qlab::labs {
namespace {

StepResult run(const std::string& id, const std::string& input = "") {
  const Lab* lab = find_lab("lab01");
  EXPECT_NE(lab, nullptr);
  const Step* s = lab->find(id);
  EXPECT_NE(s, nullptr);
  JobContext ctx;
  ctx.model.display = "built-in";
  ctx.model.dir = "/nonexistent-model-dir";
  ctx.input = input;
  return run_step(*s, ctx, Progress::none(), {});
}

template <typename T>
const T* first_block(const StepResult& r) {
  for (const auto& b : r.blocks)
    if (auto p = std::get_if<T>(&b)) return p;
  return nullptr;
}

const std::vector<std::string>* row_of(const Table& t, const std::string& first) {
  for (const auto& r : t.rows)
    if (!r.empty() && r[0] == first) return &r;
  return nullptr;
}

TEST(Lab01, PropertiesTableHasTheKnownLimits) {
  StepResult r = run("lab01.properties");
  ASSERT_EQ(r.outcome, Outcome::Done) << r.message;
  const Table* t = first_block<Table>(r);
  ASSERT_NE(t, nullptr);
  // hand-derived: E4M3FN max 448, E5M2 max 57344, FP16 max 65504, E2M1 max 6 with 15 finite values
  EXPECT_EQ(r.record["formats"]["e4m3"]["max"].get<double>(), 448.0);
  EXPECT_EQ(r.record["formats"]["e5m2"]["max"].get<double>(), 57344.0);
  EXPECT_EQ(r.record["formats"]["f16"]["max"].get<double>(), 65504.0);
  EXPECT_EQ(r.record["formats"]["e2m1"]["max"].get<double>(), 6.0);
  EXPECT_EQ(r.record["formats"]["e2m1"]["values"].get<int>(), 15);
  EXPECT_EQ(r.record["formats"]["bf16"]["epsilon"].get<double>(), std::ldexp(1.0, -7));
  ASSERT_NE(row_of(*t, "e4m3"), nullptr);
}

TEST(Lab01, NumberLineCountsAreTwoToTheMantissaBits) {
  StepResult r = run("lab01.number_line");
  ASSERT_EQ(r.outcome, Outcome::Done) << r.message;
  EXPECT_EQ(r.record["in_1_2"]["f16"].get<int>(), 1024);
  EXPECT_EQ(r.record["in_1_2"]["bf16"].get<int>(), 128);
  EXPECT_EQ(r.record["in_1_2"]["e4m3"].get<int>(), 8);
  EXPECT_EQ(r.record["in_1_2"]["e5m2"].get<int>(), 4);
  EXPECT_EQ(r.record["in_1_2"]["e2m1"].get<int>(), 2);  // 1 and 1.5
  const NumberLine* n = first_block<NumberLine>(r);
  ASSERT_NE(n, nullptr);
  for (std::size_t i = 0; i < n->names.size(); ++i)
    if (n->names[i] == "e2m1") {
      // -6 -4 -3 -2 -1.5 -1 -0.5 0 0.5 1 1.5 2 3 4 6
      EXPECT_EQ(n->values[i].size(), 15u);
    }
}

TEST(Lab01, SyntheticSqnrMatchesTheRoundingModel) {
  StepResult r = run("lab01.synthetic");
  ASSERT_EQ(r.outcome, Outcome::Done) << r.message;
  const auto& g = r.record["sqnr_db"]["gaussian"];
  // Round-to-nearest in a float with M mantissa bits has relative error <= 2^-(M+1), so
  // SQNR >= 6.02 (M + 1) dB; the uniform-error model puts it about 10 dB above that bound.
  auto check_float = [&](const char* f, int m) {
    double s = g[f].get<double>();
    EXPECT_GE(s, 6.0206 * (m + 1)) << f;
    EXPECT_LE(s, 6.0206 * (m + 1) + 15) << f;
  };
  check_float("f16", 10);
  check_float("bf16", 7);
  check_float("e4m3", 3);
  check_float("e5m2", 2);
  // int8 with absmax/127: uniform error of step D has variance D^2/12, so
  // SQNR = 10 log10(12 * mean(x^2) / D^2), computed here from the tensor itself.
  std::vector<float> x = tensor::synthetic_tensor(tensor::SyntheticKind::Gaussian, 1 << 18);
  double amax = 0, ms = 0;
  for (float v : x) {
    amax = std::max(amax, static_cast<double>(std::fabs(v)));
    ms += static_cast<double>(v) * v;
  }
  ms /= static_cast<double>(x.size());
  double d8 = amax / 127, d4 = amax / 7;
  EXPECT_NEAR(g["int8"].get<double>(), 10 * std::log10(12 * ms / (d8 * d8)), 0.3);
  // int4's step is coarse against the tail but fine against the bulk: the same model holds within 1 dB
  EXPECT_NEAR(g["int4"].get<double>(), 10 * std::log10(12 * ms / (d4 * d4)), 1.0);
  // one outlier in a thousand stretches the per-tensor scale: every 4-bit format loses SQNR
  const auto& o = r.record["sqnr_db"]["gaussian-outliers"];
  EXPECT_LT(o["int4"].get<double>(), g["int4"].get<double>() - 6);
  EXPECT_LT(o["e2m1"].get<double>(), g["e2m1"].get<double>());
  EXPECT_NE(first_block<Histogram>(r), nullptr);
  EXPECT_NE(first_block<BarChart>(r), nullptr);
}

TEST(Lab01, BitsOfOneAreTheTextbookCodes) {
  StepResult r = run("lab01.bits", " 1 ");
  ASSERT_EQ(r.outcome, Outcome::Done) << r.message;
  const Table* t = first_block<Table>(r);
  ASSERT_NE(t, nullptr);
  EXPECT_EQ((*row_of(*t, "f16"))[2], "0x3c00");
  EXPECT_EQ((*row_of(*t, "bf16"))[2], "0x3f80");
  EXPECT_EQ((*row_of(*t, "e4m3"))[2], "0x38");
  EXPECT_EQ((*row_of(*t, "e5m2"))[2], "0x3c");
  EXPECT_EQ((*row_of(*t, "e2m1"))[2], "0x2");
  EXPECT_EQ((*row_of(*t, "e4m3"))[1], "0 0111 000");
  EXPECT_EQ((*row_of(*t, "f32"))[2], "0x3f800000");
}

TEST(Lab01, BitsSaturateAtTheFormatsLimit) {
  StepResult r = run("lab01.bits", "500");
  ASSERT_EQ(r.outcome, Outcome::Done) << r.message;
  const Table* t = first_block<Table>(r);
  EXPECT_EQ((*row_of(*t, "e4m3"))[3], "448");
  EXPECT_EQ((*row_of(*t, "e2m1"))[3], "6");
}

TEST(Lab01, BitsRejectsTextThatIsNotANumber) {
  StepResult r = run("lab01.bits", "twelve");
  EXPECT_EQ(r.outcome, Outcome::Failed);
  EXPECT_NE(r.message.find("'twelve' is not a number"), std::string::npos) << r.message;
}

TEST(Lab01, ModelTensorWithoutTheModelSaysSo) {
  StepResult r = run("lab01.model_tensor");
  // a built-in model that is not installed is "not available", never a made-up number
  EXPECT_EQ(r.outcome, Outcome::NotAvailable) << r.message;
  EXPECT_TRUE(r.blocks.empty());
}

// Item 10 of the learner's report: infinity, NaN, -0 and out-of-range input, and UE4M3's bit groups.
TEST(Lab01, BitsKeepInfinityWhereAFormatHasOne) {
  StepResult r = run("lab01.bits", "inf");
  ASSERT_EQ(r.outcome, Outcome::Done) << r.message;
  const Table* t = first_block<Table>(r);
  ASSERT_NE(t, nullptr);
  // IEEE infinity patterns (IEEE 754-2008 binary32/16; bfloat16 is binary32's top half; OCP FP8 E5M2)
  EXPECT_EQ((*row_of(*t, "f32"))[2], "0x7f800000");
  EXPECT_EQ((*row_of(*t, "f16"))[2], "0x7c00");
  EXPECT_EQ((*row_of(*t, "bf16"))[2], "0x7f80");
  EXPECT_EQ((*row_of(*t, "e5m2"))[2], "0x7c");
  EXPECT_EQ((*row_of(*t, "f16"))[3], "inf");
  // E4M3 (fn) has no infinity: its largest, and the row says so
  EXPECT_EQ((*row_of(*t, "e4m3"))[3], "448 (no infinity: its largest)");
  EXPECT_EQ((*row_of(*t, "int8"))[3], "127 (no infinity: its largest)");
}

TEST(Lab01, BitsSayWhichFormatsHaveNoNaN) {
  StepResult r = run("lab01.bits", "nan");
  ASSERT_EQ(r.outcome, Outcome::Done) << r.message;
  const Table* t = first_block<Table>(r);
  for (const char* f : {"nf4", "int8", "int4", "ue4m3", "e2m1"}) {
    ASSERT_NE(row_of(*t, f), nullptr) << f;
    EXPECT_EQ((*row_of(*t, f))[3], "no NaN in this format") << f;
    EXPECT_EQ((*row_of(*t, f))[2], "-") << f;  // no code that would decode to -1 or 0
  }
  EXPECT_EQ((*row_of(*t, "e4m3"))[2], "0x7f");  // its one NaN pattern (OCP FP8 E4M3)
  EXPECT_EQ((*row_of(*t, "f32"))[3], "nan");
}

TEST(Lab01, BitsShowNegativeZero) {
  StepResult r = run("lab01.bits", "-0");
  ASSERT_EQ(r.outcome, Outcome::Done) << r.message;
  const Table* t = first_block<Table>(r);
  EXPECT_EQ((*row_of(*t, "f16"))[3], "-0");
  EXPECT_EQ((*row_of(*t, "f16"))[2], "0x8000");
  EXPECT_EQ((*row_of(*t, "int8"))[3], "0 (no -0)");
  EXPECT_EQ((*row_of(*t, "e8m0"))[3], "NaN (no such value in this format)");  // E8M0 has no zero
}

TEST(Lab01, BitsTreatEveryValueBeyondFp32AsInfinityAndSaySo) {
  for (const char* in : {"1e40", "1e400"}) {
    StepResult r = run("lab01.bits", in);
    ASSERT_EQ(r.outcome, Outcome::Done) << in << ": " << r.message;
    const Text* note = first_block<Text>(r);
    ASSERT_NE(note, nullptr) << in;
    EXPECT_NE(note->body.find("infinity"), std::string::npos) << note->body;
    EXPECT_EQ((*row_of(*first_block<Table>(r), "f32"))[3], "inf") << in;
  }
  StepResult neg = run("lab01.bits", "-1e400");
  EXPECT_EQ((*row_of(*first_block<Table>(neg), "f32"))[3], "-inf");
}

TEST(Lab01, Ue4m3BitsAreGroupedAsExponentAndMantissa) {
  StepResult r = run("lab01.bits", "1");
  const Table* t = first_block<Table>(r);
  // UE4M3 keeps 7 bits in a byte: the unused top bit, 4 exponent bits (bias 7), 3 mantissa bits
  EXPECT_EQ((*row_of(*t, "ue4m3"))[1], "0 0111 000");
  EXPECT_EQ((*row_of(*t, "e4m3"))[1], "0 0111 000");  // sign, exponent, mantissa
  EXPECT_EQ((*row_of(*t, "f32"))[1], "0 01111111 00000000000000000000000");
}

// FP32 itself rounds 0.1: its row shows the stored value to enough digits and the error against the
// number as typed (0.1f = 13421773 / 2^27 = 0.100000001490116...).
TEST(Lab01, BitsShowFp32sOwnRounding) {
  StepResult r = run("lab01.bits", "0.1");
  const Table* t = first_block<Table>(r);
  EXPECT_EQ((*row_of(*t, "f32"))[3], "0.100000001");
  EXPECT_EQ((*row_of(*t, "f32"))[4], "1.49e-09");
  EXPECT_EQ((*row_of(*t, "f16"))[3], "0.0999756");  // 1638 / 2^14
}

TEST(Lab01, CancelBeforeStartIsReportedAsCancelled) {
  const Step* s = find_lab("lab01")->find("lab01.synthetic");
  std::stop_source src;
  src.request_stop();
  StepResult r = run_step(*s, JobContext{}, Progress::none(), src.get_token());
  EXPECT_EQ(r.outcome, Outcome::Cancelled);
  EXPECT_TRUE(r.record.empty());
}

}  // namespace
}  // namespace qlab::labs
