#pragma once
// Hugging Face tokenizer.json: byte-level BPE (GPT-2, Llama 3, Qwen2 families, with the
// pre-tokenizer's split regex) and SentencePiece-style BPE (Llama 2, TinyLlama, Mistral:
// metaspace "▁", byte fallback <0xNN>), added and special tokens; decode too.
// BOS handling follows tokenizer_config.json (add_bos_token) when it is beside tokenizer.json, or the
// post-processor alone as transformers 5 does (Tokenizer::Specials).
//
// Supported pieces of tokenizer.json (anything else is an Error naming the file and the key):
//   model          BPE: merges as "a b" or ["a", "b"], ignore_merges, byte_fallback, unk_token,
//                  fuse_unk, continuing_subword_prefix, end_of_word_suffix
//   normalizer     Sequence, Prepend, Replace (literal), NFC, NFD
//   pre_tokenizer  Sequence, ByteLevel, Split (the GPT-2 / Llama 3 / Qwen2 regexes, or a literal),
//                  Metaspace, Digits, WhitespaceSplit
//   post_processor TemplateProcessing, ByteLevel, RobertaProcessing, BertProcessing, Sequence
//   decoder        ByteLevel, Metaspace, Replace, ByteFallback, Fuse, Strip, BPEDecoder, Sequence
//   added_tokens   matched before the model, leftmost-longest, with single_word / lstrip / rstrip /
//                  normalized honoured
// Layout: tokenizer_load.cpp (JSON -> stages), tokenizer.cpp (encode/decode), tokenizer_added.cpp,
// tokenizer_pretokenize.cpp, tokenizer_decode.cpp, bpe.{h,cpp}, pretokenizer_regex.{h,cpp},
// unicode_text.{h,cpp} and the generated unicode_tables.cpp.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace qlab::io {

class Tokenizer {
 public:
  // Loads tokenizer.json (and tokenizer_config.json if present) from a folder or a file path.
  static Tokenizer load(const std::filesystem::path& dir_or_file);
  static Tokenizer from_json_text(std::string_view json_text, std::string_view source_name);
  // The same with tokenizer_config.json text beside it (BOS / EOS names, add_bos_token, add_eos_token).
  static Tokenizer from_json_text(std::string_view json_text, std::string_view source_name,
                                  std::string_view config_text, std::string_view config_source);
  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;
  ~Tokenizer();

  // Which special tokens go around an encoded text. The two sources disagree for some checkpoints (a
  // ByteLevel post-processor beside "add_bos_token": true, as DeepSeek's Qwen distills ship), and each
  // protocol follows its reference:
  //   None           none
  //   AsConfigured   tokenizer_config.json's add_bos_token / add_eos_token where it sets them, else the
  //                  post-processor's: what convert_hf_to_gguf.py writes as tokenizer.ggml.add_bos_token,
  //                  so llama.cpp's rule (perplexity follows it)
  //   AsTransformers the post-processor's alone: transformers 5 uses tokenizer.json's post-processor as
  //                  it is and drops tokenizer_config.json's add_bos_token / add_eos_token beside a
  //                  tokenizer.json (lm-evaluation-harness's HFLM tokenizes through it)
  enum class Specials { None, AsConfigured, AsTransformers };
  // Text (UTF-8) to ids, with the special tokens `specials` puts around it. Not UTF-8: Error.
  // Thread-safe (const, no shared mutable state).
  std::vector<std::int32_t> encode(std::string_view text, Specials specials) const;
  // add_special: Specials::AsConfigured, else None.
  std::vector<std::int32_t> encode(std::string_view text, bool add_special = false) const {
    return encode(text, add_special ? Specials::AsConfigured : Specials::None);
  }
  // An id that is neither in the model's vocabulary nor an added token: Error naming it.
  std::string decode(const std::vector<std::int32_t>& ids, bool skip_special = false) const;

  int vocab_size() const;                      // highest id + 1, added tokens included
  // Error when this tokenizer has ids the model has no embedding row for (ids up to vocab_size() - 1
  // against the model's vocab_size, read from model_config): the files do not belong together.
  void check_fits(int model_vocab_size, const std::filesystem::path& model_config) const;
  std::optional<std::int32_t> bos_id() const;
  std::optional<std::int32_t> eos_id() const;
  std::optional<std::int32_t> token_to_id(std::string_view token) const;
  bool is_special(std::int32_t id) const;  // an added token marked special (BOS, EOS, <|endoftext|>, ...)
  std::string id_to_token(std::int32_t id) const;

  struct Impl;  // the loaded pipeline; defined in engine/io/tokenizer_impl.h, internal to qlab_io

 private:
  Tokenizer();
  std::unique_ptr<Impl> impl_;
};

}  // namespace qlab::io
