// MMLU as lm-evaluation-harness scores it: the prompt (reference/perplexity.md §6.4's worked example,
// byte for byte), few-shot layout, _encode_pair's whitespace rule, the averages; the built-in model's
// scores against the trainer's independent forward pass; and the transformers fixture (gen_mmlu.py).
#include <gtest/gtest.h>

#include <cmath>

#include <nlohmann/json.hpp>

#include "engine/eval/multiple_choice.h"
#include "engine/eval/suite_mmlu.h"
#include "engine/suite/data.h"
#include "engine/train/evaluate.h"
#include "engine/train/llama_train.h"
#include "suite_test_util.h"

namespace qlab::eval {
namespace {

using namespace qlab::testing;

MmluItem die_question() {
  MmluItem it;
  it.subject = "machine_learning";
  it.question =
      "A 6-sided die is rolled 15 times and the results are: side 1 comes up 0 times; side 2: 1 time; side 3: 2 "
      "times; side 4: 3 times; side 5: 4 times; side 6: 5 times. Based on these results, what is the probability "
      "of side 3 coming up when using Add-1 Smoothing?";
  it.choices = {"2/15", "1/7", "3/16", "1/5"};
  it.answer = 1;
  return it;
}

TEST(MmluPrompt, ZeroShotIsLmEvalsWorkedExample) {
  MmluSet set;
  set.source = "t";
  const std::string expected =
      "The following are multiple choice questions (with answers) about machine learning.\n\n"
      "A 6-sided die is rolled 15 times and the results are: side 1 comes up 0 times; side 2: 1 time; side 3: 2 "
      "times; side 4: 3 times; side 5: 4 times; side 6: 5 times. Based on these results, what is the probability "
      "of side 3 coming up when using Add-1 Smoothing?\nA. 2/15\nB. 1/7\nC. 3/16\nD. 1/5\nAnswer:";
  EXPECT_EQ(lm_eval_prompt(set, die_question(), 0), expected);
}

TEST(MmluPrompt, FewShotTakesTheFirstDevItemsWithTheirLetters) {
  MmluSet set;
  set.source = "t";
  MmluItem d1{"abstract_algebra", "  Q one? \n", {"a", "b", "c", "d"}, 2};
  MmluItem d2{"abstract_algebra", "Q two?", {"e", "f", "g", "h"}, 0};
  MmluItem d3{"abstract_algebra", "Q three?", {"i", "j", "k", "l"}, 3};
  set.dev["abstract_algebra"] = {d1, d2, d3};
  // question.strip() drops Python's whitespace, U+00A0 included; choices are kept as they are.
  MmluItem t{"abstract_algebra", "\xC2\xA0What?\t", {" w", "x", "y", "z "}, 1};
  EXPECT_EQ(lm_eval_prompt(set, t, 2),
            "The following are multiple choice questions (with answers) about abstract algebra.\n\n"
            "Q one?\nA. a\nB. b\nC. c\nD. d\nAnswer: C\n\n"
            "Q two?\nA. e\nB. f\nC. g\nD. h\nAnswer: A\n\n"
            "What?\nA.  w\nB. x\nC. y\nD. z \nAnswer:");
  EXPECT_NE(error_of([&] { lm_eval_prompt(set, t, 5); }).find("5-shot needs 5 dev examples of abstract_algebra, and there are 3"),
            std::string::npos);
}

TEST(MmluPrompt, EncodePairMovesTrailingSpacesIntoTheContinuation) {
  const io::Tokenizer tok = io::Tokenizer::load(builtin_dir());
  const EncodedPair a = encode_pair(tok, "Answer:", " A");
  const EncodedPair b = encode_pair(tok, "Answer: ", "A");
  EXPECT_EQ(a.context, b.context);
  EXPECT_EQ(a.continuation, b.continuation);
  const auto whole = tok.encode("Answer: A", true);
  std::vector<std::int32_t> joined = a.context;
  joined.insert(joined.end(), a.continuation.begin(), a.continuation.end());
  EXPECT_EQ(joined, whole);
}

TEST(MmluScore, AveragesOverQuestionsSubjectsAndCategories) {
  MmluSet set;
  for (int i = 0; i < 4; ++i) set.test.push_back({"abstract_algebra", "q", {"a", "b", "c", "d"}, 0});
  set.test.push_back({"philosophy", "q", {"a", "b", "c", "d"}, 0});
  std::vector<MmluQuestion> q(5);
  q[0].correct = q[1].correct = q[2].correct = true;  // 3 of 4 in abstract_algebra
  q[4].correct = false;                               // 0 of 1 in philosophy
  const MmluResult r = aggregate_mmlu(set, 0, q);
  EXPECT_DOUBLE_EQ(r.all.accuracy(), 3.0 / 5);
  EXPECT_DOUBLE_EQ(r.macro, (0.75 + 0.0) / 2);
  EXPECT_DOUBLE_EQ(r.categories.at("stem").accuracy(), 0.75);
  EXPECT_DOUBLE_EQ(r.categories.at("humanities").accuracy(), 0.0);
  EXPECT_EQ(mmlu_subjects().size(), 57u);
}

// The runtime's scores on the built-in set equal the trainer's (another forward pass, the same protocol):
// by letter (lm-eval's " A".." D") and by the answer text.
TEST(MmluScore, BuiltinSetAgreesWithTheTrainersScorer) {
  const suite::MmluData d = suite::load_mmlu({}, builtin_dir(), builtin_dir(), 0);
  ASSERT_TRUE(d.builtin_layout);
  const io::Tokenizer tok = io::Tokenizer::load(builtin_dir());
  MmluSet part = d.set;
  part.test.resize(60);
  const MmluResult r = score_mmlu(builtin_model(), tok, part, 0);
  std::vector<eval::McItem> items;
  for (const auto& it : part.test) {
    eval::McItem m;
    m.question = it.question;
    for (int c = 0; c < 4; ++c) m.choices[c] = it.choices[static_cast<std::size_t>(c)];
    m.answer = it.answer;
    items.push_back(m);
  }
  const train::TrainModel tm = train::TrainModel::load(builtin_dir());
  train::CastContext f32;
  const eval::McScore s = train::mc_accuracy(tm, tok, items, f32);
  EXPECT_EQ(r.all.correct, s.letter_correct);
  EXPECT_EQ(r.answer_text.correct, s.text_correct);
  EXPECT_EQ(r.all.items, 60);
}

// ---- transformers' prompts, ids and log-likelihoods (tests/fixtures/mmlu, gen_mmlu.py) ---------------

TEST(MmluFixture, PromptsIdsAndScoresEqualLmEvalsWithTransformers) {
  const auto dir = fixtures() / "mmlu";
  if (!std::filesystem::exists(dir / "expected.json"))
    GTEST_SKIP() << "fixture not made yet: run `python3 tests/fixtures/gen_mmlu.py --out tests/fixtures/mmlu` on a machine "
              "with torch and transformers and commit the folder";
  const auto j = nlohmann::json::parse(read_file(dir / "expected.json"));
  const io::Tokenizer tok = io::Tokenizer::load(builtin_dir());
  std::map<int, suite::MmluData> sets;
  for (int k : {0, 5}) sets.emplace(k, suite::load_mmlu(dir / "data", builtin_dir(), builtin_dir(), k));
  std::map<std::string, io::Tokenizer> others;
  for (const char* n : {"llama3", "llama2", "gpt2"})
    if (std::filesystem::exists(fixtures() / "tokenizers" / n / "tokenizer.json"))
      others.emplace(n, io::Tokenizer::load(fixtures() / "tokenizers" / n));
  int checked = 0;
  for (const auto& e : j.at("items")) {
    const int k = e.at("k").get<int>();
    const std::string subject = e.at("subject").get<std::string>();
    const auto& set = sets.at(k).set;
    const MmluItem* item = nullptr;
    int seen = 0;
    for (const auto& it : set.test)
      if (it.subject == subject && seen++ == e.at("index").get<int>()) item = &it;
    ASSERT_NE(item, nullptr) << subject;
    SCOPED_TRACE(subject + " k=" + std::to_string(k));
    const std::string prompt = lm_eval_prompt(set, *item, k);
    ASSERT_EQ(prompt, e.at("prompt").get<std::string>());
    std::array<double, 4> ll{};
    for (int c = 0; c < 4; ++c) {
      const auto& ce = e.at("continuations").at(c);
      const EncodedPair p = encode_pair(tok, prompt, ce.at("text").get<std::string>());
      ASSERT_EQ(p.context, e.at("context_ids").get<std::vector<std::int32_t>>());
      ASSERT_EQ(p.continuation, ce.at("ids").get<std::vector<std::int32_t>>());
      ll[static_cast<std::size_t>(c)] = continuation_logprob(builtin_model(), p);
      EXPECT_NEAR(ll[static_cast<std::size_t>(c)], ce.at("loglik").get<double>(), 1e-4);
      for (const auto& [name, t] : others) {
        const auto& ids = e.at("other_tokenizers").at(name).at(c);
        const EncodedPair o = encode_pair(t, prompt, ce.at("text").get<std::string>());
        EXPECT_EQ(o.context, ids.at(0).get<std::vector<std::int32_t>>()) << name;
        EXPECT_EQ(o.continuation, ids.at(1).get<std::vector<std::int32_t>>()) << name;
      }
    }
    int best = 0;
    for (int c = 1; c < 4; ++c)
      if (ll[static_cast<std::size_t>(c)] > ll[static_cast<std::size_t>(best)]) best = c;
    EXPECT_EQ(best, e.at("predicted").get<int>());
    // The scorer's one-pass path (one forward for the four one-token continuations) agrees.
    const MmluResult one = score_mmlu(builtin_model(), tok, MmluSet{{*item}, set.dev, set.source}, k);
    EXPECT_EQ(one.all.correct, best == item->answer ? 1 : 0);
    EXPECT_EQ(item->answer, e.at("gold").get<int>());
    ++checked;
  }
  EXPECT_GE(checked, 100);
}

}  // namespace
}  // namespace qlab::eval
