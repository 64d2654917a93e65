#pragma once
// The tokenizer keys of a GGUF file, made from a Hugging Face model folder the way llama.cpp's
// converter (convert_hf_to_gguf.py with gguf-py's SpecialVocab) makes them.
//   hf_vocab_metadata   tokenizer.ggml.* and tokenizer.chat_template for the folder's tokenizer:
//     byte-level BPE (tokenizer.json with a ByteLevel pre-tokenizer): model "gpt2", the pre-tokenizer
//       named as llama.cpp knows it ("gpt-2" for ByteLevel's own regex, "llama-bpe" for Llama 3's
//       split regex, "qwen2" for Qwen2's), tokens, token types, merges "a b" in rank order
//     SentencePiece-style BPE (byte_fallback, "▁" for spaces; Llama 2, Mistral): model "llama", pre
//       "default", tokens, scores and types from tokenizer.model when the folder has it (as the
//       converter reads them); without it, from tokenizer.json with each merged token scored by its
//       merge's rank (llama.cpp's SentencePiece tokenizer merges the highest-scoring pair first, so
//       this gives the merges' order; the converter's own fallback scores every token -1000)
//     no tokenizer.json: model "no_vocab" (llama.cpp then makes vocab_size placeholder tokens)
//   Special token ids (bos, eos, unknown, separator, padding) from tokenizer_config.json's *_token
//   entries matched against tokenizer.json's added tokens, else config.json's *_token_id;
//   add_bos_token / add_eos_token from tokenizer_config.json, else from a TemplateProcessing
//   post-processor; the chat template from tokenizer_config.json or chat_template.jinja.
// Token types: 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte. Ids the tokenizer
// does not define up to the config's vocab_size become "[PADn]" tokens of type unused.
// Error (naming the file) on a tokenizer whose pre-tokenizer llama.cpp would not recognise.
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "engine/gguf/gguf_value.h"
#include "engine/io/model_config.h"

namespace qlab::gguf {

struct HfVocab {
  std::vector<std::pair<std::string, MetaValue>> kv;  // in the converter's order
  std::string model;                                  // "gpt2", "llama" or "no_vocab"
  std::string pre;                                    // the pre-tokenizer name ("" for no_vocab)
  std::string chat_template;                          // "" if none
  std::vector<std::string> eos_tokens;                // EOS (and EOT) token texts, for stop words
};

HfVocab hf_vocab_metadata(const std::filesystem::path& dir, const io::ModelConfig& cfg);

}  // namespace qlab::gguf
