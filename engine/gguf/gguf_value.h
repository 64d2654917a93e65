#pragma once
// One GGUF metadata value: a scalar or an array of scalars of one of the twelve value types.
//   ValueType        the ids a GGUF file stores (UINT8 = 0 ... FLOAT64 = 12; ARRAY = 9 is not an
//                    element type here: arrays of arrays are refused, as llama.cpp refuses them)
//   MetaValue        construct with the factories (u32(7), string("llama"), array(vector<float>),
//                    ...); read with the typed getters (as<std::uint32_t>, as_string, as_array<float>,
//                    ...), which check the type exactly (llama.cpp rejects a key of the wrong type,
//                    e.g. INT32 where it reads UINT32)
// Scalars are stored as one-element vectors; array() / strings() give spans over the elements.
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace qlab::gguf {

enum class ValueType : std::uint32_t {
  U8 = 0, I8 = 1, U16 = 2, I16 = 3, U32 = 4, I32 = 5, F32 = 6, Bool = 7, String = 8, Array = 9,
  U64 = 10, I64 = 11, F64 = 12,
};

std::string_view value_type_name(ValueType t);  // "uint32", "string", "array", ...
// Bytes one element takes in a file (strings: the 8-byte length alone, their smallest size).
std::uint64_t value_type_min_bytes(ValueType t);

class MetaValue {
 public:
  static MetaValue u8(std::uint8_t v) { return {ValueType::U8, false, std::vector<std::uint8_t>{v}}; }
  static MetaValue i8(std::int8_t v) { return {ValueType::I8, false, std::vector<std::int8_t>{v}}; }
  static MetaValue u16(std::uint16_t v) { return {ValueType::U16, false, std::vector<std::uint16_t>{v}}; }
  static MetaValue i16(std::int16_t v) { return {ValueType::I16, false, std::vector<std::int16_t>{v}}; }
  static MetaValue u32(std::uint32_t v) { return {ValueType::U32, false, std::vector<std::uint32_t>{v}}; }
  static MetaValue i32(std::int32_t v) { return {ValueType::I32, false, std::vector<std::int32_t>{v}}; }
  static MetaValue f32(float v) { return {ValueType::F32, false, std::vector<float>{v}}; }
  static MetaValue boolean(bool v) { return {ValueType::Bool, false, std::vector<std::uint8_t>{std::uint8_t{v}}}; }
  static MetaValue string(std::string v) { return {ValueType::String, false, std::vector<std::string>{std::move(v)}}; }
  static MetaValue u64(std::uint64_t v) { return {ValueType::U64, false, std::vector<std::uint64_t>{v}}; }
  static MetaValue i64(std::int64_t v) { return {ValueType::I64, false, std::vector<std::int64_t>{v}}; }
  static MetaValue f64(double v) { return {ValueType::F64, false, std::vector<double>{v}}; }

  // Arrays; the element type follows T (std::uint8_t -> UINT8, float -> FLOAT32, std::string ->
  // STRING, ...). Bool arrays: bool_array.
  template <typename T>
  static MetaValue array(std::vector<T> v);
  static MetaValue bool_array(const std::vector<bool>& v);

  bool is_array() const { return is_array_; }
  ValueType type() const { return is_array_ ? ValueType::Array : elem_; }  // as stored in the file
  ValueType element_type() const { return elem_; }                        // the scalar type (of elements)
  std::uint64_t size() const;                                              // elements (1 for a scalar)
  // "uint32", "array of string", for messages.
  std::string type_description() const;

  // Scalar getters: Error (naming `key`) unless the value is a scalar of exactly that type.
  template <typename T>
  T as(std::string_view key = "value") const;
  bool as_bool(std::string_view key = "value") const;
  const std::string& as_string(std::string_view key = "value") const;
  // Array getters: Error unless an array of exactly that element type. Bool arrays read as u8 0/1.
  template <typename T>
  std::span<const T> as_array(std::string_view key = "value") const;
  std::span<const std::string> as_strings(std::string_view key = "value") const;
  std::span<const std::uint8_t> as_bools(std::string_view key = "value") const;

  // A scalar of any integer type that fits in an int64 (for reading counts written by other tools).
  std::int64_t as_integer(std::string_view key = "value") const;

  bool operator==(const MetaValue& o) const = default;

  using Storage = std::variant<std::vector<std::uint8_t>, std::vector<std::int8_t>, std::vector<std::uint16_t>,
                               std::vector<std::int16_t>, std::vector<std::uint32_t>, std::vector<std::int32_t>,
                               std::vector<float>, std::vector<std::string>, std::vector<std::uint64_t>,
                               std::vector<std::int64_t>, std::vector<double>>;
  // For readers and writers: the stored elements (U8 and Bool both as std::vector<std::uint8_t>).
  const Storage& storage() const { return data_; }
  MetaValue(ValueType elem, bool is_array, Storage data) : elem_(elem), is_array_(is_array), data_(std::move(data)) {}

 private:
  template <typename T>
  const std::vector<T>& elements(ValueType want, bool want_array, std::string_view key) const;

  ValueType elem_;
  bool is_array_;
  Storage data_;
};

// The value type that holds T (uint8 -> U8, ..., std::string -> String); Bool has no C++ type here.
template <typename T>
constexpr ValueType value_type_of();

}  // namespace qlab::gguf

#include "engine/gguf/gguf_value_impl.h"
