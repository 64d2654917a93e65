// Against the `tokenizers` library itself: tiny tokenizers of each family trained and saved by
// tests/fixtures/gen_tokenizers.py, with its ids (without and with special tokens) and decodes
// of a varied text set.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "engine/io/tokenizer.h"

namespace {

using qlab::io::Tokenizer;
namespace fs = std::filesystem;

fs::path family_dir(const std::string& family) {
  return fs::path(QLAB_SOURCE_DIR) / "tests" / "fixtures" / "tokenizers" / family;
}

nlohmann::json read_cases(const fs::path& dir) {
  std::ifstream in(dir / "cases.json", std::ios::binary);
  if (!in) return nullptr;
  std::stringstream ss;
  ss << in.rdbuf();
  return nlohmann::json::parse(ss.str());
}

std::string show(const std::vector<std::int32_t>& ids) {
  std::string s;
  for (auto id : ids) s += std::to_string(id) + " ";
  return s;
}

class TokenizerFixture : public ::testing::TestWithParam<std::string> {};

TEST_P(TokenizerFixture, MatchesReferenceEncodeAndDecode) {
  const fs::path dir = family_dir(GetParam());
  ASSERT_TRUE(fs::exists(dir / "tokenizer.json")) << "missing fixture " << dir;
  const nlohmann::json cases = read_cases(dir);
  ASSERT_TRUE(cases.is_array() && !cases.empty()) << "missing or empty " << dir / "cases.json";
  const Tokenizer tok = Tokenizer::load(dir);
  int checked = 0;
  for (const auto& c : cases) {
    const std::string text = c["text"].get<std::string>();
    const auto want = c["ids"].get<std::vector<std::int32_t>>();
    const auto want_special = c["ids_special"].get<std::vector<std::int32_t>>();
    const auto got = tok.encode(text, false);
    EXPECT_EQ(got, want) << "text: '" << text << "'\n got: " << show(got) << "\nwant: " << show(want);
    EXPECT_EQ(tok.encode(text, true), want_special) << "text: '" << text << "'";
    if (c.contains("tokens")) {
      const auto tokens = c["tokens"].get<std::vector<std::string>>();
      ASSERT_EQ(tokens.size(), want.size());
      for (std::size_t i = 0; i < want.size(); ++i) EXPECT_EQ(tok.id_to_token(want[i]), tokens[i]);
    }
    EXPECT_EQ(tok.decode(want, false), c["decoded"].get<std::string>()) << "text: '" << text << "'";
    if (c.contains("decoded_skip_special")) {
      EXPECT_EQ(tok.decode(want, true), c["decoded_skip_special"].get<std::string>()) << "text: '" << text << "'";
    }
    ++checked;
  }
  EXPECT_GE(checked, 40);
}

INSTANTIATE_TEST_SUITE_P(Families, TokenizerFixture, ::testing::Values("gpt2", "llama3", "llama2"),
                         [](const auto& info) { return info.param; });

TEST(TokenizerFixtureConfig, SpecialTokensFollowTokenizerConfig) {
  const Tokenizer gpt2 = Tokenizer::load(family_dir("gpt2"));
  EXPECT_EQ(gpt2.bos_id(), gpt2.token_to_id("<|endoftext|>"));
  EXPECT_EQ(gpt2.eos_id(), gpt2.token_to_id("<|endoftext|>"));
  EXPECT_EQ(gpt2.encode("Hello", true), gpt2.encode("Hello", false));  // add_bos_token: false

  const Tokenizer llama3 = Tokenizer::load(family_dir("llama3"));
  ASSERT_TRUE(llama3.bos_id());
  EXPECT_EQ(llama3.id_to_token(*llama3.bos_id()), "<|begin_of_text|>");
  EXPECT_EQ(llama3.id_to_token(*llama3.eos_id()), "<|end_of_text|>");

  const Tokenizer llama2 = Tokenizer::load(family_dir("llama2"));
  EXPECT_EQ(llama2.bos_id(), 1);
  EXPECT_EQ(llama2.eos_id(), 2);
  EXPECT_EQ(llama2.token_to_id("<0x41>"), 3 + 0x41);
}

}  // namespace

namespace {

// A long text is pre-tokenized in chunks; cut where a split must fall anyway, its ids are the ids
// of its two halves.
TEST(TokenizerFixtureLong, ChunkedEncodeEqualsHalves) {
  std::string text;
  for (int i = 0; text.size() < 400000; ++i) {
    text += "Line " + std::to_string(i) + ": the model's weight, quantized to 4 bits — café 你好 😀 end.\n";
    if (i % 7 == 0) text += "\tindented {code} = [1, 2];\n\n";
  }
  const std::size_t cut = text.find("\nLine 3000:") + 1;
  ASSERT_GT(cut, 1u);
  for (const char* family : {"gpt2", "llama3"}) {  // the split-regex families
    const Tokenizer tok = Tokenizer::load(family_dir(family));
    auto whole = tok.encode(text);
    auto a = tok.encode(std::string_view(text).substr(0, cut));
    auto b = tok.encode(std::string_view(text).substr(cut));
    a.insert(a.end(), b.begin(), b.end());
    EXPECT_EQ(whole, a) << family;
  }
}

}  // namespace

namespace {

std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A ByteLevel post-processor beside tokenizer_config.json's "add_bos_token": true (the built-in model's
// files before it stated BOS in the post-processor; DeepSeek's Qwen distills ship the same pair).
// transformers 5.17 (AutoTokenizer, the GPU machine) encodes "a b" of that pair as [98, 282]: no BOS,
// the config's flag dropped beside a tokenizer.json; convert_hf_to_gguf.py writes the flag as
// tokenizer.ggml.add_bos_token, so llama.cpp puts BOS (id 0) first.
TEST(TokenizerSpecials, ConfigFlagForLlamaCppPostProcessorAloneForTransformers) {
  const fs::path dir = fs::path(QLAB_SOURCE_DIR) / "assets" / "builtin";
  nlohmann::ordered_json j = nlohmann::ordered_json::parse(read_text(dir / "tokenizer.json"));
  j["post_processor"] = {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", false}, {"use_regex", true}};
  const std::string config = read_text(dir / "tokenizer_config.json");
  ASSERT_NE(config.find("\"add_bos_token\": true"), std::string::npos);
  const Tokenizer t = Tokenizer::from_json_text(j.dump(), "bytelevel.json", config, "tokenizer_config.json");
  EXPECT_EQ(t.encode("a b", Tokenizer::Specials::AsTransformers), (std::vector<std::int32_t>{98, 282}));
  EXPECT_EQ(t.encode("a b", Tokenizer::Specials::AsConfigured), (std::vector<std::int32_t>{0, 98, 282}));
  EXPECT_EQ(t.encode("a b", Tokenizer::Specials::None), (std::vector<std::int32_t>{98, 282}));
  EXPECT_EQ(t.encode("a b", true), t.encode("a b", Tokenizer::Specials::AsConfigured));
  // The built-in files as shipped state BOS in the post-processor: both rules agree.
  const Tokenizer b = Tokenizer::load(dir);
  EXPECT_EQ(b.encode("a b", Tokenizer::Specials::AsTransformers), (std::vector<std::int32_t>{0, 98, 282}));
  EXPECT_EQ(b.encode("a b", Tokenizer::Specials::AsConfigured), (std::vector<std::int32_t>{0, 98, 282}));
}

}  // namespace
