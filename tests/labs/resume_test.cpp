// Long jobs that survive a cancel or a restart, and the text a perplexity step scores.
//   lab 2's perplexity stopped half way and continued gives the very numbers of a run that never
//   stopped (and of `qlab ppl --kld`, checked in builtin_model_test.cpp)
//   lab 3's training keeps each finished run and continues with the next
//   a model folder with no eval.txt is scored on the text the learner chose, else the built-in one's
#include <gtest/gtest.h>

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>

#include "labs/lab.h"
#include "labs/step_files.h"
#include "tests/temp_dir.h"

namespace qlab::labs {
namespace {

namespace fs = std::filesystem;

fs::path builtin_dir() { return fs::path(QLAB_SOURCE_DIR) / "assets" / "builtin"; }

// Requests stop once the job reports past a fraction, or a label containing some text.
class StopWhen final : public Progress {
 public:
  StopWhen(std::stop_source& src, double fraction, std::string label = "")
      : src_(src), fraction_(fraction), label_(std::move(label)) {}
  void report(double f, std::string_view label) override {
    if ((fraction_ >= 0 && f > fraction_) || (!label_.empty() && label.find(label_) != std::string_view::npos))
      src_.request_stop();
  }

 private:
  std::stop_source& src_;
  double fraction_;
  std::string label_;
};

class Resume : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::filesystem::path tmpl = qlab::testing::make_temp_dir("qlab-resume");
    ASSERT_FALSE(tmpl.empty()) << "cannot make a temporary folder";
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }
  JobContext ctx(bool keep_files, ParamValues params = {}) const {
    JobContext c;
    c.model.display = "built-in";
    c.model.dir = builtin_dir();
    c.builtin_dir = builtin_dir();
    c.params = std::move(params);
    if (keep_files) c.out_dir = dir_ / "out";
    return c;
  }
  fs::path dir_;
};

TEST_F(Resume, PerplexityContinuedAfterACancelGivesTheNumbersOfAnUnbrokenRun) {
  const Step& step = *find_lab("lab02")->find("lab02.perplexity");
  ASSERT_TRUE(step.resumable);
  std::stop_source src;
  StopWhen half(src, 0.5);
  StepResult stopped = run_step(step, ctx(true), half, src.get_token());
  ASSERT_EQ(stopped.outcome, Outcome::Cancelled) << stopped.message;
  auto cp = read_checkpoint(dir_ / "out");
  ASSERT_TRUE(cp) << "a cancel keeps the progress";
  const auto done = cp->state["chunks_done"].get<std::int64_t>();
  EXPECT_GT(done, 0);
  EXPECT_LT(done, 180);
  EXPECT_NE(cp->summary.find(" of 180"), std::string::npos) << cp->summary;

  StepResult resumed = run_step(step, ctx(true), Progress::none(), {});
  ASSERT_EQ(resumed.outcome, Outcome::Done) << resumed.message;
  EXPECT_FALSE(read_checkpoint(dir_ / "out")) << "a finished job leaves no checkpoint";
  bool said = false;
  for (const auto& b : resumed.blocks)
    if (auto t = std::get_if<Text>(&b); t && t->body.find("Continued from the checkpoint") != std::string::npos) said = true;
  EXPECT_TRUE(said);

  StepResult unbroken = run_step(step, ctx(false), Progress::none(), {});
  ASSERT_EQ(unbroken.outcome, Outcome::Done) << unbroken.message;
  for (const char* k : {"ppl_before", "ppl_after", "ln_ratio", "ln_ratio_error", "mean_kld", "kld_error", "same_top",
                        "scored_tokens"})
    EXPECT_EQ(resumed.record[k], unbroken.record[k]) << k;
}

TEST_F(Resume, ChangedSettingsStartOver) {
  const Step& step = *find_lab("lab02")->find("lab02.perplexity");
  std::stop_source src;
  StopWhen half(src, 0.5);
  ASSERT_EQ(run_step(step, ctx(true), half, src.get_token()).outcome, Outcome::Cancelled);
  ASSERT_TRUE(read_checkpoint(dir_ / "out"));
  StepResult other = run_step(step, ctx(true, {{"chunks", "6"}}), Progress::none(), {});
  ASSERT_EQ(other.outcome, Outcome::Done) << other.message;
  EXPECT_EQ(other.record["chunks"], 6);
  for (const auto& b : other.blocks) {
    if (auto t = std::get_if<Text>(&b)) {
      EXPECT_EQ(t->body.find("Continued"), std::string::npos) << t->body;
    }
  }
}

