#pragma once
// The stages of a Hugging Face tokenizer.json pipeline, as plain structs the loader fills in
// (tokenizer_load.cpp) and the encoder/decoder run (tokenizer.cpp):
//   AddedVocab     added/special tokens, found before the model runs (leftmost-longest)
//   Normalizer     Prepend, Replace (literal), NFC, NFD — a Sequence is flattened
//   PreTokenizer   ByteLevel, Split (known regexes or a literal), Metaspace, Digits, WhitespaceSplit
//   Decoder        ByteLevel, Metaspace, Replace, ByteFallback, Fuse, Strip, BPEDecoder
// Internal to qlab_io; the public API is tokenizer.h.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/io/bpe.h"
#include "engine/io/pretokenizer_regex.h"

namespace qlab::io::tok {

struct AddedToken {
  std::string content;
  std::int32_t id = 0;
  bool single_word = false, lstrip = false, rstrip = false, normalized = true, special = false;
};

// Tokens matched against one form of the text (raw, or normalized) — a byte trie.
class AddedMatcher {
 public:
  void add(std::string_view pattern, std::size_t token_index);
  bool empty() const { return nodes_.size() <= 1; }
  // Splits `text` into runs: token_index >= 0 for an added token's span, -1 for plain text.
  struct Split {
    std::uint32_t begin, end;
    int token_index;
  };
  void split(std::string_view text, const std::vector<AddedToken>& tokens, std::vector<Split>& out) const;

 private:
  struct Node {
    std::vector<std::pair<unsigned char, std::int32_t>> next;
    int token_index = -1;
  };
  // Longest pattern starting at text[i]: (length, token index), or length 0.
  std::pair<std::size_t, int> longest_at(std::string_view text, std::size_t i) const;
  std::vector<Node> nodes_{Node{}};
  bool first_byte_[256] = {};
};

struct Normalizer {
  enum class Kind { Prepend, Replace, Nfc, Nfd } kind;
  std::string a, b;  // Prepend: a = text; Replace: a -> b
};
std::string normalize(const std::vector<Normalizer>& chain, std::string text);

enum class SplitBehavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous };

struct PreTokenizer {
  enum class Kind { ByteLevel, SplitRegex, SplitLiteral, Metaspace, Digits, WhitespaceSplit } kind;
  bool add_prefix_space = false, use_regex = true;                       // ByteLevel
  SplitPattern pattern = SplitPattern::Gpt2;                             // SplitRegex
  std::string literal;                                                   // SplitLiteral
  SplitBehavior behavior = SplitBehavior::Isolated;                      // Split
  bool invert = false;                                                   // Split
  std::string replacement;                                               // Metaspace
  enum class Prepend { Always, First, Never } prepend = Prepend::Always;  // Metaspace
  bool split = true;                                                     // Metaspace
  bool individual_digits = false;                                        // Digits
};

// Runs chain[k..] on one piece; calls emit(word) for every resulting non-empty word.
// at_origin: the piece begins at byte 0 of the original text (Metaspace's "first" scheme).
void pre_tokenize(const std::vector<PreTokenizer>& chain, std::size_t k, std::string_view piece, bool at_origin,
                  const std::function<void(std::string_view)>& emit);

struct Decoder {
  enum class Kind { ByteLevel, Metaspace, Replace, ByteFallback, Fuse, Strip, BpeSuffix } kind;
  std::string a, b;                                                        // Replace a -> b; Metaspace a; suffix a
  bool prepend_never = false;                                              // Metaspace
  std::string strip_content;                                               // Strip: one character
  std::size_t strip_start = 0, strip_stop = 0;
};
// Applies the chain and joins the result (no chain: tokens joined with spaces).
std::string decode_tokens(const std::vector<Decoder>& chain, bool have_decoder, std::vector<std::string> tokens);

// Byte-level alphabet: byte -> UTF-8 of its printable stand-in, and back.
const std::string& byte_to_unicode(unsigned char b);
std::optional<unsigned char> unicode_to_byte(char32_t cp);

}  // namespace qlab::io::tok
