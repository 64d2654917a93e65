// What a step keeps beside the progress file and what it accepts as settings: typed parameters with
// validation and defaults, the blocks of a result as JSON and back, the per-model step folders, the
// checkpoint a long job resumes from, and run_step as the one mapping of a job's ending.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <new>

#include "labs/lab.h"
#include "labs/result_json.h"
#include "labs/step_files.h"
#include "tests/temp_dir.h"

namespace qlab::labs {
namespace {

namespace fs = std::filesystem;

class StepFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::filesystem::path tmpl = qlab::testing::make_temp_dir("qlab-steps");
    ASSERT_FALSE(tmpl.empty()) << "cannot make a temporary folder";
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

const Param kChunks{"chunks", ParamKind::Integer, "0", {}, 0, 1000};
const Param kFormat{"format", ParamKind::Choice, "nvfp4", {"nvfp4", "mxfp4", "nf4"}, 0, 0};
const Param kText{"text", ParamKind::File, "", {}, 0, 0};

TEST(Params, ValidateSaysWhatIsWrong) {
  EXPECT_EQ(validate_param(kChunks, "16"), "");
  EXPECT_EQ(validate_param(kChunks, "0"), "");
  EXPECT_NE(validate_param(kChunks, "-1").find("outside 0 to 1000"), std::string::npos);
  EXPECT_NE(validate_param(kChunks, "12x").find("not a whole number"), std::string::npos);
  EXPECT_NE(validate_param(kChunks, "").find("not a whole number"), std::string::npos);
  EXPECT_NE(validate_param(kChunks, "99999999999999999999").find("not a whole number"), std::string::npos);
  EXPECT_EQ(validate_param(kFormat, "mxfp4"), "");
  EXPECT_NE(validate_param(kFormat, "fp3").find("not one of: nvfp4, mxfp4, nf4"), std::string::npos);
  EXPECT_EQ(validate_param(kText, ""), "");  // the step's own text
  EXPECT_NE(validate_param(kText, "/nonexistent/eval.txt").find("no such file"), std::string::npos);
  EXPECT_NE(validate_param(kText, "/").find("is not a file"), std::string::npos);
}

TEST(Params, ResolveFillsDefaultsDropsUnknownAndRefusesBadValues) {
  ParamValues v = resolve_params({kChunks, kFormat}, {{"format", "nf4"}, {"old_setting", "x"}});
  EXPECT_EQ(v, (ParamValues{{"chunks", "0"}, {"format", "nf4"}}));
  try {
    resolve_params({kChunks}, {{"chunks", "many"}});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("setting 'chunks'"), std::string::npos) << e.what();
  }
}

TEST(Params, NudgeCyclesChoicesAndDoublesIntegers) {
  EXPECT_EQ(nudge_param(kFormat, "nf4", 1), "nvfp4");
  EXPECT_EQ(nudge_param(kFormat, "nvfp4", -1), "nf4");
  EXPECT_EQ(nudge_param(kChunks, "0", 1), "1");
  EXPECT_EQ(nudge_param(kChunks, "1", 1), "2");
  EXPECT_EQ(nudge_param(kChunks, "600", 1), "1000");
  EXPECT_EQ(nudge_param(kChunks, "1", -1), "0");
  EXPECT_EQ(nudge_param(kChunks, "0", -1), "0");
  const Param steps{"steps", ParamKind::Integer, "300", {}, 20, 20000};
  EXPECT_EQ(nudge_param(steps, "300", -1), "150");
  EXPECT_EQ(nudge_param(steps, "30", -1), "20");
  EXPECT_EQ(nudge_param(kText, "a.txt", 1), "a.txt");
}

TEST(RunStep, EveryEndingIsMappedInOnePlace) {
  auto ending = [](JobFn fn, ParamValues chosen = {}) {
    Step s{"test.step", std::move(fn), false, true};
    s.params = {kChunks};
    JobContext ctx;
    ctx.params = std::move(chosen);
    return run_step(s, ctx, Progress::none(), {});
  };
  StepResult oom = ending([](const JobContext&, Progress&, std::stop_token) -> StepResult { throw std::bad_alloc(); });
  EXPECT_EQ(oom.outcome, Outcome::Failed);
  EXPECT_NE(oom.message.find("out of memory"), std::string::npos);
  StepResult na = ending([](const JobContext&, Progress&, std::stop_token) -> StepResult { throw NotAvailable("later"); });
  EXPECT_EQ(na.outcome, Outcome::NotAvailable);
  StepResult cancelled = ending([](const JobContext&, Progress&, std::stop_token) -> StepResult { throw Cancelled(); });
  EXPECT_EQ(cancelled.outcome, Outcome::Cancelled);
  StepResult odd = ending([](const JobContext&, Progress&, std::stop_token) -> StepResult { throw 42; });
  EXPECT_EQ(odd.outcome, Outcome::Failed);
  // a setting that does not validate never reaches the job
  bool ran = false;
  StepResult bad = ending(
      [&](const JobContext&, Progress&, std::stop_token) {
        ran = true;
        return StepResult{};
      },
      {{"chunks", "-5"}});
  EXPECT_FALSE(ran);
  EXPECT_EQ(bad.outcome, Outcome::Failed);
  EXPECT_NE(bad.message.find("setting 'chunks'"), std::string::npos);
  // the job sees every declared setting, and the settings are kept with the numbers
  StepResult ok = ending([](const JobContext& ctx, Progress&, std::stop_token) {
    StepResult r;
    r.record["chunks_seen"] = ctx.param_int("chunks");
    return r;
  });
  EXPECT_EQ(ok.outcome, Outcome::Done);
  EXPECT_EQ(ok.record["chunks_seen"], 0);
  EXPECT_EQ(ok.record["settings"]["chunks"], "0");
}

TEST(ResultJson, EveryBlockKindRoundTripsWithNaNAndInfinity) {
  const double inf = std::numeric_limits<double>::infinity(), nan = std::numeric_limits<double>::quiet_NaN();
  std::vector<Block> in;
  in.push_back(Text{"a note"});
  in.push_back(Table{"t", {"a", "b"}, {{"1", "x"}, {"2", "y"}}, {true, false}});
  in.push_back(LineChart{"loss", "step", "loss", {Series{"fp8", {1, 2, 3}, {2.5, nan, 2.0}}}, true});
  in.push_back(Histogram{"h", "x", -1, 1, {0, 3, 1}});
  in.push_back(BarChart{"sqnr", "dB", {"f32", "e4m3"}, {inf, 31.5}});
  in.push_back(NumberLine{"values", -7, 7, {"e2m1"}, {{-6, 0, 6}}});
  const nlohmann::json j = blocks_to_json(in);
  const std::vector<Block> out = blocks_from_json(nlohmann::json::parse(j.dump()));  // through text
  ASSERT_EQ(out.size(), in.size());
  EXPECT_EQ(std::get<Text>(out[0]).body, "a note");
  EXPECT_EQ(std::get<Table>(out[1]).rows[1][1], "y");
  EXPECT_EQ(std::get<Table>(out[1]).right_align, (std::vector<bool>{true, false}));
  const auto& lc = std::get<LineChart>(out[2]);
  EXPECT_TRUE(lc.log_y);
  EXPECT_TRUE(std::isnan(lc.series[0].y[1]));
  EXPECT_EQ(lc.series[0].y[2], 2.0);
  EXPECT_EQ(std::get<Histogram>(out[3]).counts[1], 3);
  EXPECT_TRUE(std::isinf(std::get<BarChart>(out[4]).values[0]));
  EXPECT_EQ(std::get<NumberLine>(out[5]).values[0][2], 6);
  EXPECT_THROW(blocks_from_json(nlohmann::json::parse(R"([{"kind": "pie"}])")), Error);
  EXPECT_THROW(blocks_from_json(nlohmann::json::parse(R"([{"kind": "text"}])")), Error);
}

TEST_F(StepFiles, ASavedResultComesBackAndABrokenOneIsJustAbsent) {
  ModelRef m;
  m.display = "built-in";
  const fs::path d = step_output_dir(dir_, m, "lab01.properties");
  EXPECT_EQ(d, dir_ / "builtin" / "lab01.properties");
  EXPECT_FALSE(load_result(d));
  StepResult r;
  r.blocks.push_back(Text{"448"});
  r.record["max"] = 448;
  save_result(d, "lab01.properties", r, m, "2026-01-02T03:04:05Z");
  auto back = load_result(d);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->when, "2026-01-02T03:04:05Z");
  EXPECT_EQ(back->model, "built-in");
  EXPECT_EQ(std::get<Text>(back->result.blocks[0]).body, "448");
  EXPECT_EQ(back->result.record["max"], 448);
  { std::ofstream(d / "result.json") << "{broken"; }
  std::string why;
  EXPECT_FALSE(load_result(d, &why));
  EXPECT_NE(why.find("result.json"), std::string::npos) << why;
}

