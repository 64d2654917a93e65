// Tokenizer: encode = added tokens -> normalizer -> normalized added tokens -> pre-tokenizers ->
// BPE per word (cached per call) -> special tokens; decode = ids -> token strings -> decoders.
#include "engine/io/tokenizer.h"

#include <unordered_map>

#include "engine/core/atomic_file.h"
#include "engine/core/error.h"
#include "engine/io/tokenizer_impl.h"
#include "engine/io/unicode_text.h"

namespace qlab::io {

Tokenizer::Tokenizer() : impl_(std::make_unique<Impl>()) {}
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

Tokenizer Tokenizer::load(const std::filesystem::path& dir_or_file) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path file = fs::is_directory(dir_or_file, ec) ? dir_or_file / "tokenizer.json" : dir_or_file;
  if (!fs::exists(file, ec)) fail("{}: no such file (a tokenizer needs tokenizer.json)", file.string());
  const std::string text = read_file(file);
  const fs::path config = file.parent_path() / "tokenizer_config.json";
  std::optional<std::string> config_text;
  if (fs::is_regular_file(config, ec)) config_text = read_file(config);
  Tokenizer t;
  load_tokenizer(*t.impl_, text, file.string(),
                 config_text ? std::optional<std::string_view>(*config_text) : std::nullopt, config.string());
  return t;
}

Tokenizer Tokenizer::from_json_text(std::string_view json_text, std::string_view source_name) {
  Tokenizer t;
  load_tokenizer(*t.impl_, json_text, source_name, std::nullopt, {});
  return t;
}

Tokenizer Tokenizer::from_json_text(std::string_view json_text, std::string_view source_name,
                                    std::string_view config_text, std::string_view config_source) {
  Tokenizer t;
  load_tokenizer(*t.impl_, json_text, source_name, config_text, config_source);
  return t;
}

std::vector<std::int32_t> Tokenizer::encode(std::string_view text, Specials specials) const {
  const Impl& m = *impl_;
  const bool add_special = specials != Specials::None;
  const bool hf = specials == Specials::AsTransformers;
  const std::vector<std::int32_t>& prefix = hf ? m.template_prefix_ids : m.prefix_ids;
  const std::vector<std::int32_t>& suffix = hf ? m.template_suffix_ids : m.suffix_ids;
  if (std::size_t bad = unicode::first_invalid_utf8(text); bad != std::string_view::npos) {
    fail("text to encode is not valid UTF-8 (byte {} of {}: 0x{:02x})", bad, text.size(),
         static_cast<unsigned char>(text[bad]));
  }
  std::vector<std::int32_t> ids;
  ids.reserve(text.size() / 3 + prefix.size() + suffix.size() + 4);
  if (add_special) ids.insert(ids.end(), prefix.begin(), prefix.end());

  // Words repeat a great deal in real text; each distinct word is run through BPE once per call.
  // Segments of long SentencePiece-style words (BpeModel::segment_marker) have their own cache:
  // their ids never take the whole-word shortcut.
  using Cache = std::unordered_map<std::string, std::pair<std::uint32_t, std::uint32_t>, StringHash, std::equal_to<>>;
  Cache word_cache, segment_cache;
  std::vector<std::int32_t> store;  // cached ids, back to back
  auto cached = [&](std::string_view key, bool whole_word, Cache& cache) {
    if (auto it = cache.find(key); it != cache.end()) {
      ids.insert(ids.end(), store.begin() + it->second.first, store.begin() + it->second.second);
      return;
    }
    const auto begin = static_cast<std::uint32_t>(store.size());
    m.model->tokenize(key, store, whole_word);
    ids.insert(ids.end(), store.begin() + begin, store.end());
    if (key.size() < 256) {
      cache.emplace(key, std::make_pair(begin, static_cast<std::uint32_t>(store.size())));
    } else {
      store.resize(begin);
    }
  };
  const std::string_view marker = m.model->segment_marker();
  const std::function<void(std::string_view)> emit = [&](std::string_view word) {
    if (marker.empty() || word.size() <= 2 * marker.size()) {
      cached(word, true, word_cache);
      return;
    }
    if (auto id = m.model->whole_word_id(word)) {
      ids.push_back(*id);
      return;
    }
    // Cut before each marker that follows a non-marker character.
    std::size_t start = 0;
    for (std::size_t at = word.find(marker, 1); at != std::string_view::npos; at = word.find(marker, at + marker.size())) {
      if (at >= marker.size() && word.substr(at - marker.size(), marker.size()) == marker) continue;
      cached(word.substr(start, at - start), false, segment_cache);
      start = at;
    }
    cached(word.substr(start), start == 0, start == 0 ? word_cache : segment_cache);
  };

  std::vector<tok::AddedMatcher::Split> raw, normalized;
  m.raw_matcher.split(text, m.added, raw);
  for (const auto& r : raw) {
    if (r.token_index >= 0) {
      ids.push_back(m.added[static_cast<std::size_t>(r.token_index)].id);
      continue;
    }
    const std::string piece =
        tok::normalize(m.normalizers, std::string(text.substr(r.begin, r.end - r.begin)));
    normalized.clear();
    m.normalized_matcher.split(piece, m.added, normalized);
    for (const auto& n : normalized) {
      if (n.token_index >= 0) {
        ids.push_back(m.added[static_cast<std::size_t>(n.token_index)].id);
        continue;
      }
      tok::pre_tokenize(m.pre_tokenizers, 0, std::string_view(piece).substr(n.begin, n.end - n.begin),
                        r.begin == 0 && n.begin == 0, emit);
    }
  }
  if (add_special) ids.insert(ids.end(), suffix.begin(), suffix.end());
  return ids;
}

