// MetaValue: names, sizes and the non-template getters.
#include "engine/gguf/gguf_value.h"

namespace qlab::gguf {

std::string_view value_type_name(ValueType t) {
  switch (t) {
    case ValueType::U8: return "uint8";
    case ValueType::I8: return "int8";
    case ValueType::U16: return "uint16";
    case ValueType::I16: return "int16";
    case ValueType::U32: return "uint32";
    case ValueType::I32: return "int32";
    case ValueType::F32: return "float32";
    case ValueType::Bool: return "bool";
    case ValueType::String: return "string";
    case ValueType::Array: return "array";
    case ValueType::U64: return "uint64";
    case ValueType::I64: return "int64";
    case ValueType::F64: return "float64";
  }
  return "unknown";
}

std::uint64_t value_type_min_bytes(ValueType t) {
  switch (t) {
    case ValueType::U8: case ValueType::I8: case ValueType::Bool: return 1;
    case ValueType::U16: case ValueType::I16: return 2;
    case ValueType::U32: case ValueType::I32: case ValueType::F32: return 4;
    case ValueType::U64: case ValueType::I64: case ValueType::F64: case ValueType::String: return 8;
    case ValueType::Array: return 12;  // element type + count
  }
  return 1;
}

std::uint64_t MetaValue::size() const {
  return std::visit([](const auto& v) { return static_cast<std::uint64_t>(v.size()); }, data_);
}

std::string MetaValue::type_description() const {
  return is_array_ ? "array of " + std::string(value_type_name(elem_)) : std::string(value_type_name(elem_));
}

bool MetaValue::as_bool(std::string_view key) const {
  return elements<std::uint8_t>(ValueType::Bool, false, key).front() != 0;
}

const std::string& MetaValue::as_string(std::string_view key) const {
  return elements<std::string>(ValueType::String, false, key).front();
}

std::span<const std::string> MetaValue::as_strings(std::string_view key) const {
  return elements<std::string>(ValueType::String, true, key);
}

std::span<const std::uint8_t> MetaValue::as_bools(std::string_view key) const {
  return elements<std::uint8_t>(ValueType::Bool, true, key);
}

MetaValue MetaValue::bool_array(const std::vector<bool>& v) {
  std::vector<std::uint8_t> b(v.begin(), v.end());
  return MetaValue(ValueType::Bool, true, std::move(b));
}

std::int64_t MetaValue::as_integer(std::string_view key) const {
  if (is_array_) fail("key {} is {}, expected an integer", key, type_description());
  switch (elem_) {
    case ValueType::U8: return std::get<std::vector<std::uint8_t>>(data_).front();
    case ValueType::I8: return std::get<std::vector<std::int8_t>>(data_).front();
    case ValueType::U16: return std::get<std::vector<std::uint16_t>>(data_).front();
    case ValueType::I16: return std::get<std::vector<std::int16_t>>(data_).front();
    case ValueType::U32: return std::get<std::vector<std::uint32_t>>(data_).front();
    case ValueType::I32: return std::get<std::vector<std::int32_t>>(data_).front();
    case ValueType::I64: return std::get<std::vector<std::int64_t>>(data_).front();
    case ValueType::U64: {
      const std::uint64_t v = std::get<std::vector<std::uint64_t>>(data_).front();
      if (v > static_cast<std::uint64_t>(INT64_MAX)) fail("key {} is {}, too large", key, v);
      return static_cast<std::int64_t>(v);
    }
    default: fail("key {} is {}, expected an integer", key, type_description());
  }
}

}  // namespace qlab::gguf
