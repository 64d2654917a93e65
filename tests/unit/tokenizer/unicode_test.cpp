// UTF-8 handling, character classes and NFC/NFD against facts from the Unicode standard.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "engine/io/unicode_text.h"

namespace {

namespace u = qlab::io::unicode;

TEST(Unicode, CharacterClasses) {
  EXPECT_TRUE(u::is_letter(U'A'));
  EXPECT_TRUE(u::is_letter(U'é'));
  EXPECT_TRUE(u::is_letter(U'中'));     // Lo
  EXPECT_TRUE(u::is_letter(U'ǅ'));     // Lt
  EXPECT_TRUE(u::is_letter(U'ʰ'));     // Lm
  EXPECT_FALSE(u::is_letter(U'\u0301'));  // combining acute: Mn
  EXPECT_TRUE(u::is_number(U'7'));
  EXPECT_TRUE(u::is_number(U'\u0663'));  // ARABIC-INDIC DIGIT THREE: Nd
  EXPECT_TRUE(u::is_number(U'½'));       // No
  EXPECT_TRUE(u::is_number(U'Ⅻ'));       // Nl
  EXPECT_FALSE(u::is_number(U'x'));
  for (char32_t c : {U'\t', U'\n', U'\v', U'\f', U'\r', U' ', U'\u0085', U'\u00A0', U'\u1680', U'\u2000',
                     U'\u200A', U'\u2028', U'\u2029', U'\u202F', U'\u205F', U'\u3000'}) {
    EXPECT_TRUE(u::is_space(c)) << static_cast<unsigned>(c);
  }
  EXPECT_FALSE(u::is_space(U'\u200B'));  // ZERO WIDTH SPACE is Cf, not White_Space
  EXPECT_FALSE(u::is_space(U'\u180E'));  // no longer White_Space since Unicode 6.3
  EXPECT_TRUE(u::is_word(U'_'));
  EXPECT_TRUE(u::is_word(U'\u0301'));  // marks are word characters
  EXPECT_TRUE(u::is_word(U'\u200D'));  // join control
  EXPECT_FALSE(u::is_word(U'-'));
  EXPECT_FALSE(u::is_letter(U'\U0010FFFF'));
  EXPECT_TRUE(u::is_letter(U'\U00020000'));  // CJK Extension B, a First/Last range in UnicodeData.txt
}

TEST(Unicode, Utf8Validation) {
  EXPECT_EQ(u::first_invalid_utf8("plain ascii"), std::string_view::npos);
  EXPECT_EQ(u::first_invalid_utf8("caf\xC3\xA9 \xF0\x9F\x98\x80"), std::string_view::npos);
  EXPECT_EQ(u::first_invalid_utf8("ab\xC0\x80"), 2u);            // overlong NUL
  EXPECT_EQ(u::first_invalid_utf8("\xED\xA0\x80"), 0u);          // surrogate D800
  EXPECT_EQ(u::first_invalid_utf8("x\xF4\x90\x80\x80"), 1u);     // above U+10FFFF
  EXPECT_EQ(u::first_invalid_utf8("abc\xE2\x82"), 3u);           // truncated
  EXPECT_EQ(u::first_invalid_utf8("\x80"), 0u);                  // lone continuation
  EXPECT_EQ(u::first_invalid_utf8("\xFF"), 0u);
}

TEST(Unicode, LossyReplacesMaximalSubparts) {
  // Unicode ch. 3 "U+FFFD substitution of maximal subparts": F0 9F 98 is one truncated sequence.
  EXPECT_EQ(u::utf8_lossy("a\xF0\x9F\x98" "b"), "a\xEF\xBF\xBD" "b");
  // C0 can never start a sequence; 80 is a lone continuation: two replacements.
  EXPECT_EQ(u::utf8_lossy("\xC0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD");
  // ED A0 80: ED is a valid lead but A0 is outside its second-byte range: three replacements.
  EXPECT_EQ(u::utf8_lossy("\xED\xA0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(u::utf8_lossy("ok \xE2\x82\xAC"), "ok \xE2\x82\xAC");
}

TEST(Unicode, Nfc) {
  EXPECT_EQ(u::nfc("e\u0301"), "\u00E9");
  EXPECT_EQ(u::nfc("\u212B"), "\u00C5");              // ANGSTROM SIGN: singleton -> Å
  EXPECT_EQ(u::nfc("\u1100\u1161\u11A8"), "\uAC01");  // Hangul L V T -> 각
  EXPECT_EQ(u::nfc("q\u0307\u0323"), "q\u0323\u0307");  // reordered by combining class, no composite
  EXPECT_EQ(u::nfc("a\u0323\u0302"), "\u1EAD");        // ậ: dot below (220) before circumflex (230)
  EXPECT_EQ(u::nfc("\u0958"), "\u0915\u093C");         // composition exclusion stays decomposed
  EXPECT_EQ(u::nfc("plain text"), "plain text");
  EXPECT_EQ(u::nfc("\u00E9"), "\u00E9");
}

TEST(Unicode, Nfd) {
  EXPECT_EQ(u::nfd("\u00E9"), "e\u0301");
  EXPECT_EQ(u::nfd("\u1EAD"), "a\u0323\u0302");
  EXPECT_EQ(u::nfd("\uAC01"), "\u1100\u1161\u11A8");
  EXPECT_EQ(u::nfd("abc"), "abc");
}

}  // namespace

namespace {

// Every line of the sample of Unicode's own conformance file, both forms, all five columns.
TEST(Unicode, NormalizationConformanceSample) {
  const auto path = std::string(QLAB_SOURCE_DIR) + "/tests/unit/tokenizer/data/normalization_test_sample.txt";
  std::ifstream in(path);
  ASSERT_TRUE(in) << path;
  auto field = [](const std::string& f) {
    std::istringstream ss(f);
    std::string hex, out;
    while (ss >> hex) u::append_utf8(out, static_cast<char32_t>(std::stoul(hex, nullptr, 16)));
    return out;
  };
  std::string line;
  int lines = 0;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> c;
    std::stringstream ss(line);
    for (std::string f; c.size() < 5 && std::getline(ss, f, ';');) c.push_back(field(f));
    ASSERT_EQ(c.size(), 5u) << line;
    for (int i : {0, 1, 2}) EXPECT_EQ(u::nfc(c[i]), c[1]) << line;
    for (int i : {3, 4}) EXPECT_EQ(u::nfc(c[i]), c[3]) << line;
    for (int i : {0, 1, 2}) EXPECT_EQ(u::nfd(c[i]), c[2]) << line;
    for (int i : {3, 4}) EXPECT_EQ(u::nfd(c[i]), c[4]) << line;
    ++lines;
  }
  EXPECT_GT(lines, 1000);
}

}  // namespace