TEST_F(StepFiles, ModelsKeepTheirResultsApart) {
  ModelRef a, b, c;
  a.builtin = b.builtin = c.builtin = false;
  a.display = "/models/llama";
  a.dir = "/models/llama";
  b.display = "/other/llama";
  b.dir = "/other/llama";
  c.display = "meta-llama/Llama-3.1-8B";
  c.dir = "/cache/models--meta-llama--Llama-3.1-8B/snapshots/abc";
  EXPECT_NE(model_key(a), model_key(b));  // same folder name, another folder
  EXPECT_EQ(model_key(a).rfind("llama-", 0), 0u) << model_key(a);
  EXPECT_EQ(model_key(c).rfind("Llama-3.1-8B-", 0), 0u) << model_key(c);
  EXPECT_EQ(model_key(a), model_key(a));
  ModelRef builtin;
  EXPECT_EQ(model_key(builtin), "builtin");
}

TEST_F(StepFiles, CheckpointsAreWrittenReadAndRemoved) {
  EXPECT_FALSE(read_checkpoint(dir_));
  EXPECT_FALSE(read_checkpoint(fs::path()));
  write_checkpoint(dir_ / "s", {{"model", "m"}}, {{"done", 3}}, "chunk 3 of 9");
  auto cp = read_checkpoint(dir_ / "s");
  ASSERT_TRUE(cp);
  EXPECT_EQ(cp->key["model"], "m");
  EXPECT_EQ(cp->state["done"], 3);
  EXPECT_EQ(cp->summary, "chunk 3 of 9");
  EXPECT_FALSE(cp->when.empty());
  remove_checkpoint(dir_ / "s");
  EXPECT_FALSE(read_checkpoint(dir_ / "s"));
  remove_checkpoint(fs::path());  // nothing to remove: no error
}

}  // namespace
}  // namespace qlab::labs