std::string Tokenizer::decode(const std::vector<std::int32_t>& ids, bool skip_special) const {
  const Impl& m = *impl_;
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const std::int32_t id = ids[i];
    if (auto it = m.added_by_id.find(id); it != m.added_by_id.end()) {
      const tok::AddedToken& t = m.added[it->second];
      if (!(skip_special && t.special)) tokens.push_back(t.content);
      continue;
    }
    const std::string* s = m.model->id_to_token(id);
    if (!s) {
      fail("{}: cannot decode token id {} (position {}): not in the vocabulary (size {})", m.source, id, i,
           m.size);
    }
    tokens.push_back(*s);
  }
  return tok::decode_tokens(m.decoders, m.have_decoder, std::move(tokens));
}

int Tokenizer::vocab_size() const { return impl_->size; }

void Tokenizer::check_fits(int model_vocab_size, const std::filesystem::path& model_config) const {
  if (impl_->size <= model_vocab_size) return;
  fail("{}: has token ids up to {}, but {} gives the model {} (vocab_size): this tokenizer does not belong to "
       "this model",
       impl_->source, impl_->size - 1, model_config.string(), model_vocab_size);
}
std::optional<std::int32_t> Tokenizer::bos_id() const { return impl_->bos; }
bool Tokenizer::is_special(std::int32_t id) const { return impl_->is_special(id); }
std::optional<std::int32_t> Tokenizer::eos_id() const { return impl_->eos; }

std::optional<std::int32_t> Tokenizer::token_to_id(std::string_view token) const {
  if (auto it = impl_->added_by_content.find(std::string(token)); it != impl_->added_by_content.end()) {
    return impl_->added[it->second].id;
  }
  return impl_->model->token_to_id(token);
}

std::string Tokenizer::id_to_token(std::int32_t id) const {
  if (auto it = impl_->added_by_id.find(id); it != impl_->added_by_id.end()) return impl_->added[it->second].content;
  if (const std::string* s = impl_->model->id_to_token(id)) return *s;
  fail("{}: token id {} is not in the vocabulary (size {})", impl_->source, id, impl_->size);
}

}  // namespace qlab::io
