#pragma once
// The Thrift compact protocol, read only, as Parquet's footer and page headers use it
// (thrift/doc/specs/thrift-compact-protocol.md): field headers with delta ids, zigzag varints,
// length-prefixed binaries, lists, maps and nested structs. Unknown fields are skipped, with a nesting
// limit, so a file from a newer writer still reads. Internal to the Parquet reader.
#include <cstdint>
#include <span>
#include <string>

namespace qlab::io::thrift {

enum Type : std::uint8_t {
  Stop = 0, True = 1, False = 2, Byte = 3, I16 = 4, I32 = 5, I64 = 6, Double = 7, Binary = 8, List = 9, Set = 10,
  Map = 11, Struct = 12
};

class Reader {
 public:
  Reader(std::span<const std::uint8_t> bytes, std::string what) : b_(bytes), what_(std::move(what)) {}

  std::size_t pos() const { return i_; }

  // The next field of the current struct: false at its end. Sets id and type.
  bool next_field(std::int16_t& id, std::uint8_t& type);
  void begin_struct();
  void end_struct();

  std::int64_t read_int(std::uint8_t type);   // I16 / I32 / I64 (or Byte)
  bool read_bool(std::uint8_t type);          // a field's True / False
  std::string read_binary();
  // A list header: its size and element type.
  std::size_t read_list(std::uint8_t& elem_type);
  void skip(std::uint8_t type, int depth = 0);

  [[noreturn]] void bad(const char* why) const;

 private:
  std::uint8_t byte();
  std::uint64_t varint();
  static std::int64_t zigzag(std::uint64_t v) { return static_cast<std::int64_t>(v >> 1) ^ -static_cast<std::int64_t>(v & 1); }

  std::span<const std::uint8_t> b_;
  std::string what_;
  std::size_t i_ = 0;
  std::int16_t last_id_ = 0;
  std::int16_t stack_[64] = {};
  int depth_ = 0;
};

}  // namespace qlab::io::thrift
