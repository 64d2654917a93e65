// Bad input: each failure is a qlab::Error naming the file and the problem, never a crash.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "engine/core/error.h"
#include "engine/io/tokenizer.h"

namespace {

using qlab::io::Tokenizer;

// Runs f, expecting a qlab::Error whose message contains every one of `parts`.
template <typename F>
void expect_error(F f, std::initializer_list<std::string> parts) {
  try {
    f();
    ADD_FAILURE() << "no error; expected one mentioning " << *parts.begin();
  } catch (const qlab::Error& e) {
    const std::string msg = e.what();
    for (const auto& p : parts) EXPECT_NE(msg.find(p), std::string::npos) << "message: " << msg << "\nmissing: " << p;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << "one line: " << msg;
  }
}

std::string minimal(const std::string& model, const std::string& pre = "null") {
  return R"({"added_tokens": [], "normalizer": null, "pre_tokenizer": )" + pre +
         R"(, "post_processor": null, "decoder": null, "model": )" + model + "}";
}

const std::string kModel = R"({"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b"]})";

TEST(TokenizerBadInput, InvalidJson) {
  expect_error([] { Tokenizer::from_json_text("{\"model\": ", "broken.json"); }, {"broken.json", "JSON"});
  expect_error([] { Tokenizer::from_json_text("[1, 2]", "list.json"); }, {"list.json", "object"});
  expect_error([] { Tokenizer::from_json_text("{}", "empty.json"); }, {"empty.json", "model"});
}

TEST(TokenizerBadInput, UnknownModelType) {
  expect_error([] { Tokenizer::from_json_text(minimal(R"({"type": "Unigram", "vocab": [["a", 0.0]]})"), "t.json"); },
               {"t.json", "Unigram", "BPE"});
}

TEST(TokenizerBadInput, MergeNamingUnknownToken) {
  expect_error(
      [] { Tokenizer::from_json_text(minimal(R"({"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": ["a z"]})"), "m.json"); },
      {"m.json", "merge 0", "'z'", "not in the vocabulary"});
  expect_error(
      [] { Tokenizer::from_json_text(minimal(R"({"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": ["a b"]})"), "m.json"); },
      {"m.json", "'ab'", "not in the vocabulary"});
  expect_error(
      [] { Tokenizer::from_json_text(minimal(R"({"type": "BPE", "vocab": {"a": 0}, "merges": ["a b c"]})"), "m.json"); },
      {"m.json", "merges[0]"});
  expect_error(
      [] { Tokenizer::from_json_text(minimal(R"({"type": "BPE", "vocab": {"a": -1}, "merges": []})"), "v.json"); },
      {"v.json", "model.vocab"});
}

TEST(TokenizerBadInput, UnsupportedPipelinePieces) {
  expect_error(
      [] {
        Tokenizer::from_json_text(
            minimal(kModel, R"({"type": "Split", "pattern": {"Regex": "\\w+"}, "behavior": "Isolated", "invert": false})"),
            "r.json");
      },
      {"r.json", "pre_tokenizer.pattern", "unsupported split regex"});
  expect_error([] { Tokenizer::from_json_text(minimal(kModel, R"({"type": "BertPreTokenizer"})"), "b.json"); },
               {"b.json", "BertPreTokenizer"});
}

TEST(TokenizerBadInput, NonUtf8Text) {
  const Tokenizer t = Tokenizer::from_json_text(minimal(kModel), "ok.json");
  EXPECT_EQ(t.encode("ab"), (std::vector<std::int32_t>{2}));
  expect_error([&] { t.encode("a\xFF" "b"); }, {"not valid UTF-8", "byte 1"});
  expect_error([&] { t.encode("ab\xE2\x82"); }, {"not valid UTF-8", "byte 2"});
}

TEST(TokenizerBadInput, IdsOutOfRangeOnDecode) {
  const Tokenizer t = Tokenizer::from_json_text(minimal(kModel), "ok.json");
  EXPECT_EQ(t.decode({2, 0}), "ab a");  // no decoder: tokens joined with spaces
  expect_error([&] { t.decode({0, 3}); }, {"ok.json", "token id 3", "position 1"});
  expect_error([&] { t.decode({-1}); }, {"ok.json", "token id -1"});
  expect_error([&] { t.id_to_token(99); }, {"ok.json", "99"});
}

TEST(TokenizerBadInput, MissingFileAndBadConfig) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("qlab_tok_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()));
  fs::create_directories(dir);
  expect_error([&] { Tokenizer::load(dir); }, {"tokenizer.json"});
  std::ofstream(dir / "tokenizer.json") << minimal(kModel);
  std::ofstream(dir / "tokenizer_config.json") << R"({"add_bos_token": true, "bos_token": "<s>"})";
  expect_error([&] { Tokenizer::load(dir); }, {"tokenizer_config.json", "'<s>'", "not in the vocabulary"});
  std::ofstream(dir / "tokenizer_config.json") << R"({"add_bos_token": true, "bos_token": "a"})";
  const Tokenizer t = Tokenizer::load(dir);
  EXPECT_EQ(t.encode("ab", true), (std::vector<std::int32_t>{0, 2}));
  EXPECT_EQ(t.bos_id(), 0);
  // add_bos_token false: named, not added.
  std::ofstream(dir / "tokenizer_config.json") << R"({"add_bos_token": false, "bos_token": {"content": "a"}, "eos_token": "b"})";
  const Tokenizer f = Tokenizer::load(dir);
  EXPECT_EQ(f.encode("ab", true), (std::vector<std::int32_t>{2}));
  EXPECT_EQ(f.bos_id(), 0);
  EXPECT_EQ(f.eos_id(), 1);
  // A named token the vocabulary lacks is ignored unless it is to be added.
  std::ofstream(dir / "tokenizer_config.json") << R"({"bos_token": "<zzz>"})";
  EXPECT_FALSE(Tokenizer::load(dir).bos_id());
  std::ofstream(dir / "tokenizer_config.json") << R"({"add_bos_token": true})";
  expect_error([&] { Tokenizer::load(dir); }, {"tokenizer_config.json", "bos_token"});
  fs::remove_all(dir);
}

}  // namespace
