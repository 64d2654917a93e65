#pragma once
// The pieces of a SentencePiece model file (tokenizer.model, a serialized sentencepiece.ModelProto):
// what llama.cpp's converter reads from it for a "llama" (SentencePiece-style) GGUF vocabulary.
//   SentencePiece            piece text, score, type (NORMAL 1, UNKNOWN 2, CONTROL 3, USER_DEFINED 4,
//                            UNUSED 5, BYTE 6: the same numbers GGUF's tokenizer.ggml.token_type uses)
//   parse_sentencepiece_model   the pieces in id order; strict: every length and tag is checked
//                            against the bytes (Error naming the file), unknown fields are skipped
// Source: sentencepiece's sentencepiece_model.proto (ModelProto field 1 `pieces`; SentencePiece
// fields 1 piece, 2 score, 3 type) and the protobuf wire format (varint, 32-bit, length-delimited).
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace qlab::gguf {

struct SentencePiece {
  std::string piece;
  float score = 0.0f;
  std::int32_t type = 1;  // NORMAL unless the file says otherwise
};

std::vector<SentencePiece> parse_sentencepiece_model(std::span<const std::byte> bytes, const std::string& label);

}  // namespace qlab::gguf
