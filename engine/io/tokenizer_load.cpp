// tokenizer.json / tokenizer_config.json -> Tokenizer::Impl. Every unsupported or malformed part
// is an Error naming the file and the JSON path.
#include <limits>

#include "engine/core/error.h"
#include "engine/io/strict_json.h"
#include "engine/io/tokenizer_impl.h"
#include "engine/io/unicode_text.h"

namespace qlab::io {

namespace {

using json = nlohmann::json;

constexpr std::int64_t kMaxId = std::numeric_limits<std::int32_t>::max();

struct Ctx {
  std::string_view file;
};

[[noreturn]] void bad(const Ctx& c, std::string_view path, std::string_view what) {
  fail("{}: {}: {}", c.file, path, what);
}

// tokenizer.json runs to many megabytes (Llama 3: 9 MB, 128k tokens, 280k merges), so it is parsed
// without parse_json_strict's per-key bookkeeping, which costs more than the parse itself.
// nlohmann's parser and destructor are iterative, so nesting depth cannot exhaust the stack; the
// loaders below that recurse into Sequence stages bound their own depth.
json parse_large_json(std::string_view text, std::string_view source) {
  try {
    return json::parse(text.begin(), text.end());
  } catch (const json::exception& e) {
    std::string what = e.what();
    if (auto close = what.find("] "); !what.empty() && what[0] == '[' && close != std::string::npos) {
      what = what.substr(close + 2);
    }
    fail("{}: invalid JSON: {}", source, what);
  }
}

// Sequence stages nest; real files use one level.
constexpr int kMaxNesting = 8;
void check_nesting(const Ctx& c, std::string_view path, int depth) {
  if (depth > kMaxNesting) bad(c, path, fmt::format("Sequence nested deeper than {} levels", kMaxNesting));
}

const json* member(const json& obj, std::string_view key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(std::string(key));
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

bool get_bool(const Ctx& c, const json& obj, std::string_view path, std::string_view key, bool fallback) {
  const json* v = member(obj, key);
  if (!v) return fallback;
  if (!v->is_boolean()) bad(c, fmt::format("{}.{}", path, key), "expected true or false");
  return v->get<bool>();
}

std::string get_string(const Ctx& c, const json& obj, std::string_view path, std::string_view key) {
  const json* v = member(obj, key);
  if (!v || !v->is_string()) bad(c, fmt::format("{}.{}", path, key), "expected a string");
  return v->get<std::string>();
}

std::optional<std::string> get_opt_string(const Ctx& c, const json& obj, std::string_view path,
                                          std::string_view key) {
  const json* v = member(obj, key);
  if (!v) return std::nullopt;
  if (!v->is_string()) bad(c, fmt::format("{}.{}", path, key), "expected a string or null");
  return v->get<std::string>();
}

std::int64_t get_int(const Ctx& c, const json& v, std::string_view path, std::int64_t lo, std::int64_t hi) {
  if (!v.is_number_integer()) bad(c, path, "expected an integer");
  const std::int64_t x = v.is_number_unsigned() && v.get<std::uint64_t>() > static_cast<std::uint64_t>(hi)
                             ? hi + 1
                             : v.get<std::int64_t>();
  if (x < lo || x > hi) bad(c, path, fmt::format("{} is out of range [{}, {}]", x, lo, hi));
  return x;
}

void check_utf8(const Ctx& c, std::string_view path, std::string_view s) {
  if (unicode::first_invalid_utf8(s) != std::string_view::npos) bad(c, path, "string is not valid UTF-8");
}

std::string type_of(const Ctx& c, const json& obj, std::string_view path) {
  if (!obj.is_object()) bad(c, path, "expected an object");
  return get_string(c, obj, path, "type");
}

// Split / Replace patterns: {"String": "..."} or {"Regex": "..."}.
struct Pattern {
  bool regex;
  std::string text;
};
Pattern get_pattern(const Ctx& c, const json& obj, std::string_view path) {
  const json* p = member(obj, "pattern");
  const std::string where = fmt::format("{}.pattern", path);
  if (!p || !p->is_object()) bad(c, where, "expected {\"String\": ...} or {\"Regex\": ...}");
  if (const json* s = member(*p, "String"); s && s->is_string()) return {false, s->get<std::string>()};
  if (const json* r = member(*p, "Regex"); r && r->is_string()) return {true, r->get<std::string>()};
  bad(c, where, "expected {\"String\": ...} or {\"Regex\": ...}");
}

tok::SplitBehavior get_behavior(const Ctx& c, const json& obj, std::string_view path) {
  const std::string b = get_string(c, obj, path, "behavior");
  if (b == "Removed") return tok::SplitBehavior::Removed;
  if (b == "Isolated") return tok::SplitBehavior::Isolated;
  if (b == "MergedWithPrevious") return tok::SplitBehavior::MergedWithPrevious;
  if (b == "MergedWithNext") return tok::SplitBehavior::MergedWithNext;
  if (b == "Contiguous") return tok::SplitBehavior::Contiguous;
  bad(c, fmt::format("{}.behavior", path), fmt::format("unknown split behavior {}", printable(b)));
}

void load_normalizer(const Ctx& c, const json& n, std::string path, std::vector<tok::Normalizer>& out,
                     int depth = 0) {
  check_nesting(c, path, depth);
  const std::string type = type_of(c, n, path);
  if (type == "Sequence") {
    const json* list = member(n, "normalizers");
    if (!list || !list->is_array()) bad(c, path + ".normalizers", "expected a list");
    for (std::size_t i = 0; i < list->size(); ++i) {
      load_normalizer(c, (*list)[i], fmt::format("{}.normalizers[{}]", path, i), out, depth + 1);
    }
  } else if (type == "Prepend") {
    out.push_back({tok::Normalizer::Kind::Prepend, get_string(c, n, path, "prepend"), {}});
  } else if (type == "Replace") {
    Pattern p = get_pattern(c, n, path);
    if (p.regex) bad(c, path, "Replace with a regex pattern is not supported (only a literal String pattern)");
    out.push_back({tok::Normalizer::Kind::Replace, p.text, get_string(c, n, path, "content")});
  } else if (type == "NFC") {
    out.push_back({tok::Normalizer::Kind::Nfc, {}, {}});
  } else if (type == "NFD") {
    out.push_back({tok::Normalizer::Kind::Nfd, {}, {}});
  } else {
    bad(c, path, fmt::format("unsupported normalizer {} (supported: Sequence, Prepend, Replace, NFC, NFD)",
                             printable(type)));
  }
}

void load_pre_tokenizer(const Ctx& c, const json& p, std::string path, std::vector<tok::PreTokenizer>& out,
                        int depth = 0) {
  check_nesting(c, path, depth);
  const std::string type = type_of(c, p, path);
  tok::PreTokenizer t{};
  if (type == "Sequence") {
    const json* list = member(p, "pretokenizers");
    if (!list || !list->is_array()) bad(c, path + ".pretokenizers", "expected a list");
    for (std::size_t i = 0; i < list->size(); ++i) {
      load_pre_tokenizer(c, (*list)[i], fmt::format("{}.pretokenizers[{}]", path, i), out, depth + 1);
    }
    return;
  }
  if (type == "ByteLevel") {
    t.kind = tok::PreTokenizer::Kind::ByteLevel;
    t.add_prefix_space = get_bool(c, p, path, "add_prefix_space", true);
    t.use_regex = get_bool(c, p, path, "use_regex", true);
  } else if (type == "Split") {
    Pattern pat = get_pattern(c, p, path);
    t.behavior = get_behavior(c, p, path);
    t.invert = get_bool(c, p, path, "invert", false);
    if (pat.regex) {
      auto known = recognise_split_pattern(pat.text);
      if (!known) {
        bad(c, path + ".pattern",
            fmt::format("unsupported split regex {} (supported: the GPT-2, Llama 3 and Qwen2 patterns)",
                        printable(pat.text)));
      }
      t.kind = tok::PreTokenizer::Kind::SplitRegex;
      t.pattern = *known;
    } else {
      if (pat.text.empty()) bad(c, path + ".pattern", "empty split pattern");
      t.kind = tok::PreTokenizer::Kind::SplitLiteral;
      t.literal = pat.text;
    }
  } else if (type == "Metaspace") {
    t.kind = tok::PreTokenizer::Kind::Metaspace;
    t.replacement = get_string(c, p, path, "replacement");
    if (t.replacement.empty()) bad(c, path + ".replacement", "empty replacement");
    if (auto scheme = get_opt_string(c, p, path, "prepend_scheme")) {
      if (*scheme == "always") t.prepend = tok::PreTokenizer::Prepend::Always;
      else if (*scheme == "first") t.prepend = tok::PreTokenizer::Prepend::First;
      else if (*scheme == "never") t.prepend = tok::PreTokenizer::Prepend::Never;
      else bad(c, path + ".prepend_scheme", fmt::format("unknown scheme {}", printable(*scheme)));
    } else {  // files from before prepend_scheme existed
      t.prepend = get_bool(c, p, path, "add_prefix_space", true) ? tok::PreTokenizer::Prepend::Always
                                                                  : tok::PreTokenizer::Prepend::Never;
    }
    t.split = get_bool(c, p, path, "split", true);
  } else if (type == "Digits") {
    t.kind = tok::PreTokenizer::Kind::Digits;
    t.individual_digits = get_bool(c, p, path, "individual_digits", false);
  } else if (type == "WhitespaceSplit") {
    t.kind = tok::PreTokenizer::Kind::WhitespaceSplit;
  } else {
    bad(c, path, fmt::format("unsupported pre-tokenizer {} (supported: Sequence, ByteLevel, Split, Metaspace, "
                             "Digits, WhitespaceSplit)",
                             printable(type)));
  }
  out.push_back(std::move(t));
}

void load_decoder(const Ctx& c, const json& d, std::string path, std::vector<tok::Decoder>& out, int depth = 0) {
  check_nesting(c, path, depth);
  const std::string type = type_of(c, d, path);
  tok::Decoder t{};
  if (type == "Sequence") {
    const json* list = member(d, "decoders");
    if (!list || !list->is_array()) bad(c, path + ".decoders", "expected a list");
    for (std::size_t i = 0; i < list->size(); ++i) {
      load_decoder(c, (*list)[i], fmt::format("{}.decoders[{}]", path, i), out, depth + 1);
    }
    return;
  }
  if (type == "ByteLevel") {
    t.kind = tok::Decoder::Kind::ByteLevel;
  } else if (type == "Metaspace") {
    t.kind = tok::Decoder::Kind::Metaspace;
    t.a = get_string(c, d, path, "replacement");
    if (auto scheme = get_opt_string(c, d, path, "prepend_scheme")) {
      t.prepend_never = *scheme == "never";
    } else {
      t.prepend_never = !get_bool(c, d, path, "add_prefix_space", true);
    }
  } else if (type == "Replace") {
    Pattern p = get_pattern(c, d, path);
    if (p.regex) bad(c, path, "Replace with a regex pattern is not supported (only a literal String pattern)");
    t.kind = tok::Decoder::Kind::Replace;
    t.a = p.text;
    t.b = get_string(c, d, path, "content");
  } else if (type == "ByteFallback") {
    t.kind = tok::Decoder::Kind::ByteFallback;
  } else if (type == "Fuse") {
    t.kind = tok::Decoder::Kind::Fuse;
  } else if (type == "Strip") {
    t.kind = tok::Decoder::Kind::Strip;
    t.strip_content = get_string(c, d, path, "content");
    t.strip_start = static_cast<std::size_t>(get_int(c, member(d, "start") ? d["start"] : json(0), path + ".start", 0,
                                                     1 << 20));
    t.strip_stop = static_cast<std::size_t>(get_int(c, member(d, "stop") ? d["stop"] : json(0), path + ".stop", 0,
                                                    1 << 20));
  } else if (type == "BPEDecoder") {
    t.kind = tok::Decoder::Kind::BpeSuffix;
    t.a = get_opt_string(c, d, path, "suffix").value_or("</w>");
  } else {
    bad(c, path, fmt::format("unsupported decoder {} (supported: Sequence, ByteLevel, Metaspace, Replace, "
                             "ByteFallback, Fuse, Strip, BPEDecoder)",
                             printable(type)));
  }
  out.push_back(std::move(t));
}

std::unique_ptr<BpeModel> load_model(const Ctx& c, const json& root) {
  const json* m = member(root, "model");
  if (!m || !m->is_object()) bad(c, "model", "missing or not an object");
  std::string type;
  if (const json* t = member(*m, "type")) {
    if (!t->is_string()) bad(c, "model.type", "expected a string");
    type = t->get<std::string>();
  } else if (member(*m, "merges")) {
    type = "BPE";  // early files name no type; vocab + merges is a BPE model
  }
  if (type != "BPE") {
    bad(c, "model.type", fmt::format("unsupported tokenizer model type {} (supported: BPE)",
                                     printable(type.empty() ? std::string("(none)") : type)));
  }
  const json* vocab = member(*m, "vocab");
  if (!vocab || !vocab->is_object()) bad(c, "model.vocab", "expected an object of token: id");
  TokenMap map;
  map.reserve(vocab->size());
  for (auto it = vocab->begin(); it != vocab->end(); ++it) {
    const json& v = it.value();
    // Checked inline: a message (and its formatting) only for the entry that is wrong.
    if (!v.is_number_integer() || (v.is_number_unsigned() ? v.get<std::uint64_t>() >= kMaxId
                                                          : v.get<std::int64_t>() < 0 || v.get<std::int64_t>() >= kMaxId)) {
      get_int(c, v, fmt::format("model.vocab[{}]", printable(it.key())), 0, kMaxId - 1);
    }
    if (unicode::first_invalid_utf8(it.key()) != std::string::npos) check_utf8(c, "model.vocab", it.key());
    map.emplace(it.key(), static_cast<std::int32_t>(v.get<std::int64_t>()));
  }
  std::vector<std::pair<std::string, std::string>> merges;
  if (const json* list = member(*m, "merges")) {
    if (!list->is_array()) bad(c, "model.merges", "expected a list");
    merges.reserve(list->size());
    for (std::size_t i = 0; i < list->size(); ++i) {
      const json& e = (*list)[i];
      auto where = [i] { return fmt::format("model.merges[{}]", i); };
      if (e.is_string()) {  // "left right"
        const std::string& s = e.get_ref<const std::string&>();
        const std::size_t space = s.find(' ');
        if (space == std::string::npos || s.find(' ', space + 1) != std::string::npos) {
          bad(c, where(), fmt::format("{} is not two tokens separated by one space", printable(s)));
        }
        merges.emplace_back(s.substr(0, space), s.substr(space + 1));
      } else if (e.is_array() && e.size() == 2 && e[0].is_string() && e[1].is_string()) {  // ["left", "right"]
        merges.emplace_back(e[0].get_ref<const std::string&>(), e[1].get_ref<const std::string&>());
      } else {
        bad(c, where(), "expected \"left right\" or [\"left\", \"right\"]");
      }
    }
  }
  if (const json* d = member(*m, "dropout")) {
    if (!d->is_number()) bad(c, "model.dropout", "expected a number or null");
    if (d->get<double>() != 0.0) bad(c, "model.dropout", "BPE dropout (random merges) is not supported");
  }
  BpeOptions o;
  o.unk_token = get_opt_string(c, *m, "model", "unk_token");
  o.continuing_subword_prefix = get_opt_string(c, *m, "model", "continuing_subword_prefix").value_or("");
  o.end_of_word_suffix = get_opt_string(c, *m, "model", "end_of_word_suffix").value_or("");
  o.fuse_unk = get_bool(c, *m, "model", "fuse_unk", false);
  o.byte_fallback = get_bool(c, *m, "model", "byte_fallback", false);
  o.ignore_merges = get_bool(c, *m, "model", "ignore_merges", false);
  return std::make_unique<BpeModel>(std::move(map), merges, std::move(o), fmt::format("{}: model", c.file));
}

// Ids of a special token named by content (added tokens first, then the model).
std::int32_t special_id(const Ctx& c, const Tokenizer::Impl& impl, std::string_view path, const std::string& token) {
  if (auto it = impl.added_by_content.find(token); it != impl.added_by_content.end()) {
    return impl.added[it->second].id;
  }
  if (auto id = impl.model->token_to_id(token)) return *id;
  bad(c, path, fmt::format("special token {} is not in the vocabulary", printable(token)));
}

// Post-processor -> the ids around a single sequence.
void load_post_processor(const Ctx& c, const Tokenizer::Impl& impl, const json& p, std::string path,
                         std::vector<std::int32_t>& prefix, std::vector<std::int32_t>& suffix, int depth = 0) {
  check_nesting(c, path, depth);
  const std::string type = type_of(c, p, path);
  if (type == "Sequence") {
    const json* list = member(p, "processors");
    if (!list || !list->is_array()) bad(c, path + ".processors", "expected a list");
    for (std::size_t i = 0; i < list->size(); ++i) {
      load_post_processor(c, impl, (*list)[i], fmt::format("{}.processors[{}]", path, i), prefix, suffix,
                          depth + 1);
    }
  } else if (type == "ByteLevel") {
    // only trims offsets
  } else if (type == "TemplateProcessing") {
    const json* single = member(p, "single");
    if (!single || !single->is_array()) bad(c, path + ".single", "expected a list");
    const json* specials = member(p, "special_tokens");
    std::vector<std::int32_t> before, after;
    bool seen_a = false;
    for (std::size_t i = 0; i < single->size(); ++i) {
      const json& piece = (*single)[i];
      const std::string where = fmt::format("{}.single[{}]", path, i);
      if (const json* seq = member(piece, "Sequence")) {
        if (get_string(c, *seq, where, "id") != "A") bad(c, where, "a single-sequence template may only hold $A");
        if (seen_a) bad(c, where, "$A appears twice");
        seen_a = true;
      } else if (const json* sp = member(piece, "SpecialToken")) {
        const std::string name = get_string(c, *sp, where, "id");
        const json* entry = specials ? member(*specials, name) : nullptr;
        std::vector<std::int32_t> ids;
        if (entry && member(*entry, "ids")) {
          const json& list = (*entry)["ids"];
          if (!list.is_array()) bad(c, fmt::format("{}.special_tokens.{}.ids", path, name), "expected a list");
          for (const json& id : list) {
            ids.push_back(static_cast<std::int32_t>(get_int(c, id, fmt::format("{}.special_tokens.{}.ids", path, name),
                                                            0, std::numeric_limits<std::int32_t>::max() - 1)));
          }
        } else {
          ids.push_back(special_id(c, impl, where, name));
        }
        (seen_a ? after : before).insert((seen_a ? after : before).end(), ids.begin(), ids.end());
      } else {
        bad(c, where, "expected {\"Sequence\": ...} or {\"SpecialToken\": ...}");
      }
    }
    if (!seen_a) bad(c, path + ".single", "the template has no $A");
    prefix.insert(prefix.begin(), before.begin(), before.end());
    suffix.insert(suffix.end(), after.begin(), after.end());
  } else if (type == "RobertaProcessing" || type == "BertProcessing") {
    auto token_of = [&](const char* key) {
      const json* v = member(p, key);
      if (!v || !v->is_array() || v->size() != 2 || !(*v)[1].is_number_integer()) {
        bad(c, fmt::format("{}.{}", path, key), "expected [token, id]");
      }
      return static_cast<std::int32_t>(get_int(c, (*v)[1], fmt::format("{}.{}", path, key), 0,
                                                std::numeric_limits<std::int32_t>::max() - 1));
    };
    const std::int32_t cls = token_of("cls"), sep = token_of("sep");
    prefix.insert(prefix.begin(), cls);
    suffix.push_back(sep);
  } else {
    bad(c, path, fmt::format("unsupported post-processor {} (supported: Sequence, ByteLevel, TemplateProcessing, "
                             "RobertaProcessing, BertProcessing)",
                             printable(type)));
  }
}

// tokenizer_config.json names tokens as "text" or {"content": "text", ...}.
std::optional<std::string> config_token(const Ctx& c, const json& cfg, std::string_view key) {
  const json* v = member(cfg, key);
  if (!v) return std::nullopt;
  if (v->is_string()) return v->get<std::string>();
  if (v->is_object()) return get_string(c, *v, key, "content");
  bad(c, key, "expected a token string, {\"content\": ...} or null");
}

}  // namespace

void load_tokenizer(Tokenizer::Impl& impl, std::string_view json_text, std::string_view source,
                    std::optional<std::string_view> config_text, std::string_view config_source) {
  const Ctx c{source};
  impl.source = std::string(source);
  const json root = parse_large_json(json_text, source);
  if (!root.is_object()) fail("{}: expected a JSON object at the top level", source);

  impl.model = load_model(c, root);
  std::int32_t max_id = impl.model->max_id();

  if (const json* n = member(root, "normalizer")) load_normalizer(c, *n, "normalizer", impl.normalizers);
  if (const json* p = member(root, "pre_tokenizer")) load_pre_tokenizer(c, *p, "pre_tokenizer", impl.pre_tokenizers);
  // Pre-tokenizers run recursively, one level per stage.
  if (impl.pre_tokenizers.size() > 64) bad(c, "pre_tokenizer", "more than 64 stages");
  if (const json* d = member(root, "decoder")) {
    load_decoder(c, *d, "decoder", impl.decoders);
    impl.have_decoder = true;
  }

  if (const json* list = member(root, "added_tokens")) {
    if (!list->is_array()) bad(c, "added_tokens", "expected a list");
    for (std::size_t i = 0; i < list->size(); ++i) {
      const json& e = (*list)[i];
      const std::string where = fmt::format("added_tokens[{}]", i);
      if (!e.is_object()) bad(c, where, "expected an object");
      tok::AddedToken t;
      t.content = get_string(c, e, where, "content");
      check_utf8(c, where + ".content", t.content);
      const json* id = member(e, "id");
      if (!id) bad(c, where + ".id", "missing");
      t.id = static_cast<std::int32_t>(get_int(c, *id, where + ".id", 0, std::numeric_limits<std::int32_t>::max() - 1));
      t.single_word = get_bool(c, e, where, "single_word", false);
      t.lstrip = get_bool(c, e, where, "lstrip", false);
      t.rstrip = get_bool(c, e, where, "rstrip", false);
      t.special = get_bool(c, e, where, "special", false);
      t.normalized = get_bool(c, e, where, "normalized", !t.special);
      if (t.content.empty() || impl.added_by_content.count(t.content)) continue;  // as the reference: ignored
      if (auto other = impl.added_by_id.find(t.id); other != impl.added_by_id.end()) {
        bad(c, where + ".id", fmt::format("id {} is also given to {}", t.id, printable(impl.added[other->second].content)));
      }
      impl.added_by_content.emplace(t.content, impl.added.size());
      impl.added_by_id.emplace(t.id, impl.added.size());
      max_id = std::max(max_id, t.id);
      impl.added.push_back(std::move(t));
    }
  }
  // Special tokens are matched first in the reference (they come first in its trie); among equal
  // matches the first added wins. Normalized tokens are matched in their normalized form.
  for (int pass = 0; pass < 2; ++pass) {
    for (std::size_t i = 0; i < impl.added.size(); ++i) {
      const tok::AddedToken& t = impl.added[i];
      if (t.special != (pass == 0)) continue;
      if (t.normalized) {
        impl.normalized_matcher.add(tok::normalize(impl.normalizers, t.content), i);
      } else {
        impl.raw_matcher.add(t.content, i);
      }
    }
  }
  impl.size = max_id + 1;

  if (const json* p = member(root, "post_processor")) {
    load_post_processor(c, impl, *p, "post_processor", impl.prefix_ids, impl.suffix_ids);
    for (const auto* list : {&impl.prefix_ids, &impl.suffix_ids}) {
      for (std::int32_t id : *list) {
        if (!impl.added_by_id.count(id) && !impl.model->id_to_token(id)) {
          bad(c, "post_processor", fmt::format("special token id {} is not in the vocabulary", id));
        }
      }
    }
  }

  // BOS / EOS: tokenizer_config.json names them; else the post-processor's tokens around $A.
  std::optional<bool> add_bos, add_eos;
  std::optional<std::string> bos_name, eos_name;
  if (config_text) {
    const Ctx cc{config_source};
    const json cfg = parse_json_strict(*config_text, config_source);
    if (!cfg.is_object()) fail("{}: expected a JSON object at the top level", config_source);
    bos_name = config_token(cc, cfg, "bos_token");
    eos_name = config_token(cc, cfg, "eos_token");
    if (member(cfg, "add_bos_token")) add_bos = get_bool(cc, cfg, "", "add_bos_token", false);
    if (member(cfg, "add_eos_token")) add_eos = get_bool(cc, cfg, "", "add_eos_token", false);
    // A named token the vocabulary lacks matters only when it is to be added.
    auto resolve = [&](const std::optional<std::string>& name, bool needed, const char* key) -> std::optional<std::int32_t> {
      if (!name) return std::nullopt;
      if (auto it = impl.added_by_content.find(*name); it != impl.added_by_content.end()) return impl.added[it->second].id;
      if (auto id = impl.model->token_to_id(*name)) return *id;
      if (needed) bad(cc, key, fmt::format("special token {} is not in the vocabulary", printable(*name)));
      return std::nullopt;
    };
    impl.bos = resolve(bos_name, add_bos.value_or(false), "bos_token");
    impl.eos = resolve(eos_name, add_eos.value_or(false), "eos_token");
  }
  if (!impl.bos && impl.prefix_ids.size() == 1) impl.bos = impl.prefix_ids[0];
  if (!impl.eos && impl.suffix_ids.size() == 1) impl.eos = impl.suffix_ids[0];
  impl.template_prefix_ids = impl.prefix_ids;
  impl.template_suffix_ids = impl.suffix_ids;
  if (add_bos || add_eos) {  // the config decides, as convert_hf_to_gguf.py's SpecialVocab reads it
    if (add_bos.value_or(false) && !impl.bos) fail("{}: add_bos_token is true but no bos_token is named", config_source);
    if (add_eos.value_or(false) && !impl.eos) fail("{}: add_eos_token is true but no eos_token is named", config_source);
    impl.prefix_ids.clear();
    impl.suffix_ids.clear();
    if (add_bos.value_or(false)) impl.prefix_ids.push_back(*impl.bos);
    if (add_eos.value_or(false)) impl.suffix_ids.push_back(*impl.eos);
  }
}

}  // namespace qlab::io
