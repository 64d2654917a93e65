#pragma once
// A byte-level BPE trainer (GPT-2 style) that writes a standard Hugging Face tokenizer.json:
// ByteLevel pre-tokenizer (GPT-2 split regex), BPE model with merges, ByteLevel decoder.
//   BpeTrainOptions   vocabulary size (special tokens + 256 bytes + merges), special tokens
//   train_byte_bpe    learns merges from text: words come from the GPT-2 split regex, each word a
//                     sequence of bytes; repeatedly merge the most frequent adjacent pair (ties:
//                     the pair whose merged string sorts first, so the result is deterministic)
//   tokenizer_json    the tokenizer.json text (special tokens first, ids 0..; then the 256 byte
//                     symbols in byte-to-unicode order; then one token per merge); its post-processor
//                     puts the first special token (BOS) before each sequence
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace qlab::train {

struct BpeTrainOptions {
  int vocab_size = 768;
  std::vector<std::string> special_tokens{"<|endoftext|>"};
  int min_frequency = 2;  // stop early when the best pair occurs fewer times than this
};

struct ByteBpe {
  std::vector<std::string> special_tokens;
  std::vector<std::string> vocab;  // id -> token in byte-level alphabet (specials first)
  std::vector<std::pair<std::string, std::string>> merges;  // in rank order
};

// GPT-2's printable stand-in for each byte (UTF-8 of one code point).
const std::string& byte_level_char(unsigned char b);

ByteBpe train_byte_bpe(std::string_view text, const BpeTrainOptions& opt);
std::string tokenizer_json(const ByteBpe& bpe);

}  // namespace qlab::train
