// Small hand-made tokenizer.json files whose ids are traced by hand.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "engine/core/error.h"
#include "engine/io/tokenizer.h"

namespace {

using qlab::io::Tokenizer;
using Ids = std::vector<std::int32_t>;

// Byte-level BPE over a handful of tokens. "Ġ" is the byte-level stand-in for a space.
std::string byte_level_json(const std::string& merges, bool ignore_merges = false,
                            const std::string& added = "[]", const std::string& post = "null") {
  return R"({
    "version": "1.0",
    "added_tokens": )" + added + R"(,
    "normalizer": null,
    "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true},
    "post_processor": )" + post + R"(,
    "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
    "model": {"type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null,
              "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false,
              "ignore_merges": )" + (ignore_merges ? "true" : "false") + R"(,
              "vocab": {"a": 0, "b": 1, "c": 2, "d": 3, "ab": 4, "bc": 5, "abc": 6, "cd": 7, "Ġ": 8, "Ġa": 9,
                        "abcd": 10, "<": 11, ">": 12, "m": 13, "!": 14},
              "merges": )" + merges + R"(}
  })";
}

const char* kRankedMerges = R"(["b c", "a b", "a bc", "c d", "Ġ a"])";

TEST(Bpe, MergesApplyLowestRankFirstNotLeftToRight) {
  // "abcd": pairs (a,b) rank 1, (b,c) rank 0, (c,d) rank 3. b+c first -> a bc d; then a+bc (rank 2)
  // -> abc d; (c,d) no longer exists. Left-to-right greedy would have given ab cd.
  const Tokenizer t = Tokenizer::from_json_text(byte_level_json(kRankedMerges), "ranked.json");
  EXPECT_EQ(t.encode("abcd"), (Ids{6, 3}));
  EXPECT_EQ(t.encode("ab"), (Ids{4}));
  EXPECT_EQ(t.encode("cd"), (Ids{7}));
  // "a abcd" -> words "a", "Ġabcd"; Ġ+a (rank 4) loses to b+c (rank 0) and a+bc never forms because
  // a is taken... trace: Ġ a b c d: (Ġ,a) r4, (a,b) r1, (b,c) r0, (c,d) r3 -> b c first: Ġ a bc d;
  // new pairs (a,bc) r2 -> Ġ abc d; (Ġ,abc) none; (abc,d) none; stale (a,b), (c,d) skipped; (Ġ,a) stale.
  EXPECT_EQ(t.encode("a abcd"), (Ids{0, 8, 6, 3}));
  EXPECT_EQ(t.decode({0, 8, 6, 3}), "a abcd");
  EXPECT_EQ(t.encode("a a"), (Ids{0, 9}));
}

TEST(Bpe, PairFormMergesEqualStringForm) {
  const Tokenizer s = Tokenizer::from_json_text(byte_level_json(kRankedMerges), "s.json");
  const Tokenizer p = Tokenizer::from_json_text(
      byte_level_json(R"([["b", "c"], ["a", "b"], ["a", "bc"], ["c", "d"], ["Ġ", "a"]])"), "p.json");
  for (const char* text : {"abcd", "a abcd dcba", "ab ab cd", "bcbcab"}) EXPECT_EQ(s.encode(text), p.encode(text)) << text;
}

TEST(Bpe, IgnoreMergesTakesWholeWordFromVocabulary) {
  // "abcd" is in the vocabulary but no merge chain builds it.
  EXPECT_EQ(Tokenizer::from_json_text(byte_level_json(kRankedMerges, false), "x.json").encode("abcd"), (Ids{6, 3}));
  EXPECT_EQ(Tokenizer::from_json_text(byte_level_json(kRankedMerges, true), "x.json").encode("abcd"), (Ids{10}));
}

