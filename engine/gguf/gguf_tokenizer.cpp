// GGUF tokenizer keys -> a tokenizer.json pipeline (see gguf_tokenizer.h).
#include "engine/gguf/gguf_tokenizer.h"

#include <algorithm>
#include <span>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "engine/core/error.h"

namespace qlab::gguf {

namespace {

using nlohmann::json;

// The split regexes of tokenizer.json files of these families (as Hugging Face ships them).
constexpr const char* kLlama3Regex =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr const char* kQwen2Regex =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

constexpr std::int32_t kControl = 3, kUserDefined = 4, kByte = 6;

json split_then_bytes(const char* regex) {
  return {{"type", "Sequence"},
          {"pretokenizers",
           json::array({{{"type", "Split"}, {"pattern", {{"Regex", regex}}}, {"behavior", "Isolated"}, {"invert", false}},
                        {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", false}}})}};
}

json string_pattern(const char* s) { return {{"String", s}}; }

// Byte offsets where a UTF-8 character begins (after the first), for splitting a token in two.
std::vector<std::size_t> char_starts(const std::string& s) {
  std::vector<std::size_t> v;
  for (std::size_t i = 1; i < s.size(); ++i)
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) v.push_back(i);
  return v;
}

// SentencePiece merges from scores: every split of a token into two tokens, the higher the token's
// score the earlier the merge (ties: lower token id, then the split further left).
json merges_from_scores(const std::vector<std::string>& tokens, std::span<const float> scores,
                        std::span<const std::int32_t> types) {
  std::unordered_map<std::string, std::size_t> id_of;
  for (std::size_t i = tokens.size(); i-- > 0;)
    if (types[i] != kControl && types[i] != kUserDefined) id_of[tokens[i]] = i;
  struct Cand {
    float score;
    std::size_t id, cut;
  };
  std::vector<Cand> cands;
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    if (types[i] == kControl || types[i] == kUserDefined || types[i] == kByte) continue;
    const std::string& t = tokens[i];
    for (std::size_t cut : char_starts(t))
      if (id_of.count(t.substr(0, cut)) && id_of.count(t.substr(cut))) cands.push_back({scores[i], i, cut});
  }
  std::stable_sort(cands.begin(), cands.end(), [](const Cand& a, const Cand& b) {
    if (a.score != b.score) return a.score > b.score;
    return a.id != b.id ? a.id < b.id : a.cut < b.cut;
  });
  json merges = json::array();
  for (const Cand& c : cands) merges.push_back({tokens[c.id].substr(0, c.cut), tokens[c.id].substr(c.cut)});
  return merges;
}

// The metadata of a file, or of one about to be written: typed lookups whose errors name the source.
class Meta {
 public:
  Meta(std::span<const std::pair<std::string, MetaValue>> kv, std::string label) : kv_(kv), label_(std::move(label)) {}
  const std::string& label() const { return label_; }
  const MetaValue* find(std::string_view key) const {
    for (const auto& [k, v] : kv_)
      if (k == key) return &v;
    return nullptr;
  }
  const MetaValue& at(std::string_view key) const {
    const MetaValue* v = find(key);
    if (!v) fail("{}: key {} is missing", label_, key);
    return *v;
  }
  std::uint32_t get_u32(std::string_view key) const {
    const MetaValue& v = at(key);
    try { return v.as<std::uint32_t>(key); } catch (const Error& e) { bad(e); }
  }
  bool get_bool(std::string_view key) const {
    const MetaValue& v = at(key);
    try { return v.as_bool(key); } catch (const Error& e) { bad(e); }
  }
  const std::string& get_string(std::string_view key) const {
    const MetaValue& v = at(key);
    try { return v.as_string(key); } catch (const Error& e) { bad(e); }
  }
  std::span<const std::string> get_strings(std::string_view key) const {
    const MetaValue& v = at(key);
    try { return v.as_strings(key); } catch (const Error& e) { bad(e); }
  }
  template <typename T>
  std::span<const T> get_array(std::string_view key) const {
    const MetaValue& v = at(key);
    try { return v.as_array<T>(key); } catch (const Error& e) { bad(e); }
  }

 private:
  [[noreturn]] void bad(const Error& e) const { fail("{}: {}", label_, e.what()); }
  std::span<const std::pair<std::string, MetaValue>> kv_;
  std::string label_;
};

std::optional<std::uint32_t> opt_u32(const Meta& f, const char* key) {
  if (!f.find(key)) return std::nullopt;
  return f.get_u32(key);
}

std::optional<GgufTokenizerFiles> tokenizer_files(const Meta& f, SpecialText special);

}  // namespace

namespace {

std::optional<GgufTokenizerFiles> tokenizer_files(const Meta& f, SpecialText special) {
  if (!f.find("tokenizer.ggml.model")) return std::nullopt;
  const std::string& model = f.get_string("tokenizer.ggml.model");
  if (model == "no_vocab" || model == "none") return std::nullopt;
  if (model != "gpt2" && model != "llama")
    fail("{}: tokenizer model '{}' is not one qlab runs (it runs gpt2 = byte-level BPE and llama = "
         "SentencePiece-style)", f.label(), model);
  const auto tokens_span = f.get_strings("tokenizer.ggml.tokens");
  const std::vector<std::string> tokens(tokens_span.begin(), tokens_span.end());
  const std::size_t n = tokens.size();
  std::vector<std::int32_t> types(n, 1);
  if (f.find("tokenizer.ggml.token_type")) {
    const auto t = f.get_array<std::int32_t>("tokenizer.ggml.token_type");
    if (t.size() != n) fail("{}: tokenizer.ggml.token_type has {} entries for {} tokens", f.label(), t.size(), n);
    types.assign(t.begin(), t.end());
  }
  const bool spm = model == "llama";
  std::string pre = f.find("tokenizer.ggml.pre") ? f.get_string("tokenizer.ggml.pre") : std::string("default");

  json root = {{"version", "1.0"}};
  json added = json::array();
  json vocab = json::object();
  for (std::size_t i = 0; i < n; ++i) {
    if (types[i] == kUserDefined || (types[i] == kControl && special == SpecialText::Parsed)) {
      added.push_back({{"id", i}, {"content", tokens[i]}, {"single_word", false}, {"lstrip", false}, {"rstrip", false},
                       {"normalized", false}, {"special", types[i] == kControl}});
    } else if (!vocab.contains(tokens[i])) {
      vocab[tokens[i]] = i;
    }
  }
  root["added_tokens"] = std::move(added);

  // llama.cpp's defaults (llama-vocab.cpp) where the file names no special token or flag.
  std::optional<std::uint32_t> bos = opt_u32(f, "tokenizer.ggml.bos_token_id");
  std::optional<std::uint32_t> eos = opt_u32(f, "tokenizer.ggml.eos_token_id");
  std::optional<std::uint32_t> unk = opt_u32(f, "tokenizer.ggml.unknown_token_id");
  bool add_bos = false;
  if (spm) {
    if (!bos) bos = 1;
    if (!eos) eos = 2;
    if (!unk) unk = 0;
    add_bos = true;
  } else {
    if (!bos) bos = 11;
    if (!eos) eos = 11;
    add_bos = pre == "llama3" || pre == "llama-v3" || pre == "llama-bpe";
  }
  if (f.find("tokenizer.ggml.add_bos_token")) add_bos = f.get_bool("tokenizer.ggml.add_bos_token");
  const bool add_eos = f.find("tokenizer.ggml.add_eos_token") && f.get_bool("tokenizer.ggml.add_eos_token");
  auto token_at = [&](std::optional<std::uint32_t> id) -> json {
    if (!id || *id >= n) return nullptr;
    return tokens[*id];
  };

  if (spm) {
    const bool space_prefix =
        !f.find("tokenizer.ggml.add_space_prefix") || f.get_bool("tokenizer.ggml.add_space_prefix");
    std::vector<float> scores(n, 0.0f);
    if (f.find("tokenizer.ggml.scores")) {
      const auto s = f.get_array<float>("tokenizer.ggml.scores");
      if (s.size() != n) fail("{}: tokenizer.ggml.scores has {} entries for {} tokens", f.label(), s.size(), n);
      scores.assign(s.begin(), s.end());
    }
    json norm = json::array();
    if (space_prefix) norm.push_back({{"type", "Prepend"}, {"prepend", "\xE2\x96\x81"}});
    norm.push_back({{"type", "Replace"}, {"pattern", string_pattern(" ")}, {"content", "\xE2\x96\x81"}});
    root["normalizer"] = {{"type", "Sequence"}, {"normalizers", norm}};
    root["pre_tokenizer"] = nullptr;
    root["model"] = {{"type", "BPE"}, {"vocab", vocab}, {"merges", merges_from_scores(tokens, scores, types)},
                     {"byte_fallback", true}, {"fuse_unk", true}, {"unk_token", token_at(unk)}};
    json dec = json::array({{{"type", "Replace"}, {"pattern", string_pattern("\xE2\x96\x81")}, {"content", " "}},
                            {{"type", "ByteFallback"}},
                            {{"type", "Fuse"}}});
    if (space_prefix) dec.push_back({{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}});
    root["decoder"] = {{"type", "Sequence"}, {"decoders", dec}};
  } else {
    json merges = json::array();
    if (f.find("tokenizer.ggml.merges")) {
      for (const std::string& m : f.get_strings("tokenizer.ggml.merges")) {
        const std::size_t sp = m.find(' ', 1);
        if (sp == std::string::npos) fail("{}: merge '{}' is not two tokens", f.label(), m);
        merges.push_back({m.substr(0, sp), m.substr(sp + 1)});
      }
    } else {
      fail("{}: a gpt2 tokenizer without tokenizer.ggml.merges", f.label());
    }
    bool ignore_merges = false;
    if (pre == "gpt-2" || pre == "default") {
      root["pre_tokenizer"] = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", true}};
    } else if (pre == "llama-bpe" || pre == "llama3" || pre == "llama-v3") {
      root["pre_tokenizer"] = split_then_bytes(kLlama3Regex);
      ignore_merges = true;
    } else if (pre == "qwen2") {
      root["pre_tokenizer"] = split_then_bytes(kQwen2Regex);
    } else {
      fail("{}: pre-tokenizer '{}' is not one qlab runs (it runs gpt-2, llama-bpe and qwen2)", f.label(), pre);
    }
    root["normalizer"] = nullptr;
    root["model"] = {{"type", "BPE"}, {"vocab", vocab}, {"merges", merges}, {"byte_fallback", false},
                     {"ignore_merges", ignore_merges}};
    root["decoder"] = {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", true}, {"use_regex", true}};
  }
  root["post_processor"] = nullptr;
  json cfg = {{"bos_token", token_at(bos)}, {"eos_token", token_at(eos)}, {"add_bos_token", add_bos},
              {"add_eos_token", add_eos}};
  return GgufTokenizerFiles{root.dump(-1, ' ', false, json::error_handler_t::replace),
                            cfg.dump(-1, ' ', false, json::error_handler_t::replace)};
}

}  // namespace

std::optional<GgufTokenizerFiles> gguf_tokenizer_files(const GgufFile& f, SpecialText special) {
  return tokenizer_files(Meta(f.metadata(), f.label()), special);
}

std::optional<io::Tokenizer> tokenizer_from_metadata(std::span<const std::pair<std::string, MetaValue>> kv,
                                                     const std::string& label, SpecialText special) {
  const auto files = tokenizer_files(Meta(kv, label), special);
  if (!files) return std::nullopt;
  return io::Tokenizer::from_json_text(files->tokenizer_json, label + " (tokenizer)", files->tokenizer_config_json,
                                       label + " (tokenizer settings)");
}

std::optional<io::Tokenizer> gguf_tokenizer(const GgufFile& f, SpecialText special) {
  return tokenizer_from_metadata(f.metadata(), f.label(), special);
}

}  // namespace qlab::gguf
