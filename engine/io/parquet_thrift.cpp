#include "engine/io/parquet_thrift.h"

#include "engine/core/error.h"

namespace qlab::io::thrift {

void Reader::bad(const char* why) const { fail("{}: {} at byte {} of its metadata", what_, why, i_); }

std::uint8_t Reader::byte() {
  if (i_ >= b_.size()) bad("metadata cut short");
  return b_[i_++];
}

std::uint64_t Reader::varint() {
  std::uint64_t v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    const std::uint8_t b = byte();
    v |= static_cast<std::uint64_t>(b & 0x7F) << shift;
    if (!(b & 0x80)) return v;
  }
  bad("a varint longer than 10 bytes");
}

void Reader::begin_struct() {
  if (depth_ >= 63) bad("structs nested too deep");
  stack_[depth_++] = last_id_;
  last_id_ = 0;
}

void Reader::end_struct() {
  if (depth_ <= 0) bad("struct end without a start");
  last_id_ = stack_[--depth_];
}

bool Reader::next_field(std::int16_t& id, std::uint8_t& type) {
  const std::uint8_t h = byte();
  type = h & 0x0F;
  if (type == Stop) return false;
  const std::uint8_t delta = h >> 4;
  if (delta) id = static_cast<std::int16_t>(last_id_ + delta);
  else id = static_cast<std::int16_t>(zigzag(varint()));
  last_id_ = id;
  if (type > Struct) bad("an unknown field type");
  return true;
}

std::int64_t Reader::read_int(std::uint8_t type) {
  if (type == Byte) return static_cast<std::int8_t>(byte());
  if (type != I16 && type != I32 && type != I64) bad("an integer field of another type");
  return zigzag(varint());
}

bool Reader::read_bool(std::uint8_t type) {
  if (type == True) return true;
  if (type == False) return false;
  bad("a boolean field of another type");
}

std::string Reader::read_binary() {
  const std::uint64_t n = varint();
  if (n > b_.size() - i_) bad("a string longer than the metadata");
  std::string s(reinterpret_cast<const char*>(b_.data() + i_), static_cast<std::size_t>(n));
  i_ += static_cast<std::size_t>(n);
  return s;
}

std::size_t Reader::read_list(std::uint8_t& elem_type) {
  const std::uint8_t h = byte();
  elem_type = h & 0x0F;
  std::uint64_t n = h >> 4;
  if (n == 15) n = varint();
  // Every element takes at least one byte: a larger count is a damaged file, not an allocation.
  if (n > b_.size() - i_) bad("a list longer than the metadata");
  return static_cast<std::size_t>(n);
}

void Reader::skip(std::uint8_t type, int depth) {
  if (depth > 32) bad("values nested too deep");
  switch (type) {
    case True: case False: return;  // a field's value is in its header
    case Byte: byte(); return;
    case I16: case I32: case I64: varint(); return;
    case Double:
      if (b_.size() - i_ < 8) bad("metadata cut short");
      i_ += 8;
      return;
    case Binary: read_binary(); return;
    case List: case Set: {
      std::uint8_t et = 0;
      const std::size_t n = read_list(et);
      for (std::size_t k = 0; k < n; ++k) {
        if (et == True || et == False) byte();  // booleans in a list take a byte each
        else skip(et, depth + 1);
      }
      return;
    }
    case Map: {
      const std::uint64_t n = varint();
      if (n == 0) return;
      if (n > b_.size() - i_) bad("a map longer than the metadata");
      const std::uint8_t kv = byte();
      auto elem = [&](std::uint8_t t) {
        if (t == True || t == False) byte();
        else skip(t, depth + 1);
      };
      for (std::uint64_t k = 0; k < n; ++k) {
        elem(static_cast<std::uint8_t>(kv >> 4));
        elem(kv & 0x0F);
      }
      return;
    }
    case Struct: {
      begin_struct();
      std::int16_t id = 0;
      std::uint8_t t = 0;
      while (next_field(id, t)) skip(t, depth + 1);
      end_struct();
      return;
    }
    default: bad("an unknown value type");
  }
}

}  // namespace qlab::io::thrift