TEST(Bpe, AddedTokensSplitBeforeTheModel) {
  const std::string added = R"([
    {"id": 15, "content": "<m>", "single_word": false, "lstrip": true, "rstrip": false, "normalized": false, "special": true},
    {"id": 16, "content": "<m>>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
    {"id": 17, "content": "cd", "single_word": true, "lstrip": false, "rstrip": false, "normalized": false, "special": false}
  ])";
  const Tokenizer t = Tokenizer::from_json_text(byte_level_json(kRankedMerges, false, added), "added.json");
  // lstrip: the space before <m> goes with it, so "a" stands alone.
  EXPECT_EQ(t.encode("a <m>"), (Ids{0, 15}));
  EXPECT_EQ(t.encode("a<m>b"), (Ids{0, 15, 1}));
  // Leftmost-longest: "<m>>" rather than "<m>" followed by ">".
  EXPECT_EQ(t.encode("<m>>"), (Ids{16}));
  EXPECT_EQ(t.encode("<m>!"), (Ids{15, 14}));
  // single_word: "cd" alone is the added token; inside "abcd" it is not.
  EXPECT_EQ(t.encode("cd"), (Ids{17}));
  EXPECT_EQ(t.encode("abcd"), (Ids{6, 3}));
  EXPECT_EQ(t.encode("cd!"), (Ids{17, 14}));  // punctuation is not a word character
  EXPECT_EQ(t.token_to_id("<m>>"), 16);
  EXPECT_EQ(t.vocab_size(), 18);
  // Decode: added tokens by content; skip_special drops special ones only.
  EXPECT_EQ(t.decode({0, 15, 1}), "a<m>b");
  EXPECT_EQ(t.decode({0, 15, 1, 17}, true), "abcd");
}

TEST(Bpe, TemplatePostProcessorAddsBos) {
  const std::string added = R"([{"id": 15, "content": "<s>", "single_word": false, "lstrip": false, "rstrip": false,
                                  "normalized": false, "special": true}])";
  const std::string post = R"({"type": "TemplateProcessing",
      "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
      "pair": [], "special_tokens": {"<s>": {"id": "<s>", "ids": [15], "tokens": ["<s>"]}}})";
  const Tokenizer t = Tokenizer::from_json_text(byte_level_json(kRankedMerges, false, added, post), "bos.json");
  EXPECT_EQ(t.encode("ab", true), (Ids{15, 4}));
  EXPECT_EQ(t.encode("ab", false), (Ids{4}));
  EXPECT_EQ(t.bos_id(), 15);
  EXPECT_EQ(t.decode({15, 4}, true), "ab");
}

