// Hugging Face tokenizer files -> GGUF tokenizer keys (see hf_vocab.h for what and why).
#include "engine/gguf/hf_vocab.h"

#include <algorithm>
#include <functional>
#include <map>
#include <optional>
#include <regex>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "engine/core/atomic_file.h"
#include "engine/core/error.h"
#include "engine/gguf/sentencepiece_model.h"
#include "engine/io/pretokenizer_regex.h"
#include "engine/io/strict_json.h"

namespace qlab::gguf {

namespace {

using nlohmann::json;
namespace fs = std::filesystem;

enum TokenType : std::int32_t { kNormal = 1, kUnknown = 2, kControl = 3, kUserDefined = 4, kUnused = 5, kByte = 6 };

const json* member(const json& j, const char* key) {
  if (!j.is_object()) return nullptr;
  auto it = j.find(key);
  return it == j.end() || it->is_null() ? nullptr : &*it;
}

std::optional<json> read_json_if_exists(const fs::path& p) {
  if (!fs::exists(p)) return std::nullopt;
  return io::parse_json_strict(read_file(p), p.string());
}

// gguf-py's does_token_look_special: added tokens some models forget to mark special.
bool looks_special(const std::string& t) {
  auto starts = [&](std::string_view s) { return t.rfind(s, 0) == 0; };
  auto ends = [&](std::string_view s) { return t.size() >= s.size() && t.compare(t.size() - s.size(), s.size(), s) == 0; };
  return t == "<pad>" || t == "<mask>" || t == "<2mass>" || t == "[@BOS@]" || (starts("<|") && ends("|>")) ||
         (starts("<\xEF\xBD\x9C") && ends("\xEF\xBD\x9C>")) || starts("<start_of_") || starts("<end_of_");
}

struct Added {
  std::string content;
  bool special = false;
};

// The pre-tokenizer name llama.cpp uses for a byte-level BPE tokenizer.json.
std::string bpe_pre_name(const json& tok, const std::string& file) {
  const json* pre = member(tok, "pre_tokenizer");
  auto type = [](const json& p) { return p.value("type", std::string()); };
  if (pre && type(*pre) == "ByteLevel" && pre->value("use_regex", true)) return "gpt-2";
  if (pre && type(*pre) == "Sequence") {
    const json* list = member(*pre, "pretokenizers");
    if (list && list->is_array() && list->size() == 2 && type((*list)[0]) == "Split" && type((*list)[1]) == "ByteLevel" &&
        !(*list)[1].value("use_regex", true)) {
      const json* pattern = member((*list)[0], "pattern");
      const json* regex = pattern ? member(*pattern, "Regex") : nullptr;
      if (regex && regex->is_string()) {
        if (auto p = io::recognise_split_pattern(regex->get<std::string>())) {
          switch (*p) {
            case io::SplitPattern::Gpt2: return "gpt-2";
            case io::SplitPattern::Llama3: return "llama-bpe";
            case io::SplitPattern::Qwen2: return "qwen2";
          }
        }
      }
    }
  }
  fail("{}: the byte-level BPE pre-tokenizer is not one llama.cpp knows by name (qlab recognises GPT-2's "
       "ByteLevel regex, Llama 3's and Qwen2's split regexes)", file);
}

bool is_sentencepiece_style(const json& model, const json& tok) {
  if (!model.value("byte_fallback", false)) return false;
  const json* dec = member(tok, "decoder");
  const std::string dt = dec ? dec->value("type", std::string()) : std::string();
  return dt == "Sequence" || dt == "Metaspace";
}

// Whether the text gets a leading "▁" (Prepend normalizer, or a Metaspace that prepends).
bool adds_space_prefix(const json& tok) {
  std::function<bool(const json&)> has_prepend = [&](const json& n) {
    if (n.value("type", std::string()) == "Prepend") return true;
    if (const json* list = member(n, "normalizers"); list && list->is_array())
      return std::any_of(list->begin(), list->end(), has_prepend);
    return false;
  };
  if (const json* n = member(tok, "normalizer"); n && has_prepend(*n)) return true;
  std::function<bool(const json&)> metaspace = [&](const json& p) {
    if (p.value("type", std::string()) == "Metaspace") return p.value("prepend_scheme", std::string("always")) != "never";
    if (const json* list = member(p, "pretokenizers"); list && list->is_array())
      return std::any_of(list->begin(), list->end(), metaspace);
    return false;
  };
  const json* p = member(tok, "pre_tokenizer");
  return p && metaspace(*p);
}

std::pair<std::string, std::string> merge_pair(const json& m, const std::string& file) {
  if (m.is_string()) {
    const auto& s = m.get_ref<const std::string&>();
    const auto sp = s.find(' ', 1);
    if (sp == std::string::npos) fail("{}: merge '{}' is not two tokens", file, s);
    return {s.substr(0, sp), s.substr(sp + 1)};
  }
  if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string())
    return {m[0].get<std::string>(), m[1].get<std::string>()};
  fail("{}: a merge is neither \"a b\" nor [\"a\", \"b\"]", file);
}

}  // namespace

