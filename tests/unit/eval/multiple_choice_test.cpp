// Multiple choice: the MMLU CSV layout both ways, the protocol's candidates (checked with a scorer that
// records what it is asked), and the runtime scoring the built-in model's own set well above chance.
#include <gtest/gtest.h>

#include <filesystem>

#include "engine/core/atomic_file.h"
#include "engine/core/error.h"
#include "engine/eval/multiple_choice.h"
#include "engine/model/model.h"

namespace qlab::eval {
namespace {

std::filesystem::path builtin_dir() { return std::filesystem::path(QLAB_SOURCE_DIR) / "assets" / "builtin"; }

TEST(McCsv, ReadsWhatItWritesAndQuotesPerRfc4180) {
  McItem a;
  a.question = "Anna said \"hi\", then left.\nQuestion: Who?";
  a.choices[0] = "Anna";
  a.choices[1] = "Ben";
  a.choices[2] = "a, b";
  a.choices[3] = "Zoe";
  a.answer = 2;
  McItem b;
  b.question = "Plain";
  for (int c = 0; c < 4; ++c) b.choices[c] = std::string(1, static_cast<char>('w' + c));
  b.answer = 3;
  const std::string csv = mc_csv({a, b});
  EXPECT_EQ(csv, "\"Anna said \"\"hi\"\", then left.\nQuestion: Who?\",Anna,Ben,\"a, b\",Zoe,C\nPlain,w,x,y,z,D\n");
  const auto back = read_mc_csv(csv, "x.csv");
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(back[0].question, a.question);
  EXPECT_EQ(back[0].choices[2], "a, b");
  EXPECT_EQ(back[0].answer, 2);
  EXPECT_EQ(back[1].choices[3], "z");
  EXPECT_EQ(back[1].answer, 3);
  // CRLF line ends and no newline at the end, as spreadsheet exports write them
  EXPECT_EQ(read_mc_csv("q,a,b,c,d,A\r\nr,a,b,c,d,B", "x.csv").size(), 2u);
}

TEST(McCsv, BadRowsNameTheFileAndLine) {
  auto expect_bad = [](const std::string& csv, const std::string& needle) {
    try {
      read_mc_csv(csv, "set.csv");
      ADD_FAILURE() << "accepted " << csv;
    } catch (const Error& e) {
      const std::string m = e.what();
      EXPECT_NE(m.find("set.csv"), std::string::npos) << m;
      EXPECT_NE(m.find(needle), std::string::npos) << m;
    }
  };
  expect_bad("q,a,b,c,d,A\nq,a,b,c,E\n", "row 2 has 5 fields, not 6");
  expect_bad("q,a,b,c,d,E\n", "row 1: the answer 'E' is not one of A, B, C, D");
  expect_bad("\"q,a,b,c,d,A\n", "never ends");
  expect_bad("q\"x,a,b,c,d,A\n", "quote inside");
  expect_bad("\"q\"x,a,b,c,d,A\n", "text after a quoted field");
  expect_bad("\n\n", "no questions");
}

TEST(McProtocol, CandidatesAreBosPromptAndContinuation) {
  const io::Tokenizer tok = io::Tokenizer::load(builtin_dir());
  McItem it;
  it.question = "Anna has a red ball.\nQuestion: What colour is the ball?";
  it.choices[0] = "blue";
  it.choices[1] = "red";
  it.choices[2] = "green";
  it.choices[3] = "white";
  it.answer = 1;
  std::vector<std::vector<std::int32_t>> seen;
  std::vector<std::size_t> prompts;
  // A scorer that prefers the second candidate of each question.
  auto logprob = [&](std::span<const std::int32_t> ids, std::size_t n_prompt) {
    seen.emplace_back(ids.begin(), ids.end());
    prompts.push_back(n_prompt);
    return seen.size() % 4 == 2 ? 0.0 : -1.0;
  };
  const McScore s = mc_accuracy(logprob, tok, std::vector<McItem>{it}, 5, 1 << 20);
  EXPECT_EQ(s.items, 1);
  EXPECT_EQ(s.letter_correct, 1);
  EXPECT_EQ(s.text_correct, 1);
  ASSERT_EQ(seen.size(), 8u);
  auto expect_candidate = [&](std::size_t k, const std::string& prompt, const std::string& cont) {
    std::vector<std::int32_t> want{5};
    const auto p = tok.encode(prompt, false);
    want.insert(want.end(), p.begin(), p.end());
    EXPECT_EQ(prompts[k], want.size()) << k;
    want.resize(1);
    const auto all = tok.encode(prompt + cont, false);
    want.insert(want.end(), all.begin(), all.end());
    EXPECT_EQ(seen[k], want) << k;
  };
  expect_candidate(0, mc_prompt(it), " A");
  expect_candidate(3, mc_prompt(it), " D");
  expect_candidate(5, it.question + "\nAnswer:", " red.");
  // A context shorter than the candidate: cut on the left, the continuation kept whole.
  seen.clear();
  prompts.clear();
  mc_accuracy(logprob, tok, std::vector<McItem>{it}, 5, 8);
  for (std::size_t k = 0; k < seen.size(); ++k) {
    EXPECT_EQ(seen[k].size(), 8u) << k;
    EXPECT_GE(prompts[k], 1u);
  }
}

TEST(McRuntime, TheBuiltInModelAnswersItsOwnSetWellAboveChance) {
  const model::Model m = model::Model::load(builtin_dir());
  const io::Tokenizer tok = io::Tokenizer::load(builtin_dir());
  std::vector<McItem> items = read_mc_csv(read_file(builtin_dir() / "mmlu.csv"), "mmlu.csv");
  ASSERT_EQ(items.size(), 200u);
  items.resize(40);
  const McScore s = mc_accuracy(m, tok, items);
  EXPECT_EQ(s.items, 40);
  // chance is 1/4; by the answer's text the model gets most right (the letter mapping is beyond it)
  EXPECT_GT(s.text_accuracy(), 0.5);
}

}  // namespace
}  // namespace qlab::eval
