#include "engine/io/bpe.h"

#include <algorithm>

#include <fmt/format.h>

#include "engine/core/error.h"
#include "engine/io/strict_json.h"
#include "engine/io/unicode_text.h"

namespace qlab::io {

namespace {
std::uint64_t pair_key(std::int32_t a, std::int32_t b) {
  return (std::uint64_t{static_cast<std::uint32_t>(a)} << 32) | static_cast<std::uint32_t>(b);
}
}  // namespace

BpeModel::BpeModel(TokenMap vocab, const std::vector<std::pair<std::string, std::string>>& merges,
                   BpeOptions options, std::string_view where)
    : vocab_(std::move(vocab)), options_(std::move(options)) {
  for (const auto& [token, id] : vocab_) {
    if (id < 0) fail("{}: vocabulary id {} of token {} is negative", where, id, printable(token));
    max_id_ = std::max(max_id_, id);
  }
  // The id -> token table is sized by what the file holds, never by one number in it: a dense
  // table when the ids nearly fill [0, max id] (every real vocabulary), else a hash map (an id of
  // 2^31 - 2 in a vocabulary of ten would otherwise ask for 16 GiB).
  const bool dense = static_cast<std::uint64_t>(max_id_) + 1 <= 2 * static_cast<std::uint64_t>(vocab_.size()) + 256;
  if (dense) by_id_.assign(static_cast<std::size_t>(max_id_ + 1), nullptr);
  for (const auto& [token, id] : vocab_) {
    const std::string*& slot = dense ? by_id_[static_cast<std::size_t>(id)] : sparse_by_id_[id];
    if (slot) fail("{}: vocabulary id {} is given to two tokens, {} and {}", where, id, printable(*slot), printable(token));
    slot = &token;
  }
  if (options_.unk_token) {
    if (auto it = vocab_.find(*options_.unk_token); it != vocab_.end()) unk_id_ = it->second;
  }
  for (int b = 0; b < 256; ++b) {
    auto it = vocab_.find(fmt::format("<0x{:02X}>", b));
    byte_ids_[b] = it == vocab_.end() ? -1 : it->second;
  }
  const std::string marker = "\xE2\x96\x81";  // U+2581 LOWER ONE EIGHTH BLOCK
  if (options_.continuing_subword_prefix.empty() && options_.end_of_word_suffix.empty() && vocab_.count(marker)) {
    bool safe = true;
    for (const auto& [token, id] : vocab_) {
      for (std::size_t at = token.find(marker, 1); safe && at != std::string::npos; at = token.find(marker, at + 1)) {
        safe = at >= marker.size() && token.compare(at - marker.size(), marker.size(), marker) == 0;
      }
      if (!safe) break;
    }
    if (safe) segment_marker_ = marker;
  }
  const std::size_t prefix_len = options_.continuing_subword_prefix.size();
  merges_.reserve(merges.size());
  for (std::size_t rank = 0; rank < merges.size(); ++rank) {
    const auto& [a, b] = merges[rank];
    auto ia = vocab_.find(a), ib = vocab_.find(b);
    if (ia == vocab_.end() || ib == vocab_.end()) {
      fail("{}: merge {} ({} {}) names token {}, which is not in the vocabulary", where, rank, printable(a),
           printable(b), printable(ia == vocab_.end() ? a : b));
    }
    // The continuing-subword prefix of the right part is not repeated inside the merged token.
    std::string merged = a;
    merged.append(b.size() >= prefix_len && b.compare(0, prefix_len, options_.continuing_subword_prefix) == 0
                      ? std::string_view(b).substr(prefix_len)
                      : std::string_view(b));
    auto im = vocab_.find(merged);
    if (im == vocab_.end()) {
      fail("{}: merge {} ({} {}) makes {}, which is not in the vocabulary", where, rank, printable(a),
           printable(b), printable(merged));
    }
    // A repeated pair keeps its last rank, as the reference's hash map does.
    merges_[pair_key(ia->second, ib->second)] = Merge{static_cast<std::uint32_t>(rank), im->second};
  }
}

std::optional<std::int32_t> BpeModel::token_to_id(std::string_view token) const {
  auto it = vocab_.find(token);
  if (it == vocab_.end()) return std::nullopt;
  return it->second;
}

const std::string* BpeModel::id_to_token(std::int32_t id) const {
  if (id < 0 || id > max_id_) return nullptr;
  if (!by_id_.empty()) return by_id_[static_cast<std::size_t>(id)];
  auto it = sparse_by_id_.find(id);
  return it == sparse_by_id_.end() ? nullptr : it->second;
}

const BpeModel::Merge* BpeModel::find_merge(std::int32_t a, std::int32_t b) const {
  auto it = merges_.find(pair_key(a, b));
  return it == merges_.end() ? nullptr : &it->second;
}

void BpeModel::merge_all(std::vector<std::int32_t>& ids) const {
  const std::size_t n = ids.size();
  if (n < 2) return;
  struct Symbol {
    std::int32_t id;
    std::int32_t prev, next;  // -1: none
    bool alive;
  };
  struct Entry {
    std::uint32_t rank;
    std::uint32_t pos;
    std::int32_t new_id;
    bool operator<(const Entry& o) const {  // min-heap on (rank, pos)
      return rank != o.rank ? rank > o.rank : pos > o.pos;
    }
  };
  thread_local std::vector<Symbol> sym;
  thread_local std::vector<Entry> queue;
  sym.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    sym[i] = {ids[i], static_cast<std::int32_t>(i) - 1, i + 1 < n ? static_cast<std::int32_t>(i + 1) : -1, true};
  }
  queue.clear();
  auto push = [&](Entry e) {
    queue.push_back(e);
    std::push_heap(queue.begin(), queue.end());
  };
  for (std::size_t i = 0; i + 1 < n; ++i) {
    if (const Merge* m = find_merge(ids[i], ids[i + 1])) push({m->rank, static_cast<std::uint32_t>(i), m->new_id});
  }
  while (!queue.empty()) {
    std::pop_heap(queue.begin(), queue.end());
    const Entry top = queue.back();
    queue.pop_back();
    Symbol& cur = sym[top.pos];
    if (!cur.alive || cur.next < 0) continue;
    Symbol& right = sym[static_cast<std::size_t>(cur.next)];
    // Stale entry: the pair at this position changed since it was queued.
    const Merge* m = find_merge(cur.id, right.id);
    if (!m || m->new_id != top.new_id) continue;
    cur.id = top.new_id;
    right.alive = false;
    cur.next = right.next;
    if (right.next >= 0) sym[static_cast<std::size_t>(right.next)].prev = static_cast<std::int32_t>(top.pos);
    if (cur.prev >= 0) {
      if (const Merge* pm = find_merge(sym[static_cast<std::size_t>(cur.prev)].id, cur.id)) {
        push({pm->rank, static_cast<std::uint32_t>(cur.prev), pm->new_id});
      }
    }
    if (cur.next >= 0) {
      if (const Merge* nm = find_merge(cur.id, sym[static_cast<std::size_t>(cur.next)].id)) {
        push({nm->rank, top.pos, nm->new_id});
      }
    }
  }
  ids.clear();
  for (std::size_t i = 0; i < n; ++i) {
    if (sym[i].alive) ids.push_back(sym[i].id);
  }
}

