// The hand-written matchers of the split regexes, against splits derived by hand from the
// regexes' alternation order (first alternative that matches wins, as in a backtracking engine).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "engine/io/pretokenizer_regex.h"

namespace {

using qlab::io::SplitPattern;

std::vector<std::string> split(SplitPattern p, const std::string& text) {
  std::vector<qlab::io::ByteSpan> spans;
  qlab::io::find_split_matches(p, text, spans);
  std::vector<std::string> out;
  std::uint32_t covered = 0;
  for (const auto& s : spans) {
    EXPECT_EQ(s.begin, covered) << "matches must tile the text: " << text;
    out.push_back(text.substr(s.begin, s.end - s.begin));
    covered = s.end;
  }
  EXPECT_EQ(covered, text.size());
  return out;
}

using V = std::vector<std::string>;

TEST(SplitPattern, RecognisesTheKnownPatternsOnly) {
  EXPECT_EQ(qlab::io::recognise_split_pattern(
                R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)"),
            SplitPattern::Gpt2);
  EXPECT_EQ(qlab::io::recognise_split_pattern(
                R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)"),
            SplitPattern::Llama3);
  EXPECT_EQ(qlab::io::recognise_split_pattern(
                R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)"),
            SplitPattern::Qwen2);
  EXPECT_FALSE(qlab::io::recognise_split_pattern(R"(\w+|[^\w\s]+)"));
  EXPECT_FALSE(qlab::io::recognise_split_pattern(""));
}

TEST(SplitPattern, Gpt2) {
  const auto p = SplitPattern::Gpt2;
  EXPECT_EQ(split(p, "Hello world"), (V{"Hello", " world"}));
  // Three spaces: \s+(?!\S) takes two (the third is followed by 'w'), ' ?\p{L}+' takes " world".
  EXPECT_EQ(split(p, "Hello   world"), (V{"Hello", "  ", " world"}));
  EXPECT_EQ(split(p, "trailing  "), (V{"trailing", "  "}));
  EXPECT_EQ(split(p, "don't"), (V{"don", "'t"}));
  EXPECT_EQ(split(p, "DON'T"), (V{"DON", "'", "T"}));  // case-sensitive contractions
  EXPECT_EQ(split(p, "we're they'll"), (V{"we", "'re", " they", "'ll"}));
  EXPECT_EQ(split(p, "a\n\nb"), (V{"a", "\n", "\n", "b"}));
  EXPECT_EQ(split(p, "123456 x7"), (V{"123456", " x", "7"}));
  EXPECT_EQ(split(p, "x = [1, 2];"), (V{"x", " =", " [", "1", ",", " 2", "];"}));
  EXPECT_EQ(split(p, "\tcafé"), (V{"\t", "café"}));
  EXPECT_EQ(split(p, " 你好，世界"), (V{" 你好", "，", "世界"}));
  EXPECT_EQ(split(p, "٣٤ ½"), (V{"٣٤", " ½"}));  // Arabic-Indic digits and a vulgar fraction are \p{N}
}

TEST(SplitPattern, Llama3) {
  const auto p = SplitPattern::Llama3;
  EXPECT_EQ(split(p, "Hello world"), (V{"Hello", " world"}));
  EXPECT_EQ(split(p, "DON'T You'RE"), (V{"DON", "'T", " You", "'RE"}));  // (?i:...)
  EXPECT_EQ(split(p, "1234567"), (V{"123", "456", "7"}));
  EXPECT_EQ(split(p, "Hello\n\nworld"), (V{"Hello", "\n\n", "world"}));
  // \s*[\r\n]+ ends at the last newline of the white-space run; " b" is [^\r\n\p{L}\p{N}]?\p{L}+.
  EXPECT_EQ(split(p, "a  \n b"), (V{"a", "  \n", " b"}));
  EXPECT_EQ(split(p, "x = [1, 2]"), (V{"x", " =", " [", "1", ",", " ", "2", "]"}));
  EXPECT_EQ(split(p, "  hi"), (V{" ", " hi"}));
  EXPECT_EQ(split(p, "(hello)"), (V{"(hello", ")"}));  // one non-letter may lead a word
  EXPECT_EQ(split(p, "end.\n\nNext"), (V{"end", ".\n\n", "Next"}));
  EXPECT_EQ(split(p, "\tint"), (V{"\tint"}));
  EXPECT_EQ(split(p, "a\r\nb"), (V{"a", "\r\n", "b"}));
}

TEST(SplitPattern, Qwen2DigitsOneByOne) {
  EXPECT_EQ(split(SplitPattern::Qwen2, "year 2024!"), (V{"year", " ", "2", "0", "2", "4", "!"}));
}

}  // namespace

namespace {

std::string long_mixed_text() {
  const char* parts[] = {"Hello world", "\n", "  x = [1, 22, 333]", "\n\n", "don't", " café", "\r\n", "你好",
                         "\t\tindent", "\n ", "!!\n", "1234567", "   ", "\nEnd.", "\n\u3000wide", "😀",
                         "x\ny", " .\n#", "a  \nb"};
  std::string s;
  for (unsigned i = 0; s.size() < 300000; ++i) s += parts[(i * 7 + i / 5) % std::size(parts)];
  return s;
}

// Cutting at split_safe_cut and matching the pieces apart gives the matches of the whole.
TEST(SplitPattern, SafeCutsDoNotChangeMatches) {
  const std::string text = long_mixed_text();
  for (auto p : {SplitPattern::Gpt2, SplitPattern::Llama3, SplitPattern::Qwen2}) {
    std::vector<qlab::io::ByteSpan> whole, pieces;
    qlab::io::find_split_matches(p, text, whole);
    int cuts = 0;
    for (std::size_t start = 0, cut; start < text.size(); start = cut, ++cuts) {
      cut = qlab::io::split_safe_cut(text, start + 1000);
      std::vector<qlab::io::ByteSpan> part;
      qlab::io::find_split_matches(p, std::string_view(text).substr(start, cut - start), part);
      for (auto s : part) pieces.push_back({static_cast<std::uint32_t>(s.begin + start), static_cast<std::uint32_t>(s.end + start)});
    }
    EXPECT_GT(cuts, 100);
    ASSERT_EQ(whole.size(), pieces.size()) << qlab::io::split_pattern_name(p);
    for (std::size_t i = 0; i < whole.size(); ++i) {
      ASSERT_EQ(whole[i].begin, pieces[i].begin) << i;
      ASSERT_EQ(whole[i].end, pieces[i].end) << i;
    }
  }
}

}  // namespace