TEST_F(Resume, TrainingKeepsEachFinishedRunAndContinuesWithTheNext) {
  const Step& step = *find_lab("lab03")->find("lab03.train");
  ASSERT_TRUE(step.resumable);
  const ParamValues short_runs{{"steps", "20"}};
  std::stop_source src;
  StopWhen second(src, -1, "(run 2/4)");
  StepResult stopped = run_step(step, ctx(true, short_runs), second, src.get_token());
  ASSERT_EQ(stopped.outcome, Outcome::Cancelled) << stopped.message;
  auto cp = read_checkpoint(dir_ / "out");
  ASSERT_TRUE(cp);
  EXPECT_EQ(cp->summary, "1 of 4 runs");

  std::atomic<int> runs_started{0};
  class Count final : public Progress {
   public:
    explicit Count(std::atomic<int>& n) : n_(n) {}
    void report(double, std::string_view label) override {
      if (label.find("(run 1/4)") != std::string_view::npos) ++n_;
    }
    std::atomic<int>& n_;
  } count(runs_started);
  StepResult resumed = run_step(step, ctx(true, short_runs), count, {});
  ASSERT_EQ(resumed.outcome, Outcome::Done) << resumed.message;
  EXPECT_EQ(runs_started.load(), 0) << "the fp32 run was kept, not run again";
  EXPECT_EQ(resumed.record["runs"].size(), 4u);
  // item 12: the four curves lie on top of each other; a second chart shows each minus fp32's
  int charts = 0;
  for (const auto& b : resumed.blocks)
    if (auto c = std::get_if<LineChart>(&b)) {
      ++charts;
      EXPECT_EQ(c->series.size(), 4u) << c->title;
    }
  EXPECT_EQ(charts, 2);
  EXPECT_FALSE(read_checkpoint(dir_ / "out"));

  StepResult unbroken = run_step(step, ctx(false, short_runs), Progress::none(), {});
  ASSERT_EQ(unbroken.outcome, Outcome::Done) << unbroken.message;
  for (const char* run : {"fp32", "bf16", "fp8", "fp8-noscale"}) {
    EXPECT_EQ(resumed.record["runs"][run]["final_loss"], unbroken.record["runs"][run]["final_loss"]) << run;
    EXPECT_EQ(resumed.record["runs"][run]["eval_ppl"], unbroken.record["runs"][run]["eval_ppl"]) << run;
  }
}

class ScoringText : public Resume {
 protected:
  // A model folder without held-out or calibration text of its own.
  fs::path bare_model() {
    const fs::path m = dir_ / "model";
    if (fs::exists(m)) return m;
    fs::create_directories(m);
    for (const char* f : {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"})
      fs::copy_file(builtin_dir() / f, m / f);
    return m;
  }
  JobContext bare_ctx(bool with_builtin, ParamValues params = {}) {
    JobContext c;
    c.model.display = "my-model";
    c.model.dir = bare_model();
    c.model.builtin = false;
    if (with_builtin) c.builtin_dir = builtin_dir();
    c.params = std::move(params);
    return c;
  }
};

TEST_F(ScoringText, AModelWithoutEvalTextIsScoredOnTheBuiltInTextAndSaysSo) {
  StepResult r = run_step(*find_lab("lab02")->find("lab02.perplexity"), bare_ctx(true), Progress::none(), {});
  ASSERT_EQ(r.outcome, Outcome::Done) << r.message;  // not "not available in this build"
  EXPECT_NE(r.record["text"].get<std::string>().find("built-in model's held-out text (generated"), std::string::npos)
      << r.record["text"];
  StepResult r3 = run_step(*find_lab("lab03")->find("lab03.fp8_inference"), bare_ctx(true), Progress::none(), {});
  ASSERT_EQ(r3.outcome, Outcome::Done) << r3.message;
  EXPECT_EQ(r3.record["text"], r.record["text"]);
}

TEST_F(ScoringText, TheLearnersOwnTextIsScoredWhenChosen) {
  const fs::path text = dir_ / "mine.txt";
  {
    std::ofstream out(text);
    for (int i = 0; i < 400; ++i) out << "The cat sat on the mat and the dog sat on the log. ";
  }
  StepResult r = run_step(*find_lab("lab02")->find("lab02.perplexity"), bare_ctx(false, {{"text", text.string()}}),
                          Progress::none(), {});
  ASSERT_EQ(r.outcome, Outcome::Done) << r.message;
  EXPECT_EQ(r.record["text"], "your file mine.txt");
}

TEST_F(ScoringText, WithNoTextAnywhereTheStepSaysWhatToDo) {
  StepResult r = run_step(*find_lab("lab02")->find("lab02.perplexity"), bare_ctx(false), Progress::none(), {});
  EXPECT_EQ(r.outcome, Outcome::Failed);
  EXPECT_NE(r.message.find("choose a text file in this step's settings"), std::string::npos) << r.message;
}

}  // namespace
}  // namespace qlab::labs
