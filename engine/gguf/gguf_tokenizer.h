#pragma once
// The tokenizer a GGUF file carries, as qlab's io::Tokenizer: the tokenizer.ggml.* keys turned into
// the tokenizer.json pipeline that tokenizes as llama.cpp does.
//   gguf_tokenizer_files  tokenizer.json and tokenizer_config.json texts of that pipeline (for tests)
//   gguf_tokenizer        the loaded tokenizer; nullopt for a file without one ("no_vocab")
// Families (llama-vocab.cpp):
//   "gpt2"   byte-level BPE: vocab and merges as stored; the pre-tokenizer named by tokenizer.ggml.pre
//            ("gpt-2" and the BPE "default" of older converters: GPT-2's regex; "llama-bpe",
//            "llama3", "llama-v3": Llama 3's regex with ignore_merges; "qwen2": Qwen2's regex)
//   "llama"  SentencePiece-style: "▁" for spaces, one prepended unless add_space_prefix is false,
//            byte fallback to <0xNN>, the unknown token for what no token covers; merges rebuilt from
//            the scores (every split of a token into two tokens, the token's score as the merge's
//            priority: llama.cpp's tokenizer merges the highest-scoring adjacent pair first)
// User-defined (4) tokens are added tokens, always matched in the text before the model. Control
// (3) tokens are matched too with SpecialText::Parsed (marked special: skipped when decoding with
// skip_special); with SpecialText::Plain they are ordinary vocabulary entries and their text is
// tokenized like any other, as llama.cpp tokenizes without parse_special (llama-perplexity,
// llama-imatrix by default). BOS is put first when
// tokenizer.ggml.add_bos_token says so (SentencePiece default: yes; byte-level: no, but yes for
// llama-bpe, as llama.cpp defaults them), EOS last when add_eos_token is true.
// Error (naming the file) for another tokenizer model or a pre-tokenizer qlab does not run.
#include <optional>
#include <span>
#include <string>
#include <utility>

#include "engine/gguf/gguf_file.h"
#include "engine/io/tokenizer.h"

namespace qlab::gguf {

enum class SpecialText { Parsed, Plain };

struct GgufTokenizerFiles {
  std::string tokenizer_json, tokenizer_config_json;
};
std::optional<GgufTokenizerFiles> gguf_tokenizer_files(const GgufFile& f, SpecialText special = SpecialText::Parsed);
std::optional<io::Tokenizer> gguf_tokenizer(const GgufFile& f, SpecialText special = SpecialText::Parsed);
// The same from tokenizer keys not (yet) in a file: hf_vocab_metadata's, to tokenize an HF model's
// text exactly as llama.cpp will once the model is converted. label names the source in errors.
std::optional<io::Tokenizer> tokenizer_from_metadata(std::span<const std::pair<std::string, MetaValue>> kv,
                                                     const std::string& label, SpecialText special);

}  // namespace qlab::gguf