// SentencePiece-style: Prepend("▁") + Replace(" ", "▁"), byte fallback, <unk>.
std::string sp_json(bool byte_fallback, bool fuse_unk) {
  std::string vocab = R"("<unk>": 0, "<s>": 1, "</s>": 2)";
  for (int b = 0; b < 256; ++b) {
    char name[16];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    vocab += ", \"" + std::string(name) + "\": " + std::to_string(3 + b);
  }
  vocab += R"(, "▁": 259, "h": 260, "i": 261, "▁h": 262, "▁hi": 263)";
  return R"({
    "added_tokens": [
      {"id": 0, "content": "<unk>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
      {"id": 1, "content": "<s>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
      {"id": 2, "content": "</s>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
      {"id": 264, "content": "yo", "single_word": false, "lstrip": false, "rstrip": false, "normalized": true, "special": false}],
    "normalizer": {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "▁"},
                   {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]},
    "pre_tokenizer": null,
    "post_processor": {"type": "TemplateProcessing",
      "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
      "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}},
    "decoder": {"type": "Sequence", "decoders": [{"type": "Replace", "pattern": {"String": "▁"}, "content": " "},
                {"type": "ByteFallback"}, {"type": "Fuse"}, {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
    "model": {"type": "BPE", "unk_token": "<unk>", "fuse_unk": )" + std::string(fuse_unk ? "true" : "false") +
         R"(, "byte_fallback": )" + (byte_fallback ? "true" : "false") + R"(,
              "vocab": {)" + vocab + R"(}, "merges": ["▁ h", "▁h i"]}
  })";
}

TEST(Bpe, SentencePieceStyle) {
  const Tokenizer t = Tokenizer::from_json_text(sp_json(true, true), "sp.json");
  // "hi hi" -> "▁hi▁hi" (one word, no pre-tokenizer) -> ▁ h i ▁ h i -> ▁h i ▁h i -> ▁hi ▁hi.
  EXPECT_EQ(t.encode("hi hi"), (Ids{263, 263}));
  EXPECT_EQ(t.encode("hi hi", true), (Ids{1, 263, 263}));
  // é has no piece: its UTF-8 bytes C3 A9 become <0xC3> <0xA9> = 3 + 0xC3, 3 + 0xA9.
  EXPECT_EQ(t.encode("hé"), (Ids{262, 3 + 0xC3, 3 + 0xA9}));
  EXPECT_EQ(t.decode({262, 3 + 0xC3, 3 + 0xA9}), "hé");  // leading space stripped once
  EXPECT_EQ(t.decode({263, 263}), "hi hi");
  // A byte run that is not UTF-8: one U+FFFD per byte.
  EXPECT_EQ(t.decode({263, 3 + 0xC3}), "hi\xEF\xBF\xBD");
  EXPECT_EQ(t.decode({3 + 0xE2, 3 + 0x82}), "\xEF\xBF\xBD\xEF\xBF\xBD");
  // Special tokens are found before normalization: "<s>" is not "▁<s>".
  EXPECT_EQ(t.encode("<s>hi"), (Ids{1, 263}));
  EXPECT_EQ(t.decode({1, 263}), "<s> hi");
  EXPECT_EQ(t.decode({1, 263}, true), "hi");
  // A normalized added token is matched in normalized text: "yo yo" -> "▁yo▁yo" -> pattern "▁yo".
  EXPECT_EQ(t.encode("yo yo"), (Ids{264, 264}));
}

TEST(Bpe, TokensSpanningTheMarkerDisableSegmenting) {
  // A token "i▁" lets a merge cross the "▁" that starts the next word, so the whole normalized
  // text must be merged as one word: ▁ h i ▁ h i -> (i,▁) rank 0 -> ▁ h i▁ h i -> (▁,h) rank 1
  // at 0 -> ▁h i▁ h i; the second (▁,h) is gone. Cutting before each "▁" would give ▁hi ▁hi.
  std::string j = sp_json(true, true);
  auto replace = [&](const std::string& from, const std::string& to) { j.replace(j.find(from), from.size(), to); };
  replace(R"("▁hi": 263)", R"("▁hi": 263, "i▁": 265)");
  replace(R"(["▁ h", "▁h i"])", R"(["i ▁", "▁ h", "▁h i"])");
  const Tokenizer t = Tokenizer::from_json_text(j, "cross.json");
  EXPECT_EQ(t.encode("hi hi"), (Ids{262, 265, 260, 261}));
}

TEST(Bpe, UnknownCharactersWithoutByteFallback) {
  EXPECT_EQ(Tokenizer::from_json_text(sp_json(false, true), "sp.json").encode("héé"), (Ids{262, 0}));
  EXPECT_EQ(Tokenizer::from_json_text(sp_json(false, false), "sp.json").encode("héé"), (Ids{262, 0, 0}));
}

TEST(Bpe, MetaspacePreTokenizerFirstScheme) {
  std::string j = sp_json(true, true);
  const std::string norm = R"("normalizer": {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "▁"},
                   {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]},
    "pre_tokenizer": null,)";
  const std::string meta = R"("normalizer": null,
    "pre_tokenizer": {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": false},)";
  j.replace(j.find(norm), norm.size(), meta);
  const Tokenizer t = Tokenizer::from_json_text(j, "meta.json");
  EXPECT_EQ(t.encode("hi hi"), (Ids{263, 263}));
  // "first": only the piece at the start of the text gets "▁"; after <s> it does not.
  EXPECT_EQ(t.encode("<s>hi"), (Ids{1, 260, 261}));
}

}  // namespace

namespace {

TEST(Bpe, NfcNormalizerRunsBeforeByteLevel) {
  // é as one code point is C3 A9, byte-level "Ã©"; e + U+0301 only becomes that after NFC.
  auto json = [](const char* normalizer) {
    return std::string(R"({"normalizer": )") + normalizer + R"(,
      "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "use_regex": true},
      "decoder": {"type": "ByteLevel"},
      "model": {"type": "BPE", "vocab": {"Ã": 0, "©": 1, "e": 2, "Ã©": 3}, "merges": ["Ã ©"]}})";
  };
  const Tokenizer nfc = Tokenizer::from_json_text(json(R"({"type": "NFC"})"), "nfc.json");
  const Tokenizer none = Tokenizer::from_json_text(json("null"), "none.json");
  EXPECT_EQ(nfc.encode("e\u0301"), (Ids{3}));
  EXPECT_EQ(nfc.encode("\u00e9"), (Ids{3}));
  // Without NFC the combining accent's bytes (CC 81) have no tokens and no unk: dropped, as the reference does.
  EXPECT_EQ(none.encode("e\u0301"), (Ids{2}));
  EXPECT_EQ(nfc.decode({3}), "\u00e9");
}

}  // namespace
