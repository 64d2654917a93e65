#pragma once
// What a loaded tokenizer holds (internal to qlab_io): the pipeline stages of tokenizer.json and
// the special-token settings of tokenizer_config.json.
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "engine/io/tokenizer.h"
#include "engine/io/tokenizer_parts.h"

namespace qlab::io {

struct Tokenizer::Impl {
  std::string source;  // file name for messages

  std::vector<tok::AddedToken> added;
  std::unordered_map<std::string, std::size_t> added_by_content;
  std::unordered_map<std::int32_t, std::size_t> added_by_id;
  tok::AddedMatcher raw_matcher, normalized_matcher;

  std::vector<tok::Normalizer> normalizers;
  std::vector<tok::PreTokenizer> pre_tokenizers;
  std::unique_ptr<BpeModel> model;
  std::vector<tok::Decoder> decoders;
  bool have_decoder = false;

  // Ids put around one sequence when special tokens are requested (post-processor, or
  // tokenizer_config.json's add_bos_token / add_eos_token when it sets them).
  std::vector<std::int32_t> prefix_ids, suffix_ids;
  // The post-processor's own, before tokenizer_config.json's say (Specials::AsTransformers).
  std::vector<std::int32_t> template_prefix_ids, template_suffix_ids;
  std::optional<std::int32_t> bos, eos;
  std::int32_t size = 0;  // highest id + 1

  bool is_special(std::int32_t id) const {
    auto it = added_by_id.find(id);
    return it != added_by_id.end() && added[it->second].special;
  }
};

// Fills impl from tokenizer.json text (and tokenizer_config.json text, when there is one).
void load_tokenizer(Tokenizer::Impl& impl, std::string_view json_text, std::string_view source,
                    std::optional<std::string_view> config_text, std::string_view config_source);

}  // namespace qlab::io
