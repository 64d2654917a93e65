#pragma once
// The split regexes of byte-level BPE tokenizers, matched by hand-written scanners instead of a
// regex engine. A tokenizer.json names its pattern as regex text; recognise_split_pattern maps the
// known texts to a scanner and returns nothing for any other text (the caller reports it).
//   Gpt2    's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//           (also ByteLevel's built-in pattern when use_regex is true)
//   Llama3  (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}
//           | ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
//   Qwen2   as Llama3 with \p{N} (one digit) in place of \p{N}{1,3}
// Semantics are those of a backtracking engine (Oniguruma, which Hugging Face tokenizers uses):
// at each position the first alternative that matches wins, leftmost, non-overlapping.
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace qlab::io {

enum class SplitPattern { Gpt2, Llama3, Qwen2 };

std::optional<SplitPattern> recognise_split_pattern(std::string_view regex);
std::string_view split_pattern_name(SplitPattern p);

struct ByteSpan {
  std::uint32_t begin, end;
};

// Byte spans of the pattern's matches in `text` (valid UTF-8), in order. For these patterns the
// matches tile the whole text (every character is matched by some alternative).
void find_split_matches(SplitPattern p, std::string_view text, std::vector<ByteSpan>& out);

// A position at or after `at_least` where a match of every known pattern must end and the next
// begin — just after a lone '\n' between printable ASCII characters — or text.size().
// Matching text[0..cut) and text[cut..) apart gives the same matches as matching it whole, so long
// texts can be split in bounded pieces.
std::size_t split_safe_cut(std::string_view text, std::size_t at_least);

}  // namespace qlab::io