HfVocab hf_vocab_metadata(const fs::path& dir, const io::ModelConfig& cfg) {
  HfVocab v;
  const fs::path tok_path = dir / "tokenizer.json";
  if (!fs::exists(tok_path)) {
    v.model = "no_vocab";
    v.kv.emplace_back("tokenizer.ggml.model", MetaValue::string("no_vocab"));
    return v;
  }
  const std::string file = tok_path.string();
  const json tok = io::parse_json_strict(read_file(tok_path), file);
  const std::optional<json> tcfg = read_json_if_exists(dir / "tokenizer_config.json");
  const json* model = member(tok, "model");
  if (!model || model->value("type", std::string("BPE")) != "BPE")
    fail("{}: only BPE tokenizers (byte-level or SentencePiece-style) can be written to GGUF", file);
  const json* vocab = member(*model, "vocab");
  if (!vocab || !vocab->is_object()) fail("{}: model.vocab is missing", file);

  const std::int64_t n_vocab = cfg.vocab_size;
  std::vector<std::string> tokens(static_cast<std::size_t>(n_vocab));
  std::vector<bool> have(static_cast<std::size_t>(n_vocab), false);
  std::map<std::int64_t, Added> added;
  auto place = [&](const std::string& t, std::int64_t id) {
    if (id < 0 || id >= n_vocab)
      fail("{}: token '{}' has id {}, outside the model's vocab_size {}", file, io::printable(t), id, n_vocab);
    tokens[static_cast<std::size_t>(id)] = t;
    have[static_cast<std::size_t>(id)] = true;
  };
  for (auto it = vocab->begin(); it != vocab->end(); ++it) place(it.key(), it.value().get<std::int64_t>());
  if (const json* list = member(tok, "added_tokens"); list && list->is_array()) {
    for (const json& a : *list) {
      const std::int64_t id = a.at("id").get<std::int64_t>();
      const std::string content = a.at("content").get<std::string>();
      place(content, id);
      added[id] = Added{content, a.value("special", false)};
    }
  }
  std::unordered_map<std::string, std::int64_t> id_of;
  for (std::int64_t i = n_vocab - 1; i >= 0; --i)
    if (have[static_cast<std::size_t>(i)]) id_of[tokens[static_cast<std::size_t>(i)]] = i;

  std::vector<std::int32_t> types(static_cast<std::size_t>(n_vocab), kNormal);
  for (std::int64_t i = 0; i < n_vocab; ++i) {
    auto& t = types[static_cast<std::size_t>(i)];
    if (!have[static_cast<std::size_t>(i)]) {
      tokens[static_cast<std::size_t>(i)] = fmt::format("[PAD{}]", i);
      t = kUnused;
    } else if (auto a = added.find(i); a != added.end()) {
      t = a->second.special || looks_special(a->second.content) ? kControl : kUserDefined;
    }
  }

  std::vector<std::pair<std::string, std::string>> merges;
  if (const json* list = member(*model, "merges"); list && list->is_array())
    for (const json& m : *list) merges.push_back(merge_pair(m, file));

  const bool spm = is_sentencepiece_style(*model, tok);
  if (spm) {
    v.model = "llama";
    v.pre = "default";
    std::vector<float> scores(static_cast<std::size_t>(n_vocab), -1000.0f);
    if (fs::exists(dir / "tokenizer.model")) {
      // The converter's path: pieces, scores and types as the SentencePiece model has them.
      const std::string bytes = read_file(dir / "tokenizer.model");
      const auto pieces = parse_sentencepiece_model(std::as_bytes(std::span(bytes)), (dir / "tokenizer.model").string());
      for (std::size_t i = 0; i < pieces.size() && i < static_cast<std::size_t>(n_vocab); ++i) {
        if (added.count(static_cast<std::int64_t>(i))) continue;  // added tokens: below
        tokens[i] = pieces[i].piece;
        scores[i] = pieces[i].score;
        types[i] = pieces[i].type;
      }
      // Added tokens keep their text and type (control or user-defined) and score -1000, as the
      // converter gives tokenizer_config.json's added_tokens_decoder entries.
    } else {
      // A merged token scores minus its merge's rank: earlier merges win, as in the BPE.
      static const std::regex byte_token("<0x[0-9A-Fa-f]{2}>");
      for (std::int64_t i = 0; i < n_vocab; ++i)
        if (types[static_cast<std::size_t>(i)] == kNormal && std::regex_match(tokens[static_cast<std::size_t>(i)], byte_token))
          types[static_cast<std::size_t>(i)] = kByte;
      for (std::size_t r = merges.size(); r-- > 0;) {
        auto it = id_of.find(merges[r].first + merges[r].second);
        if (it != id_of.end()) scores[static_cast<std::size_t>(it->second)] = -static_cast<float>(r);
      }
      if (auto unk = model->find("unk_token"); unk != model->end() && unk->is_string())
        if (auto it = id_of.find(unk->get<std::string>()); it != id_of.end() && !added.count(it->second))
          types[static_cast<std::size_t>(it->second)] = kUnknown;
    }
    v.kv.emplace_back("tokenizer.ggml.model", MetaValue::string("llama"));
    v.kv.emplace_back("tokenizer.ggml.pre", MetaValue::string("default"));
    v.kv.emplace_back("tokenizer.ggml.tokens", MetaValue::array(tokens));
    v.kv.emplace_back("tokenizer.ggml.scores", MetaValue::array(scores));
    v.kv.emplace_back("tokenizer.ggml.token_type", MetaValue::array(types));
    if (!adds_space_prefix(tok)) v.kv.emplace_back("tokenizer.ggml.add_space_prefix", MetaValue::boolean(false));
  } else {
    const json* pre = member(tok, "pre_tokenizer");
    const bool byte_level = pre && (pre->value("type", std::string()) == "ByteLevel" || pre->value("type", std::string()) == "Sequence");
    if (!byte_level) fail("{}: neither a byte-level nor a SentencePiece-style BPE tokenizer", file);
    v.model = "gpt2";
    v.pre = bpe_pre_name(tok, file);
    v.kv.emplace_back("tokenizer.ggml.model", MetaValue::string("gpt2"));
    v.kv.emplace_back("tokenizer.ggml.pre", MetaValue::string(v.pre));
    v.kv.emplace_back("tokenizer.ggml.tokens", MetaValue::array(tokens));
    v.kv.emplace_back("tokenizer.ggml.token_type", MetaValue::array(types));
    std::vector<std::string> merge_text;
    merge_text.reserve(merges.size());
    for (const auto& [a, b] : merges) merge_text.push_back(a + " " + b);
    v.kv.emplace_back("tokenizer.ggml.merges", MetaValue::array(std::move(merge_text)));
  }

  // ---- special tokens (gguf-py SpecialVocab) -----------------------------------------------------
  json tc = tcfg.value_or(json::object());
  std::map<std::string, bool> add_special;
  if (const json* post = member(tok, "post_processor")) {
    std::vector<json> procs;
    if (const json* list = member(*post, "processors"); list && list->is_array()) procs.assign(list->begin(), list->end());
    else procs.push_back(*post);
    for (const json& p : procs) {
      if (p.value("type", std::string()) != "TemplateProcessing") continue;
      const json* single = member(p, "single");
      if (!single || !single->is_array() || single->size() < 2) continue;
      auto special_at = [&](const json& e) -> std::string {
        const json* s = member(e, "SpecialToken");
        return s && member(*s, "id") ? (*s)["id"].get<std::string>() : std::string();
      };
      auto content = [&](const char* key) -> std::string {
        const json* e = member(tc, key);
        if (e && e->is_string()) return e->get<std::string>();
        if (e && e->is_object() && member(*e, "content")) return (*e)["content"].get<std::string>();
        return {};
      };
      if (const std::string first = special_at(single->front()); !first.empty()) {
        if (content("bos_token").empty()) tc["bos_token"] = first;
        add_special["bos"] = first == content("bos_token");
      }
      if (const std::string last = special_at(single->back()); !last.empty()) {
        if (content("eos_token").empty()) tc["eos_token"] = last;
        add_special["eos"] = last == content("eos_token");
      }
    }
  }
  const std::vector<std::pair<std::string, std::string>> kinds = {
      {"bos", "bos_token_id"}, {"eos", "eos_token_id"}, {"unk", "unknown_token_id"},
      {"sep", "seperator_token_id"}, {"pad", "padding_token_id"}};
  std::map<std::string, std::int64_t> ids;
  for (const auto& [kind, key] : kinds) {
    if (const json* add = member(tc, ("add_" + kind + "_token").c_str()); add && add->is_boolean())
      add_special[kind] = add->get<bool>();
    const json* e = member(tc, (kind + "_token").c_str());
    std::string content;
    if (e && e->is_string()) content = e->get<std::string>();
    else if (e && e->is_object() && member(*e, "content") && (*e)["content"].is_string()) content = (*e)["content"].get<std::string>();
    if (content.empty()) continue;
    for (const auto& [id, a] : added)
      if (a.content == content) {
        ids[kind] = id;
        break;
      }
  }
  // config.json's ids where the tokenizer files name none
  if (!ids.count("bos") && cfg.bos_token_id >= 0 && cfg.bos_token_id < n_vocab) ids["bos"] = cfg.bos_token_id;
  if (!ids.count("eos") && cfg.eos_token_id >= 0 && cfg.eos_token_id < n_vocab) ids["eos"] = cfg.eos_token_id;
  for (const auto& [kind, key] : kinds)
    if (auto it = ids.find(kind); it != ids.end())
      v.kv.emplace_back("tokenizer.ggml." + key, MetaValue::u32(static_cast<std::uint32_t>(it->second)));
  for (const char* kind : {"bos", "eos"})
    if (auto it = add_special.find(kind); it != add_special.end())
      v.kv.emplace_back(fmt::format("tokenizer.ggml.add_{}_token", kind), MetaValue::boolean(it->second));
  if (auto it = ids.find("eos"); it != ids.end()) v.eos_tokens.push_back(tokens[static_cast<std::size_t>(it->second)]);

  // ---- chat template ---------------------------------------------------------------------------------
  if (const json* t = member(tc, "chat_template")) {
    if (t->is_string()) {
      v.chat_template = t->get<std::string>();
    } else if (t->is_array()) {
      for (const json& e : *t)
        if (e.value("name", std::string()) == "default") v.chat_template = e.value("template", std::string());
    }
  } else if (fs::exists(dir / "chat_template.jinja")) {
    v.chat_template = read_file(dir / "chat_template.jinja");
  }
  if (!v.chat_template.empty()) v.kv.emplace_back("tokenizer.chat_template", MetaValue::string(v.chat_template));
  return v;
}

}  // namespace qlab::gguf
