#include "engine/io/pretokenizer_regex.h"

#include <algorithm>

#include "engine/io/unicode_text.h"

namespace qlab::io {

namespace {

constexpr std::string_view kGpt2 = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
constexpr std::string_view kLlama3 =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr std::string_view kQwen2 =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

// One decoded character: code point, byte offset, class flags.
struct Ch {
  char32_t cp;
  std::uint32_t at;
  std::uint8_t flags;
};

bool letter(const Ch& c) { return c.flags & unicode::kLetter; }
bool number(const Ch& c) { return c.flags & unicode::kNumber; }
bool space(const Ch& c) { return c.flags & unicode::kSpace; }
bool other(const Ch& c) { return !(c.flags & (unicode::kLetter | unicode::kNumber | unicode::kSpace)); }
bool newline(const Ch& c) { return c.cp == '\r' || c.cp == '\n'; }

// Case-insensitive comparison for the contraction letters: simple case folding, under which
// U+017F LATIN SMALL LETTER LONG S folds to 's' as well as 'S' does.
char32_t fold(char32_t c) {
  if (c >= 'A' && c <= 'Z') return c + 32;
  if (c == 0x17F) return 's';
  return c;
}

// Length in characters of a contraction ('s 't 're 've 'm 'll 'd) at i, or 0.
std::size_t contraction(const std::vector<Ch>& c, std::size_t i, bool ignore_case) {
  const std::size_t n = c.size();
  if (c[i].cp != '\'' || i + 1 >= n) return 0;
  auto at = [&](std::size_t k) { return ignore_case ? fold(c[k].cp) : c[k].cp; };
  const char32_t a = at(i + 1);
  if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
  if (i + 2 < n) {
    const char32_t b = at(i + 2);
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
  }
  return 0;
}

template <typename Pred>
std::size_t run(const std::vector<Ch>& c, std::size_t i, Pred pred, std::size_t limit = SIZE_MAX) {
  std::size_t j = i;
  while (j < c.size() && j - i < limit && pred(c[j])) ++j;
  return j - i;
}

// ` ?X+` where X is a class: optional literal space, then at least one X.
template <typename Pred>
std::size_t space_then_run(const std::vector<Ch>& c, std::size_t i, Pred pred) {
  std::size_t j = i;
  if (c[j].cp == ' ') ++j;
  std::size_t k = j < c.size() ? run(c, j, pred) : 0;
  if (k > 0) return j - i + k;
  return 0;  // without the space, X+ would have to match ' ', and no X here contains it
}

// \s+(?!\S) then \s+ : a white-space run, less its last character when a non-space follows.
std::size_t whitespace_tail(const std::vector<Ch>& c, std::size_t i) {
  const std::size_t k = run(c, i, space);
  if (k == 0) return 0;
  if (i + k == c.size()) return k;
  return k >= 2 ? k - 1 : 1;
}

std::size_t match_gpt2(const std::vector<Ch>& c, std::size_t i) {
  if (std::size_t k = contraction(c, i, false)) return k;
  if (std::size_t k = space_then_run(c, i, letter)) return k;
  if (std::size_t k = space_then_run(c, i, number)) return k;
  if (std::size_t k = space_then_run(c, i, other)) return k;
  return whitespace_tail(c, i);
}

std::size_t match_llama3(const std::vector<Ch>& c, std::size_t i, std::size_t max_digits) {
  const std::size_t n = c.size();
  if (std::size_t k = contraction(c, i, true)) return k;
  // [^\r\n\p{L}\p{N}]?\p{L}+
  if (letter(c[i])) return run(c, i, letter);
  if (!newline(c[i]) && !number(c[i]) && i + 1 < n && letter(c[i + 1])) return 1 + run(c, i + 1, letter);
  // \p{N}{1,3}
  if (number(c[i])) return run(c, i, number, max_digits);
  // ` ?[^\s\p{L}\p{N}]+[\r\n]*`
  if (std::size_t k = space_then_run(c, i, other)) return k + run(c, i + k, newline);
  // \s*[\r\n]+ : up to and including the last newline of the white-space run
  const std::size_t ws = run(c, i, space);
  for (std::size_t j = ws; j > 0; --j) {
    if (newline(c[i + j - 1])) return j;
  }
  return whitespace_tail(c, i);
}

}  // namespace

std::optional<SplitPattern> recognise_split_pattern(std::string_view regex) {
  if (regex == kGpt2) return SplitPattern::Gpt2;
  if (regex == kLlama3) return SplitPattern::Llama3;
  if (regex == kQwen2) return SplitPattern::Qwen2;
  return std::nullopt;
}

std::string_view split_pattern_name(SplitPattern p) {
  switch (p) {
    case SplitPattern::Gpt2: return "GPT-2";
    case SplitPattern::Llama3: return "Llama 3";
    case SplitPattern::Qwen2: return "Qwen2";
  }
  return "?";
}

std::size_t split_safe_cut(std::string_view text, std::size_t at_least) {
  // Every pattern treats '\n' as white space that no letter, number or punctuation match can
  // start with, and every white-space alternative stops at a non-space. A lone '\n' between two
  // printable characters is therefore a match of its own (or the end of a punctuation match) in
  // the whole text and at the end of a piece alike: with one white-space character, \s+(?!\S)
  // cannot give one back, so the end of the text and a following non-space read the same.
  auto printable = [](char ch) { return ch > 0x20 && ch < 0x7F; };
  for (std::size_t i = std::max<std::size_t>(at_least, 2); i < text.size(); ++i) {
    if (text[i - 1] == '\n' && printable(text[i]) && printable(text[i - 2])) return i;
  }
  return text.size();
}

void find_split_matches(SplitPattern p, std::string_view text, std::vector<ByteSpan>& out) {
  thread_local std::vector<Ch> chars;
  chars.clear();
  const auto* bytes = reinterpret_cast<const unsigned char*>(text.data());
  for (std::size_t i = 0; i < text.size();) {
    if (bytes[i] < 0x80) {  // ASCII: most of most text
      chars.push_back({bytes[i], static_cast<std::uint32_t>(i), unicode::kAsciiFlags[bytes[i]]});
      ++i;
      continue;
    }
    char32_t cp;
    int len = unicode::utf8_next(bytes + i, text.size() - i, cp);
    if (len < 0) {  // callers pass valid UTF-8; treat a stray byte as an "other" character
      cp = 0xFFFD;
      len = -len;
    }
    chars.push_back({cp, static_cast<std::uint32_t>(i), unicode::char_flags(cp)});
    i += static_cast<std::size_t>(len);
  }
  const std::size_t n = chars.size();
  auto byte_at = [&](std::size_t k) { return k < n ? chars[k].at : static_cast<std::uint32_t>(text.size()); };
  for (std::size_t i = 0; i < n;) {
    std::size_t k = 0;
    switch (p) {
      case SplitPattern::Gpt2: k = match_gpt2(chars, i); break;
      case SplitPattern::Llama3: k = match_llama3(chars, i, 3); break;
      case SplitPattern::Qwen2: k = match_llama3(chars, i, 1); break;
    }
    if (k == 0) {  // unreachable for these patterns; an unmatched character stays its own piece
      ++i;
      continue;
    }
    out.push_back({byte_at(i), byte_at(i + k)});
    i += k;
  }
}

}  // namespace qlab::io
