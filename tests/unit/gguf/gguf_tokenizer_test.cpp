// The tokenizer a GGUF file carries, read by qlab, tokenizes as llama.cpp does: the tokenizer keys
// qlab writes for the three families of tests/fixtures/tokenizers (GPT-2 byte-level BPE, Llama 3's
// split regex, Llama 2's SentencePiece-style BPE, whose merges qlab rebuilds from the scores)
// against llama-tokenize's ids on a GGUF file holding those keys (tokenizers.json, made by
// gen_gguf_models.py; special tokens not parsed).
#include <gtest/gtest.h>

#include <filesystem>

#include "engine/core/atomic_file.h"
#include "engine/gguf/gguf_tokenizer.h"
#include "engine/gguf/hf_vocab.h"
#include "engine/gguf/sentencepiece_model.h"
#include "tests/unit/gguf/gguf_fixtures.h"

namespace qlab::gguf {
namespace {

namespace fs = std::filesystem;

fs::path tokenizer_dir(const std::string& name) {
  return fs::path(QLAB_SOURCE_DIR) / "tests/fixtures/tokenizers" / name;
}

class GgufTokenizer : public ::testing::TestWithParam<std::string> {};

TEST_P(GgufTokenizer, TokenizesAsLlamaCppDoes) {
  const std::string name = GetParam();
  const auto fx = testing::fixture_json("tokenizers.json")["tokenizers"][name];
  const auto cases = nlohmann::json::parse(read_file(tokenizer_dir(name) / "cases.json"));
  io::ModelConfig cfg;
  const auto& args = fx["synth_model"];
  for (std::size_t i = 0; i + 1 < args.size(); ++i)
    if (args[i] == "--vocab") cfg.vocab_size = std::stoi(args[i + 1].get<std::string>());
  const HfVocab v = hf_vocab_metadata(tokenizer_dir(name), cfg);
  const auto tok = tokenizer_from_metadata(v.kv, name, SpecialText::Plain);
  ASSERT_TRUE(tok.has_value());
  std::size_t checked = 0;
  for (const auto& c : fx["cases"]) {
    const std::string text = cases[c["case"].get<std::size_t>()]["text"];
    EXPECT_EQ(tok->encode(text, true), c["ids"].get<std::vector<std::int32_t>>()) << name << ": '" << text << "'";
    ++checked;
  }
  EXPECT_EQ(checked, cases.size());
}

INSTANTIATE_TEST_SUITE_P(Families, GgufTokenizer, ::testing::Values("gpt2", "llama2", "llama3"));

TEST(HfVocab, NamesTheFamiliesAsLlamaCppDoes) {
  io::ModelConfig cfg;
  cfg.vocab_size = 1000;
  EXPECT_EQ(hf_vocab_metadata(tokenizer_dir("gpt2"), cfg).pre, "gpt-2");
  EXPECT_EQ(hf_vocab_metadata(tokenizer_dir("llama3"), cfg).pre, "llama-bpe");
  const HfVocab spm = hf_vocab_metadata(tokenizer_dir("llama2"), cfg);
  EXPECT_EQ(spm.model, "llama");
  EXPECT_EQ(spm.pre, "default");
  // Ids past the tokenizer's vocabulary up to vocab_size are unused placeholders.
  for (const auto& [k, val] : spm.kv) {
    if (k == "tokenizer.ggml.tokens") {
      EXPECT_EQ(val.size(), 1000u);
      EXPECT_EQ(val.as_strings(k)[999], "[PAD999]");
    }
    if (k == "tokenizer.ggml.token_type") {
      EXPECT_EQ(val.as_array<std::int32_t>(k)[999], 5);
    }
  }
}

TEST(SentencePieceModel, ReadsPiecesScoresAndTypes) {
  // ModelProto { pieces { piece: "<unk>" score: 0 type: UNKNOWN } pieces { piece: "▁the" score: -1.5 } }
  // encoded by hand: field 1 (LEN) holding SentencePiece fields 1 (LEN), 2 (I32), 3 (VARINT);
  // a trainer_spec (field 2) to skip.
  const unsigned char bytes[] = {0x0A, 0x0E, 0x0A, 0x05, '<',  'u',  'n',  'k',  '>',  0x15, 0, 0, 0, 0, 0x18, 0x02,
                                 0x0A, 0x0D, 0x0A, 0x06, 0xE2, 0x96, 0x81, 't',  'h',  'e',  0x15, 0, 0, 0xC0, 0xBF,
                                 0x12, 0x02, 0x08, 0x01};
  const auto pieces = parse_sentencepiece_model(std::as_bytes(std::span(bytes)), "m");
  ASSERT_EQ(pieces.size(), 2u);
  EXPECT_EQ(pieces[0].piece, "<unk>");
  EXPECT_EQ(pieces[0].type, 2);
  EXPECT_EQ(pieces[1].piece, "\xE2\x96\x81the");
  EXPECT_FLOAT_EQ(pieces[1].score, -1.5f);
  EXPECT_EQ(pieces[1].type, 1);
  const unsigned char cut[] = {0x0A, 0x0B, 0x0A, 0x05, '<'};  // a piece running past the end
  EXPECT_THROW(parse_sentencepiece_model(std::as_bytes(std::span(cut)), "m"), Error);
}

}  // namespace
}  // namespace qlab::gguf
