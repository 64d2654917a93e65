// The result cache: entries found again by their key, entries of another schema (an older qlab) moved
// aside with a notice and nothing deleted, and partial files that a crash cut off read up to the cut.
#include <gtest/gtest.h>

#include <fstream>

#include "engine/suite/cache.h"
#include "suite_test_util.h"

namespace qlab::suite {
namespace {

using namespace qlab::testing;
using nlohmann::json;

TEST(SuiteCache, FindsByKeyAndMovesAnOlderEntryAside) {
  const auto dir = scratch("suite-cache");
  std::vector<std::string> notices;
  Cache c(dir, [&](const std::string& s) { notices.push_back(s); });
  const json key{{"variant", "nvfp4"}, {"text", "abc"}};
  EXPECT_FALSE(c.get("nvfp4", "ppl", key));
  c.put("nvfp4", "ppl", key, {{"ppl", 2.5}});
  ASSERT_TRUE(c.get("nvfp4", "ppl", key));
  EXPECT_EQ((*c.get("nvfp4", "ppl", key))["ppl"], 2.5);
  EXPECT_FALSE(c.get("nvfp4", "ppl", json{{"variant", "nvfp4"}, {"text", "abd"}}));
  // The same entry as an older qlab wrote it.
  const auto path = c.file("nvfp4", "ppl", key, "json");
  std::ofstream(path) << json{{"schema", 0}, {"qlab_version", "0.0.1"}, {"key", key}, {"result", {{"ppl", 9}}}}.dump();
  EXPECT_FALSE(c.get("nvfp4", "ppl", key));
  ASSERT_EQ(notices.size(), 1u);
  EXPECT_NE(notices[0].find("written by an older qlab (0.0.1, cache schema 0; this one reads schema 1)"),
            std::string::npos) << notices[0];
  EXPECT_EQ(notices[0].find('\n'), std::string::npos);
  auto aside = path;
  aside += ".old";
  EXPECT_TRUE(std::filesystem::exists(aside));  // nothing lost
  std::ofstream(path) << "{\"schema\": 1, \"key\": ";  // cut off mid-write
  EXPECT_FALSE(c.get("nvfp4", "ppl", key));
  EXPECT_NE(notices.back().find("does not parse"), std::string::npos);
}

TEST(SuiteCache, PartialWorkReadsUpToACut) {
  const auto dir = scratch("suite-cache");
  Cache c(dir, {});
  const json key{{"k", 1}};
  for (int i = 0; i < 3; ++i) c.append_partial("v", "ppl", key, {{"chunk", i}});
  {
    std::ofstream(c.file("v", "ppl", key, "partial"), std::ios::app) << "{\"chunk\": 3, \"rows\": [1, 2";
  }
  auto items = c.partial("v", "ppl", key);
  ASSERT_EQ(items.size(), 3u);
  c.append_partial("v", "ppl", key, {{"chunk", 3}});
  items = c.partial("v", "ppl", key);
  ASSERT_EQ(items.size(), 4u);
  EXPECT_EQ(items[3]["chunk"], 3);
  EXPECT_TRUE(c.partial("v", "ppl", json{{"k", 2}}).empty());  // another run's partial file is not used
  c.finish_partial("v", "ppl", json{{"k", 1}});
  EXPECT_TRUE(c.partial("v", "ppl", key).empty());
}

}  // namespace
}  // namespace qlab::suite
