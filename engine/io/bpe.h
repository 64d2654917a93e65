#pragma once
// The BPE model of Hugging Face tokenizers: a vocabulary, ranked merges, and how a pre-token
// ("word") becomes ids — characters looked up first (unknown ones through byte fallback <0xNN>
// or the unk token), then merges applied lowest rank first, leftmost first among equal ranks,
// with a priority queue over a linked list of symbols (the reference algorithm, stale entries and
// all, so the result is identical even where two merges make the same token).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace qlab::io {

struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};
using TokenMap = std::unordered_map<std::string, std::int32_t, StringHash, std::equal_to<>>;

struct BpeOptions {
  std::optional<std::string> unk_token;
  std::string continuing_subword_prefix;
  std::string end_of_word_suffix;
  bool fuse_unk = false;
  bool byte_fallback = false;
  bool ignore_merges = false;
};

class BpeModel {
 public:
  // merges: (left, right) token pairs, rank = position. Throws Error (prefixed with `where`) when
  // a merge names a token that is not in the vocabulary, or its result is not.
  BpeModel(TokenMap vocab, const std::vector<std::pair<std::string, std::string>>& merges, BpeOptions options,
           std::string_view where);

  // Appends the ids of one word (a non-empty pre-token). whole_word: false for a segment of a
  // word (see segment_marker), where ignore_merges' whole-word lookup does not apply.
  void tokenize(std::string_view word, std::vector<std::int32_t>& out, bool whole_word = true) const;

  // Looks the whole word up when ignore_merges is set (the reference's shortcut), else nothing.
  std::optional<std::int32_t> whole_word_id(std::string_view word) const;

  // SentencePiece-style models run BPE over a whole normalized text as one word. When no token
  // holds the marker ("▁") after another character, no merge can join a symbol ending before a
  // marker to one starting with it, so a word can be cut before every marker that follows a
  // non-marker and each segment merged alone with an identical result — and far faster, with
  // repeated segments cached. Empty when that does not hold for this vocabulary.
  std::string_view segment_marker() const { return segment_marker_; }

  const TokenMap& vocab() const { return vocab_; }
  std::optional<std::int32_t> token_to_id(std::string_view token) const;
  const std::string* id_to_token(std::int32_t id) const;  // nullptr when not in the vocabulary
  std::int32_t max_id() const { return max_id_; }

 private:
  struct Merge {
    std::uint32_t rank;
    std::int32_t new_id;
  };
  const Merge* find_merge(std::int32_t a, std::int32_t b) const;
  void merge_all(std::vector<std::int32_t>& ids) const;

  TokenMap vocab_;
  std::vector<const std::string*> by_id_;  // id -> key in vocab_ (nullptr for holes); empty when sparse
  std::unordered_map<std::int32_t, const std::string*> sparse_by_id_;  // used when the ids are sparse
  std::unordered_map<std::uint64_t, Merge> merges_;
  BpeOptions options_;
  std::optional<std::int32_t> unk_id_;
  std::int32_t byte_ids_[256];  // <0xNN> token ids, -1 where absent
  std::int32_t max_id_ = -1;
  std::string segment_marker_;
};

}  // namespace qlab::io
