#include "engine/train/bpe_trainer.h"

#include <array>
#include <map>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "engine/core/error.h"
#include "engine/io/pretokenizer_regex.h"

namespace qlab::train {

namespace {

std::string utf8(std::uint32_t cp) {
  std::string s;
  if (cp < 0x80) {
    s += static_cast<char>(cp);
  } else {  // the alphabet stays below U+0800: two bytes
    s += static_cast<char>(0xC0 | (cp >> 6));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  }
  return s;
}

// GPT-2's bytes_to_unicode: printable Latin-1 bytes stand for themselves, the other 68 bytes
// take code points 256, 257, ... in byte order (so a space is "Ġ" U+0120, a newline "Ċ" U+010A).
std::array<std::string, 256> make_alphabet() {
  std::array<std::string, 256> a;
  std::uint32_t n = 0;
  for (std::uint32_t b = 0; b < 256; ++b) {
    bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
    a[b] = utf8(printable ? b : 256 + n++);
  }
  return a;
}

}  // namespace

const std::string& byte_level_char(unsigned char b) {
  static const std::array<std::string, 256> alphabet = make_alphabet();
  return alphabet[b];
}

ByteBpe train_byte_bpe(std::string_view text, const BpeTrainOptions& opt) {
  const int n_special = static_cast<int>(opt.special_tokens.size());
  if (opt.vocab_size < n_special + 256)
    fail("BPE vocabulary size {} is too small: it needs at least {} (special tokens + 256 bytes)", opt.vocab_size,
         n_special + 256);

  // Word frequencies from the same split the tokenizer applies before its model runs.
  std::vector<io::ByteSpan> spans;
  io::find_split_matches(io::SplitPattern::Gpt2, text, spans);
  std::unordered_map<std::string_view, std::int64_t> freq;
  for (const auto& s : spans) ++freq[text.substr(s.begin, s.end - s.begin)];
  // Sorted so the result does not depend on hash order.
  std::map<std::string_view, std::int64_t> sorted(freq.begin(), freq.end());

  std::vector<std::string> symbols;  // internal symbol id -> byte-level string
  for (int b = 0; b < 256; ++b) symbols.push_back(byte_level_char(static_cast<unsigned char>(b)));
  struct Word {
    std::vector<std::int32_t> sym;
    std::int64_t count;
  };
  std::vector<Word> words;
  for (const auto& [w, c] : sorted) {
    Word word{{}, c};
    for (unsigned char ch : w) word.sym.push_back(ch);
    words.push_back(std::move(word));
  }

  ByteBpe out;
  out.special_tokens = opt.special_tokens;
  const int n_merges = opt.vocab_size - n_special - 256;
  for (int m = 0; m < n_merges; ++m) {
    std::unordered_map<std::uint64_t, std::int64_t> pairs;
    for (const auto& w : words)
      for (std::size_t i = 0; i + 1 < w.sym.size(); ++i)
        pairs[(static_cast<std::uint64_t>(w.sym[i]) << 32) | static_cast<std::uint32_t>(w.sym[i + 1])] += w.count;
    std::uint64_t best = 0;
    std::int64_t best_count = 0;
    std::string best_str;
    for (const auto& [key, c] : pairs) {
      if (c < best_count) continue;
      std::string s = symbols[key >> 32] + symbols[key & 0xFFFFFFFFu];
      if (c > best_count || s < best_str) {
        best = key;
        best_count = c;
        best_str = std::move(s);
      }
    }
    if (best_count < opt.min_frequency) break;
    const auto a = static_cast<std::int32_t>(best >> 32), b = static_cast<std::int32_t>(best & 0xFFFFFFFFu);
    const auto merged = static_cast<std::int32_t>(symbols.size());
    out.merges.emplace_back(symbols[a], symbols[b]);
    symbols.push_back(best_str);
    for (auto& w : words) {
      std::size_t o = 0;
      for (std::size_t i = 0; i < w.sym.size(); ++i) {
        if (i + 1 < w.sym.size() && w.sym[i] == a && w.sym[i + 1] == b) {
          w.sym[o++] = merged;
          ++i;
        } else {
          w.sym[o++] = w.sym[i];
        }
      }
      w.sym.resize(o);
    }
  }
  out.vocab = opt.special_tokens;
  out.vocab.insert(out.vocab.end(), symbols.begin(), symbols.end());
  return out;
}

std::string tokenizer_json(const ByteBpe& bpe) {
  using ojson = nlohmann::ordered_json;
  ojson j;
  j["version"] = "1.0";
  j["truncation"] = nullptr;
  j["padding"] = nullptr;
  ojson added = ojson::array();
  for (std::size_t i = 0; i < bpe.special_tokens.size(); ++i)
    added.push_back({{"id", i},
                     {"content", bpe.special_tokens[i]},
                     {"single_word", false},
                     {"lstrip", false},
                     {"rstrip", false},
                     {"normalized", false},
                     {"special", true}});
  j["added_tokens"] = added;
  j["normalizer"] = nullptr;
  j["pre_tokenizer"] = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true},
                        {"use_regex", true}};
  // BOS (the first special token) before every sequence, stated in the post-processor itself: the
  // trainer puts it before every document, and transformers takes BOS from here, not from
  // tokenizer_config.json's add_bos_token (which it ignores beside a tokenizer.json for this class).
  const ojson byte_level = {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", false},
                            {"use_regex", true}};
  if (bpe.special_tokens.empty()) {
    j["post_processor"] = byte_level;
  } else {
    const std::string& bos = bpe.special_tokens.front();
    auto special = [&](int type_id) { return ojson{{"SpecialToken", {{"id", bos}, {"type_id", type_id}}}}; };
    auto sequence = [](const char* id, int type_id) { return ojson{{"Sequence", {{"id", id}, {"type_id", type_id}}}}; };
    const ojson bos_first = {{"type", "TemplateProcessing"},
                             {"single", ojson::array({special(0), sequence("A", 0)})},
                             {"pair", ojson::array({special(0), sequence("A", 0), special(1), sequence("B", 1)})},
                             {"special_tokens", {{bos, {{"id", bos}, {"ids", ojson::array({0})},
                                                        {"tokens", ojson::array({bos})}}}}}};
    j["post_processor"] = {{"type", "Sequence"}, {"processors", ojson::array({byte_level, bos_first})}};
  }
  j["decoder"] = {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", true}, {"use_regex", true}};
  ojson vocab = ojson::object();
  for (std::size_t i = 0; i < bpe.vocab.size(); ++i) vocab[bpe.vocab[i]] = i;
  ojson merges = ojson::array();
  for (const auto& [a, b] : bpe.merges) merges.push_back(ojson::array({a, b}));
  j["model"] = {{"type", "BPE"},
                {"dropout", nullptr},
                {"unk_token", nullptr},
                {"continuing_subword_prefix", ""},
                {"end_of_word_suffix", ""},
                {"fuse_unk", false},
                {"byte_fallback", false},
                {"ignore_merges", false},
                {"vocab", vocab},
                {"merges", merges}};
  return j.dump(2) + "\n";
}

}  // namespace qlab::train
