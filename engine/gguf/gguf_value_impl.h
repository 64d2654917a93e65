#pragma once
// Template definitions for gguf_value.h (included at its end; not included on its own).
#include <type_traits>

#include "engine/core/error.h"

namespace qlab::gguf {

template <typename T>
constexpr ValueType value_type_of() {
  if constexpr (std::is_same_v<T, std::uint8_t>) return ValueType::U8;
  else if constexpr (std::is_same_v<T, std::int8_t>) return ValueType::I8;
  else if constexpr (std::is_same_v<T, std::uint16_t>) return ValueType::U16;
  else if constexpr (std::is_same_v<T, std::int16_t>) return ValueType::I16;
  else if constexpr (std::is_same_v<T, std::uint32_t>) return ValueType::U32;
  else if constexpr (std::is_same_v<T, std::int32_t>) return ValueType::I32;
  else if constexpr (std::is_same_v<T, float>) return ValueType::F32;
  else if constexpr (std::is_same_v<T, std::string>) return ValueType::String;
  else if constexpr (std::is_same_v<T, std::uint64_t>) return ValueType::U64;
  else if constexpr (std::is_same_v<T, std::int64_t>) return ValueType::I64;
  else if constexpr (std::is_same_v<T, double>) return ValueType::F64;
  else static_assert(sizeof(T) == 0, "not a GGUF value type");
}

template <typename T>
MetaValue MetaValue::array(std::vector<T> v) {
  return MetaValue(value_type_of<T>(), true, std::move(v));
}

template <typename T>
const std::vector<T>& MetaValue::elements(ValueType want, bool want_array, std::string_view key) const {
  if (elem_ != want || is_array_ != want_array)
    fail("key {} is {}, expected {}{}", key, type_description(), want_array ? "array of " : "", value_type_name(want));
  return std::get<std::vector<T>>(data_);
}

template <typename T>
T MetaValue::as(std::string_view key) const {
  return elements<T>(value_type_of<T>(), false, key).front();
}

template <typename T>
std::span<const T> MetaValue::as_array(std::string_view key) const {
  return elements<T>(value_type_of<T>(), true, key);
}

}  // namespace qlab::gguf
