// The world generator, the BPE trainer's tokenizer.json (loaded by the engine's tokenizer) and the
// multiple-choice CSV.
#include <gtest/gtest.h>

#include <algorithm>
#include <regex>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "engine/io/tokenizer.h"
#include "engine/train/bpe_trainer.h"
#include "engine/train/corpus.h"
#include "engine/train/text_world.h"

namespace qlab::train {
namespace {

TEST(TextWorld, SameSeedSameTextOtherSeedOtherText) {
  EXPECT_EQ(generate_corpus(5, 20000), generate_corpus(5, 20000));
  EXPECT_NE(generate_corpus(5, 20000), generate_corpus(6, 20000));
}

TEST(TextWorld, VariedEnoughThatDocumentsRarelyRepeat) {
  // 2000 documents: nearly all distinct, so held-out text cannot be memorised.
  WorldRng rng(3);
  std::set<std::string> docs;
  for (int i = 0; i < 2000; ++i) docs.insert(generate_document(rng));
  EXPECT_GT(docs.size(), 1980u);
}

TEST(TextWorld, McItemsHaveFourDistinctChoicesAndTheAnswerAmongThem) {
  auto items = generate_mc(9, 300);
  int letters[4] = {0, 0, 0, 0};
  for (const auto& it : items) {
    std::set<std::string> c(std::begin(it.choices), std::end(it.choices));
    EXPECT_EQ(c.size(), 4u) << it.question;
    ASSERT_GE(it.answer, 0);
    ASSERT_LT(it.answer, 4);
    ++letters[it.answer];
    EXPECT_NE(it.question.find("\nQuestion: "), std::string::npos);
  }
  for (int n : letters) EXPECT_GT(n, 40);  // answers spread over A..D
}

// "37 plus 48 is 85." statements in digits: every one states the right result, two-digit sums
// appear only when asked for, and the questions about them have the sum as the keyed answer.
TEST(TextWorld, SumsDocumentsAreRightAndOnlyWhereAskedFor) {
  const std::regex stmt(R"((\d+) (plus|minus) (\d+) is (\d+)\.)");
  auto check = [&](const std::string& text) {
    int two_digit_sums = 0;
    for (std::sregex_iterator it(text.begin(), text.end(), stmt), end; it != end; ++it) {
      const int a = std::stoi((*it)[1]), b = std::stoi((*it)[3]), c = std::stoi((*it)[4]);
      EXPECT_EQ(c, (*it)[2] == "plus" ? a + b : a - b) << it->str();
      if ((*it)[2] == "plus" && a >= 10 && b >= 10) ++two_digit_sums;
    }
    return two_digit_sums;
  };
  TextOptions with;
  with.sums_fraction = 0.4;
  EXPECT_EQ(check(generate_corpus(5, 40000)), 0);
  EXPECT_GT(check(generate_corpus(5, 40000, "\n\n", with)), 100);

  const std::regex q(R"(Question: What is (\d+) (plus|minus) (\d+)\?)");
  int asked = 0;
  for (const auto& it : generate_mc(9, 300, with)) {
    std::smatch m;
    if (!std::regex_search(it.question, m, q)) continue;
    ++asked;
    const int a = std::stoi(m[1]), b = std::stoi(m[3]);
    EXPECT_EQ(it.choices[it.answer], std::to_string(m[2] == "plus" ? a + b : a - b)) << it.question;
  }
  EXPECT_GT(asked, 50);
}

TEST(TextWorld, McCsvQuotesFieldsPerRfc4180) {
  eval::McItem it;
  it.question = "Anna said \"hi\", then left.\nQuestion: Who?";
  it.choices[0] = "Anna";
  it.choices[1] = "Ben";
  it.choices[2] = "a, b";
  it.choices[3] = "Zoe";
  it.answer = 2;
  EXPECT_EQ(eval::mc_csv({it}), "\"Anna said \"\"hi\"\", then left.\nQuestion: Who?\",Anna,Ben,\"a, b\",Zoe,C\n");
}

TEST(ByteLevelAlphabet, MatchesGpt2) {
  EXPECT_EQ(byte_level_char(' '), "\xC4\xA0");   // U+0120 'Ġ'
  EXPECT_EQ(byte_level_char('\n'), "\xC4\x8A");  // U+010A 'Ċ'
  EXPECT_EQ(byte_level_char('a'), "a");
  EXPECT_EQ(byte_level_char(0), "\xC4\x80");     // U+0100
  EXPECT_EQ(byte_level_char(0xAD), "\xC5\x83");  // U+0143: the 94th stand-in (33+12+1+... ordering)
}

class TrainedTokenizer : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    BpeTrainOptions o;
    o.vocab_size = 400;
    text_ = new std::string(generate_corpus(1, 200000, "\n"));
    bpe_ = new ByteBpe(train_byte_bpe(*text_, o));
    json_ = new std::string(tokenizer_json(*bpe_));
  }
  static void TearDownTestSuite() {
    delete text_;
    delete bpe_;
    delete json_;
  }
  static std::string* text_;
  static ByteBpe* bpe_;
  static std::string* json_;
};
std::string* TrainedTokenizer::text_ = nullptr;
ByteBpe* TrainedTokenizer::bpe_ = nullptr;
std::string* TrainedTokenizer::json_ = nullptr;

