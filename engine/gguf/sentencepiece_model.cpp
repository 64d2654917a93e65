// A protobuf reader just big enough for ModelProto.pieces: varints, fixed 32/64-bit fields and
// length-delimited fields, each bounded by the bytes that remain.
#include "engine/gguf/sentencepiece_model.h"

#include <cstring>

#include "engine/core/error.h"

namespace qlab::gguf {

namespace {

class Reader {
 public:
  Reader(std::span<const std::byte> b, const std::string& label) : b_(b), label_(label) {}
  bool done() const { return pos_ >= b_.size(); }

  std::uint64_t varint() {
    std::uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ >= b_.size()) fail("{}: truncated varint at byte {}", label_, pos_);
      const auto c = std::to_integer<std::uint8_t>(b_[pos_++]);
      v |= static_cast<std::uint64_t>(c & 0x7F) << shift;
      if (!(c & 0x80)) return v;
    }
    fail("{}: varint longer than 10 bytes at byte {}", label_, pos_);
  }
  std::span<const std::byte> bytes(std::uint64_t n) {
    if (n > b_.size() - pos_) fail("{}: field of {} bytes at byte {} runs past the end", label_, n, pos_);
    auto s = b_.subspan(pos_, static_cast<std::size_t>(n));
    pos_ += static_cast<std::size_t>(n);
    return s;
  }
  // Skips a field of this wire type; Error on a type protobuf does not define (or groups).
  void skip(std::uint32_t wire) {
    switch (wire) {
      case 0: varint(); return;
      case 1: bytes(8); return;
      case 2: bytes(varint()); return;
      case 5: bytes(4); return;
      default: fail("{}: unsupported protobuf wire type {} at byte {}", label_, wire, pos_);
    }
  }

 private:
  std::span<const std::byte> b_;
  const std::string& label_;
  std::size_t pos_ = 0;
};

SentencePiece parse_piece(std::span<const std::byte> b, const std::string& label) {
  SentencePiece p;
  Reader r(b, label);
  while (!r.done()) {
    const std::uint64_t key = r.varint();
    const auto field = key >> 3;
    const auto wire = static_cast<std::uint32_t>(key & 7);
    if (field == 1 && wire == 2) {
      const auto s = r.bytes(r.varint());
      p.piece.assign(reinterpret_cast<const char*>(s.data()), s.size());
    } else if (field == 2 && wire == 5) {
      const auto s = r.bytes(4);
      std::memcpy(&p.score, s.data(), 4);
    } else if (field == 3 && wire == 0) {
      const std::uint64_t t = r.varint();
      if (t < 1 || t > 6) fail("{}: piece '{}' has type {} (sentencepiece defines 1..6)", label, p.piece, t);
      p.type = static_cast<std::int32_t>(t);
    } else {
      r.skip(wire);
    }
  }
  return p;
}

}  // namespace

std::vector<SentencePiece> parse_sentencepiece_model(std::span<const std::byte> bytes, const std::string& label) {
  std::vector<SentencePiece> pieces;
  Reader r(bytes, label);
  while (!r.done()) {
    const std::uint64_t key = r.varint();
    const auto wire = static_cast<std::uint32_t>(key & 7);
    if ((key >> 3) == 1 && wire == 2) {
      pieces.push_back(parse_piece(r.bytes(r.varint()), label));
    } else {
      r.skip(wire);
    }
  }
  if (pieces.empty()) fail("{}: no pieces (not a SentencePiece model?)", label);
  return pieces;
}

}  // namespace qlab::gguf
