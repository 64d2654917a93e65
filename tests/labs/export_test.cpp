// `qlab progress export`: milestones and recorded results as Markdown tables a learner can paste into
// notes (item 20 of the learner's report: no raw JSON wrapped in Markdown), and the same as data.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>

#include "labs/milestones.h"
#include "tests/temp_dir.h"

namespace qlab::labs {
namespace {

namespace fs = std::filesystem;

TEST(Export, RecordsBecomeTablesNotJson) {
  const std::filesystem::path tmpl = qlab::testing::make_temp_dir("qlab-export");
  ASSERT_FALSE(tmpl.empty()) << "cannot make a temporary folder";
  const fs::path dir = tmpl;
  ProgressFile pf(dir / "p.json");
  pf.load();
  pf.set_milestone("m1", true, "completed");
  pf.set_result("lab01.properties", {{"model", "built-in"},
                                     {"formats", {{"e4m3", {{"max", 448.0}, {"values", 253}}},
                                                  {"f16", {{"max", 65504.0}, {"values", 63487}}}}}});
  pf.set_result("lab02.perplexity", {{"model", "built-in"},
                                     {"ppl_before", 2.4998212},
                                     {"same_top", 0.8974},
                                     {"settings", {{"chunks", "4"}, {"text", ""}}},
                                     {"runs", {1.5, 2.5}}});
  const std::string md = export_markdown(pf, content());
  EXPECT_NE(md.find("| 1 | Data type precision visualised | yes | completed |"), std::string::npos) << md;
  EXPECT_NE(md.find("| 2 | NVFP4 quantization of a 70B model (60 billion parameters+) | no | - | - |"), std::string::npos) << md;
  // an object of objects: one row per child, one column per measure
  EXPECT_NE(md.find("| formats | max | values |\n|---|---|---|\n| e4m3 | 448 | 253 |\n| f16 | 65504 | 63487 |"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("| ppl_before | 2.49982 |"), std::string::npos) << md;
  EXPECT_NE(md.find("| runs | 1.5, 2.5 |"), std::string::npos) << md;
  EXPECT_NE(md.find("with chunks 4, text (default)."), std::string::npos) << md;
  EXPECT_EQ(md.find("```"), std::string::npos) << md;
  EXPECT_EQ(md.find('{'), std::string::npos) << md;

  const nlohmann::json j = export_json(pf, content());
  EXPECT_EQ(j["milestones"].size(), 8u);
  EXPECT_EQ(j["milestones"][0]["done"], true);
  EXPECT_EQ(j["results"]["lab01.properties"]["formats"]["e4m3"]["max"], 448.0);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace qlab::labs
