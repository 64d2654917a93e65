// The content check: words and code agree, ids are unique, paths name real steps.
#include <gtest/gtest.h>

#include "labs/content.h"
#include "labs/lab.h"

namespace qlab::labs {
namespace {

TEST(Content, CompiledInContentPassesTheCheck) {
  const Content& c = content();
  auto problems = validate(c);
  for (const auto& p : problems) ADD_FAILURE() << p;
  EXPECT_EQ(c.labs.size(), 8u);
  EXPECT_EQ(c.milestones.size(), 8u);
  EXPECT_EQ(c.paths.size(), 3u);
  EXPECT_GE(c.quiz.size(), 6u);   // the module's six prerequisite skills
  EXPECT_GE(c.glossary.size(), 10u);
}

TEST(Content, EveryInterfaceStringTheTutorUsesExists) {
  const Content& c = content();
  for (const char* k : {"milestone_title", "milestone_body", "error_title", "running", "not_available", "cancelled",
                        "failed", "confirm_quit", "quiz_all_right", "quiz_some_wrong"})
    EXPECT_TRUE(c.ui.count(k)) << k;
}

TEST(Content, ModuleCorrectionsArePresent) {
  const Content& c = content();
  std::string all;
  for (const auto& k : c.corrections) all += k.fact + "\n";
  EXPECT_NE(all.find("12.1"), std::string::npos);          // GB10 compute capability
  EXPECT_NE(all.find("trtllm-serve"), std::string::npos);  // trtllm-build removed
  EXPECT_NE(all.find("17 tokens"), std::string::npos);     // bandwidth bound
  EXPECT_NE(all.find("3.56"), std::string::npos);          // 16 / 4.5
  EXPECT_NE(all.find("KV cache"), std::string::npos);      // 200B weights only
}

TEST(Content, CheckFindsDanglingAndDuplicateIds) {
  Content c = content();
  c.paths[0].entries.push_back({"lab01", {"lab01.no_such_step"}, "", false});
  c.quiz.push_back(c.quiz.front());  // duplicate id
  c.quiz.back().answer = 9;
  c.labs[0].steps.pop_back();        // a code step loses its words
  auto problems = validate(c);
  auto has = [&](const std::string& s) {
    for (const auto& p : problems)
      if (p.find(s) != std::string::npos) return true;
    return false;
  };
  EXPECT_TRUE(has("unknown step 'lab01.no_such_step'"));
  EXPECT_TRUE(has("duplicate quiz item id"));
  EXPECT_TRUE(has("out of range"));
  EXPECT_TRUE(has("has no text"));
}

TEST(Content, BadJsonNamesTheFile) {
  try {
    parse_content({{"lab09.json", "{\"id\": \"lab09\", "}});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("content/lab09.json"), std::string::npos) << e.what();
  }
  try {
    parse_content({{"glossary.json", "{\"terms\": [{\"id\": \"x\"}]}"}});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("missing key 'term'"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace qlab::labs
