// Added tokens: found in the text before the model runs, the way Hugging Face tokenizers' added
// vocabulary does it (Aho-Corasick, leftmost-longest), then single_word / lstrip / rstrip applied
// to each match.
#include "engine/io/tokenizer_parts.h"
#include "engine/io/unicode_text.h"

namespace qlab::io::tok {

void AddedMatcher::add(std::string_view pattern, std::size_t token_index) {
  if (pattern.empty()) return;
  std::size_t node = 0;
  for (char ch : pattern) {
    const auto byte = static_cast<unsigned char>(ch);
    std::int32_t found = -1;
    for (const auto& [b, child] : nodes_[node].next) {
      if (b == byte) found = child;
    }
    if (found < 0) {
      found = static_cast<std::int32_t>(nodes_.size());
      nodes_[node].next.emplace_back(byte, found);
      nodes_.emplace_back();
    }
    node = static_cast<std::size_t>(found);
  }
  if (nodes_[node].token_index < 0) nodes_[node].token_index = static_cast<int>(token_index);
  first_byte_[static_cast<unsigned char>(pattern[0])] = true;
}

std::pair<std::size_t, int> AddedMatcher::longest_at(std::string_view text, std::size_t i) const {
  std::size_t node = 0, best_len = 0;
  int best = -1;
  for (std::size_t j = i; j < text.size(); ++j) {
    const auto byte = static_cast<unsigned char>(text[j]);
    std::int32_t found = -1;
    for (const auto& [b, child] : nodes_[node].next) {
      if (b == byte) {
        found = child;
        break;
      }
    }
    if (found < 0) break;
    node = static_cast<std::size_t>(found);
    if (nodes_[node].token_index >= 0) {
      best = nodes_[node].token_index;
      best_len = j + 1 - i;
    }
  }
  return {best_len, best};
}

namespace {

// Last / first code point of a string (valid UTF-8, non-empty).
char32_t last_char(std::string_view s) {
  std::size_t i = s.size() - 1;
  while (i > 0 && (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) --i;
  char32_t cp = 0;
  unicode::utf8_next(reinterpret_cast<const unsigned char*>(s.data()) + i, s.size() - i, cp);
  return cp;
}
char32_t first_char(std::string_view s) {
  char32_t cp = 0;
  unicode::utf8_next(reinterpret_cast<const unsigned char*>(s.data()), s.size(), cp);
  return cp;
}

// Start of the white space that ends s[0..end).
std::size_t trailing_space_start(std::string_view s, std::size_t end) {
  std::size_t i = end;
  while (i > 0) {
    std::size_t j = i - 1;
    while (j > 0 && (static_cast<unsigned char>(s[j]) & 0xC0) == 0x80) --j;
    if (!unicode::is_space(last_char(s.substr(j, i - j)))) break;
    i = j;
  }
  return i;
}

// End of the white space that starts at s[begin].
std::size_t leading_space_end(std::string_view s, std::size_t begin) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  std::size_t i = begin;
  while (i < s.size()) {
    char32_t cp;
    int len = unicode::utf8_next(p + i, s.size() - i, cp);
    if (len < 0 || !unicode::is_space(cp)) break;
    i += static_cast<std::size_t>(len);
  }
  return i;
}

}  // namespace

void AddedMatcher::split(std::string_view text, const std::vector<AddedToken>& tokens,
                         std::vector<Split>& out) const {
  const std::size_t n = text.size();
  std::size_t start_offset = 0;
  if (!empty()) {
    for (std::size_t i = 0; i < n;) {
      if (!first_byte_[static_cast<unsigned char>(text[i])]) {
        ++i;
        continue;
      }
      auto [len, index] = longest_at(text, i);
      if (len == 0) {
        ++i;
        continue;
      }
      std::size_t start = i, stop = i + len;
      i = stop;  // the search goes on after the match, whether or not it is kept
      const AddedToken& t = tokens[static_cast<std::size_t>(index)];
      if (t.single_word) {
        const bool start_space = start == 0 || !unicode::is_word(last_char(text.substr(0, start)));
        const bool stop_space = stop == n || !unicode::is_word(first_char(text.substr(stop)));
        if (!start_space || !stop_space) continue;
      }
      if (t.lstrip) start = std::max(trailing_space_start(text, start), start_offset);
      if (t.rstrip) stop = leading_space_end(text, stop);
      if (start_offset < start) {
        out.push_back({static_cast<std::uint32_t>(start_offset), static_cast<std::uint32_t>(start), -1});
      }
      out.push_back({static_cast<std::uint32_t>(start), static_cast<std::uint32_t>(stop), index});
      start_offset = stop;
    }
  }
  if (start_offset < n) out.push_back({static_cast<std::uint32_t>(start_offset), static_cast<std::uint32_t>(n), -1});
}

}  // namespace qlab::io::tok