TEST_F(TrainedTokenizer, VocabularyIsSpecialsBytesAndOneTokenPerMerge) {
  EXPECT_EQ(bpe_->vocab.size(), 400u);
  EXPECT_EQ(bpe_->merges.size(), 400u - 1 - 256);
  EXPECT_EQ(bpe_->vocab[0], "<|endoftext|>");
  for (std::size_t i = 0; i < bpe_->merges.size(); ++i)
    EXPECT_EQ(bpe_->vocab[257 + i], bpe_->merges[i].first + bpe_->merges[i].second);
}

TEST_F(TrainedTokenizer, LoadsInTheEngineTokenizerAndRoundTrips) {
  io::Tokenizer tok = io::Tokenizer::from_json_text(*json_, "trained");
  EXPECT_EQ(tok.vocab_size(), 400);
  EXPECT_EQ(tok.token_to_id("<|endoftext|>"), 0);
  const std::string held_out = generate_corpus(77, 20000, "<|endoftext|>");
  auto ids = tok.encode(held_out);
  EXPECT_EQ(tok.decode(ids), held_out);
  // Text from outside the world (other bytes, UTF-8) still round-trips: byte-level covers all.
  const std::string odd = "Zebra café 日本 \t\t  42!! \n\n<|endoftext|>x";
  EXPECT_EQ(tok.decode(tok.encode(odd)), odd);
  // Merges compress: under half a token per byte on text like the training text (a few hundred
  // merges; bytes alone would be one token per byte).
  EXPECT_LT(static_cast<double>(ids.size()), 0.5 * static_cast<double>(held_out.size()));
  // The separator is one special token.
  std::size_t seps = 0, pos = 0;
  while ((pos = held_out.find("<|endoftext|>", pos)) != std::string::npos) ++seps, ++pos;
  EXPECT_EQ(static_cast<std::size_t>(std::count(ids.begin(), ids.end(), 0)), seps);
}

TEST_F(TrainedTokenizer, PostProcessorPutsBosFirstWithoutAConfig) {
  // transformers reads BOS from tokenizer.json's post-processor and ignores tokenizer_config.json's
  // add_bos_token beside it (for PreTrainedTokenizerFast): the file alone must say it.
  io::Tokenizer tok = io::Tokenizer::from_json_text(*json_, "trained");
  const auto plain = tok.encode("Anna has a pear.");
  const auto with = tok.encode("Anna has a pear.", true);
  ASSERT_EQ(with.size(), plain.size() + 1);
  EXPECT_EQ(with.front(), 0);
  EXPECT_TRUE(std::equal(plain.begin(), plain.end(), with.begin() + 1));
  ASSERT_TRUE(tok.bos_id().has_value());
  EXPECT_EQ(*tok.bos_id(), 0);
}

TEST_F(TrainedTokenizer, EncodingAppliesMergesInRankOrder) {
  // A word the trainer saw often becomes one token; decoding the pieces of any word gives it back.
  io::Tokenizer tok = io::Tokenizer::from_json_text(*json_, "trained");
  auto ids = tok.encode(" went");
  ASSERT_EQ(ids.size(), 1u);
  EXPECT_EQ(tok.id_to_token(ids[0]), "\xC4\xA0went");
}

}  // namespace
}  // namespace qlab::train