std::optional<std::int32_t> BpeModel::whole_word_id(std::string_view word) const {
  if (!options_.ignore_merges) return std::nullopt;
  return token_to_id(word);
}

void BpeModel::tokenize(std::string_view word, std::vector<std::int32_t>& out, bool whole_word) const {
  if (word.empty()) return;
  if (whole_word && options_.ignore_merges) {
    if (auto it = vocab_.find(word); it != vocab_.end()) {
      out.push_back(it->second);
      return;
    }
  }
  thread_local std::vector<std::int32_t> ids;
  thread_local std::string piece;
  ids.clear();
  const auto* bytes = reinterpret_cast<const unsigned char*>(word.data());
  std::int32_t pending_unk = -1;  // an unk not yet written (so unknowns can fuse); -1: none
  const bool plain = options_.continuing_subword_prefix.empty() && options_.end_of_word_suffix.empty();
  for (std::size_t i = 0; i < word.size();) {
    char32_t cp;
    int len = unicode::utf8_next(bytes + i, word.size() - i, cp);
    if (len < 0) len = -len;  // callers pass valid UTF-8
    const std::string_view ch = word.substr(i, static_cast<std::size_t>(len));
    const bool first = i == 0;
    i += static_cast<std::size_t>(len);
    const bool last = i == word.size();
    std::string_view key = ch;
    if (!plain) {
      piece.clear();
      if (!first) piece += options_.continuing_subword_prefix;
      piece += ch;
      if (last) piece += options_.end_of_word_suffix;
      key = piece;
    }
    if (auto it = vocab_.find(key); it != vocab_.end()) {
      if (pending_unk >= 0) {
        ids.push_back(pending_unk);
        pending_unk = -1;
      }
      ids.push_back(it->second);
      continue;
    }
    if (options_.byte_fallback) {
      bool all = true;
      for (unsigned char b : key) all = all && byte_ids_[b] >= 0;
      if (all) {
        for (unsigned char b : key) ids.push_back(byte_ids_[b]);
        continue;
      }
    }
    if (options_.unk_token) {
      if (!unk_id_) fail("tokenizer: the unk token {} is not in the vocabulary", printable(*options_.unk_token));
      if (pending_unk >= 0 && !options_.fuse_unk) ids.push_back(pending_unk);
      pending_unk = *unk_id_;
    }
    // With no unk token the reference drops the character.
  }
  if (pending_unk >= 0) ids.push_back(pending_unk);
  merge_all(ids);
  out.insert(out.end(), ids.begin(), ids.end());
}

}  // namespace qlab::io
