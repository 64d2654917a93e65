// Lab 7 headless: the suite step on the built-in model (a few chunks, the 4-bit variants) draws a line per
// variant while it runs, then the sortable table, the Pareto chart and the module's claims beside the
// measured costs; a cancelled run keeps its finished variants; the milestone waits for every variant.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <vector>

#include <fmt/format.h>

#include "engine/core/atomic_file.h"
#include "engine/eval/multiple_choice.h"
#include "labs/lab.h"
#include "labs/milestones.h"
#include "labs/progress_file.h"
#include "labs/step_files.h"
#include "tests/temp_dir.h"

namespace qlab::labs {
namespace {

// A test's folder, removed when the test program exits.
std::filesystem::path scratch() {
  auto d = std::filesystem::temp_directory_path() /
           fmt::format("lab07-{}-{}", ::getpid(), ::testing::UnitTest::GetInstance()->current_test_info()->name());
  std::filesystem::remove_all(d);
  std::filesystem::create_directories(d);
  qlab::testing::remove_at_exit(d);
  return d;
}

JobContext context(const std::filesystem::path& dir) {
  JobContext ctx;
  ctx.model.display = "built-in";
  ctx.model.dir = std::string(QLAB_SOURCE_DIR) + "/assets/builtin";
  ctx.builtin_dir = ctx.model.dir;
  ctx.out_dir = dir / "step";
  // The first 20 of the built-in questions keep the test short.
  const auto items = eval::read_mc_csv(read_file(ctx.model.dir / "mmlu.csv"), "mmlu.csv");
  write_file_atomic(dir / "mmlu20.csv", eval::mc_csv({items.begin(), items.begin() + 20}));
  ctx.params = {{"variants", "4-bit"}, {"chunks", "3"}, {"mmlu", (dir / "mmlu20.csv").string()}};
  return ctx;
}

TEST(Lab07, SuiteStepDrawsLinesThenTheSortableTableAndChart) {
  const auto dir = scratch();
  ::setenv("XDG_CACHE_HOME", (dir / "cache").c_str(), 1);
  const Lab* lab = find_lab("lab07");
  ASSERT_NE(lab, nullptr);
  const Step* s = lab->find("lab07.suite");
  ASSERT_NE(s, nullptr);
  JobContext ctx = context(dir);
  int partials = 0;
  bool saw_running = false;
  ctx.partial = [&](StepResult p) {
    ++partials;
    const auto& t = std::get<Table>(p.blocks.at(0));
    for (const auto& row : t.rows) saw_running = saw_running || row[1] == "running";
  };
  const StepResult r = run_step(*s, ctx, Progress::none(), {});
  ASSERT_EQ(r.outcome, Outcome::Done) << r.message;
  EXPECT_GT(partials, 3);
  EXPECT_TRUE(saw_running);
  const auto& t = std::get<Table>(r.blocks.at(0));
  EXPECT_TRUE(t.sortable);
  EXPECT_EQ(t.rows.front().front(), "baseline");
  // baseline, nvfp4, mxfp4, nf4, rtn-int4-g128, gptq-int4-g128, awq-int4-g128, gguf-q4_k_m, gguf-q4_0
  EXPECT_EQ(t.rows.size(), 9u);
  const auto& chart = std::get<LineChart>(r.blocks.at(1));
  EXPECT_EQ(chart.series.size(), 9u);
  const auto& claims = std::get<Table>(r.blocks.at(2));
  EXPECT_EQ(claims.rows.size(), 3u);  // GPTQ, AWQ and NVFP4 (INT8 was not run)
  EXPECT_FALSE(r.record.at("completes_milestone").get<bool>());
  EXPECT_TRUE(std::filesystem::exists(r.record.at("reports").at("html").get<std::string>()));
  // Not every variant: the result is kept, the milestone is not completed.
  ProgressFile pf(dir / "progress.json");
  pf.load();
  EXPECT_FALSE(record_step(pf, *lab, "lab07.suite", r, ctx.model));
  EXPECT_TRUE(step_done(pf, "lab07.suite"));
  EXPECT_FALSE(milestone_done(pf, "m7"));
  StepResult all = r;
  all.record["completes_milestone"] = true;
  EXPECT_TRUE(record_step(pf, *lab, "lab07.suite", all, ctx.model));
}

TEST(Lab07, ACancelledRunKeepsItsFinishedVariants) {
  const auto dir = scratch();
  ::setenv("XDG_CACHE_HOME", (dir / "cache").c_str(), 1);
  const Step* s = find_lab("lab07")->find("lab07.suite");
  JobContext ctx = context(dir);
  std::stop_source stop;
  int done_lines = 0;
  ctx.partial = [&](StepResult p) {
    int done = 0;
    for (const auto& row : std::get<Table>(p.blocks.at(0)).rows) done += row[1] == "done" ? 1 : 0;
    done_lines = done;
    if (done >= 2) stop.request_stop();
  };
  const StepResult cut = run_step(*s, ctx, Progress::none(), stop.get_token());
  ASSERT_EQ(cut.outcome, Outcome::Cancelled) << cut.message;
  const auto cp = read_checkpoint(ctx.out_dir);
  ASSERT_TRUE(cp.has_value());
  EXPECT_NE(cp->summary.find("of 9 variants done"), std::string::npos) << cp->summary;
  std::vector<std::string> details;
  ctx.partial = [&](StepResult p) {
    details.clear();
    for (const auto& row : std::get<Table>(p.blocks.at(0)).rows) details.push_back(row[2]);
  };
  const StepResult again = run_step(*s, ctx, Progress::none(), {});
  ASSERT_EQ(again.outcome, Outcome::Done) << again.message;
  ASSERT_GE(details.size(), 2u);
  EXPECT_EQ(details[0], "from the cache");
  EXPECT_EQ(details[1], "from the cache");
  EXPECT_FALSE(read_checkpoint(ctx.out_dir).has_value());
}

}  // namespace
}  // namespace qlab::labs
