// lm-eval's wikitext protocol: the detokenizer rule by rule (preprocess_wikitext.py), the word count
// (len(re.split(r"\s+", page))), articles of a wiki.*.raw file, and the rolling windows scoring each token
// exactly once.
#include <gtest/gtest.h>

#include <cmath>

#include "engine/eval/suite_pytext.h"
#include "engine/eval/suite_wordppl.h"
#include "engine/model/forward.h"
#include "suite_test_util.h"

namespace qlab::eval {
namespace {

using namespace qlab::testing;

TEST(WikitextDetokenizer, EachRule) {
  EXPECT_EQ(wikitext_detokenize("the players ' club"), "the players' club");
  EXPECT_EQ(wikitext_detokenize("role @-@ playing , 1 @,@ 250 , 3 @.@ 5"), "role-playing, 1,250, 3.5");
  EXPECT_EQ(wikitext_detokenize("a : b ; c . d ! e ? f"), "a: b; c. d! e? f");
  EXPECT_EQ(wikitext_detokenize("( Japanese : x ) [ 1 ] { y }"), "(Japanese: x) [1] {y}");
  EXPECT_EQ(wikitext_detokenize("\" It was \" said"), "\"It was\" said");
  EXPECT_EQ(wikitext_detokenize(" = = = = H = = = = \n"), " ==== H ====\n");
  EXPECT_EQ(wikitext_detokenize("3 \xC2\xB0 C"), "3\xC2\xB0" "C");
  EXPECT_EQ(wikitext_detokenize("end \n start"), "end\nstart");
  EXPECT_EQ(wikitext_detokenize("it was N years"), "it was 1 years");
  EXPECT_EQ(wikitext_detokenize("the game 's system"), "the game's system");
  // Expected strings from running lm-eval's preprocess_wikitext.py on the same inputs.
  EXPECT_EQ(wikitext_detokenize("x/' 5/y and /' [0-9]/"), "x/'[0-9]/y and /' [0-9]/");
  EXPECT_EQ(wikitext_detokenize("He said ' hello there ' and ( a ( b ) c )"), "He said 'hello there' and (a ( b) c )");
}

TEST(WikitextDetokenizer, PythonsWhitespace) {
  EXPECT_EQ(py_split_count("a  b\n"), 3u);   // ['a', 'b', '']
  EXPECT_EQ(py_split_count(" a"), 2u);       // ['', 'a']
  EXPECT_EQ(py_split_count("a\xC2\xA0" "b"), 2u);
  EXPECT_EQ(py_split_count(""), 1u);
  EXPECT_EQ(py_strip("\xE3\x80\x80 x \t"), "x");
}

TEST(WikitextArticles, SplitAtTopLevelHeadings) {
  const std::string raw = " \n = One = \n \n Text . \n \n = = Sub = = \n more \n = Two = \n body \n";
  const auto pages = split_wikitext_articles(raw);
  ASSERT_EQ(pages.size(), 2u);
  EXPECT_EQ(pages[0], " \n = One = \n \n Text . \n \n = = Sub = = \n more \n");
  EXPECT_EQ(pages[1], " = Two = \n body \n");
}

// A document shorter than the window: one window, [prefix] + tokens[:-1], every token scored.
TEST(RollingWindows, OneWindowScoresEveryTokenAfterThePrefix) {
  const model::Model& m = builtin_model();
  const std::vector<std::int32_t> doc = {5, 17, 300, 42, 42, 9, 100};
  std::vector<std::int32_t> input = {0};
  input.insert(input.end(), doc.begin(), doc.end() - 1);
  const auto logits = model::forward_all(m, input);
  double expect = 0;
  for (std::size_t i = 0; i < doc.size(); ++i)
    expect -= token_nll({logits.data() + i * 768, 768}, doc[i]);
  EXPECT_NEAR(rolling_loglik(m, doc, 0, 128), expect, 1e-9 * std::fabs(expect));
}

// Longer than the window: windows of L predicted tokens, each after the one token before it; a short
// last window sees up to L tokens before its targets.
TEST(RollingWindows, LaterWindowsFollowGetRollingTokenWindows) {
  const model::Model& m = builtin_model();
  std::vector<std::int32_t> doc;
  for (int i = 0; i < 25; ++i) doc.push_back((i * 37 + 11) % 700);
  const std::int64_t L = 10;
  double expect = 0;
  auto score = [&](const std::vector<std::int32_t>& input, std::int64_t end, std::int64_t pred) {
    const auto lg = model::forward_all(m, input);
    for (std::int64_t r = 0; r < pred; ++r) {
      const std::int64_t row = static_cast<std::int64_t>(input.size()) - pred + r;
      expect -= token_nll({lg.data() + row * 768, 768}, doc[static_cast<std::size_t>(end - pred + r)]);
    }
  };
  score({0, doc[0], doc[1], doc[2], doc[3], doc[4], doc[5], doc[6], doc[7], doc[8]}, 10, 10);  // [prefix] + doc[:9]
  score(std::vector<std::int32_t>(doc.begin() + 9, doc.begin() + 19), 20, 10);                 // doc[9:19]
  score(std::vector<std::int32_t>(doc.begin() + 14, doc.begin() + 24), 25, 5);                 // doc[14:24], last 5
  // The last window computes logits for its 5 predicted rows only, the expectation for all 10: BLAS
  // may order a product's sums differently for another row count (OpenBLAS does on some x86 CPUs), so
  // float32 logits can differ in their last bits. A window one token off moves the sum by whole nats.
  EXPECT_NEAR(rolling_loglik(m, doc, 0, L), expect, 1e-6 * std::fabs(expect));
}

}  // namespace
}  // namespace qlab::eval
