#pragma once
// Reading a GGUF file (version 2 or 3, little-endian), strictly, over a memory mapping.
//   GgufFile::open      map a file and validate all of it; GgufFile::parse does the same over bytes
//                       the caller keeps alive (tests, fuzzing)
//   metadata            key/value pairs in file order; find / at and typed getters (get_u32,
//                       get_string, ...) that name the file and key when a key is missing or of
//                       another type than asked (llama.cpp checks types exactly, so do these)
//   tensors             name, ggml type, shape (ggml order: shape[0] = row length), and a span of
//                       the tensor's bytes inside the mapping
// What open/parse refuse, each with one line "FILE: what is wrong": a short file; a wrong magic; a
// version other than 2 or 3 (v1, or a big-endian file, say so); counts that cannot fit in the
// bytes left; a string or array longer than the bytes left (checked before anything is allocated);
// a key that is empty, not printable ASCII or longer than 65535 bytes; a value type out of range; an
// array of arrays; a bool other than 0 or 1; duplicate keys; general.alignment not a uint32 power of
// two; a tensor name that is empty, longer than 63 bytes or repeated; n_dims outside 1..4; a
// dimension of 0 or one whose element count overflows; a type id ggml does not define; a row length
// that is not a whole number of the type's blocks; an offset not a multiple of the alignment; a
// tensor past the end of the file; tensors that overlap.
// Accepted although ggml's own reader is narrower: tensors in any order in the data section, with
// any gaps (ggml wants them in info order, each at the previous one's padded end).
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/gguf/ggml_type.h"
#include "engine/gguf/gguf_value.h"

namespace qlab::gguf {

inline constexpr std::uint32_t kDefaultAlignment = 32;  // when general.alignment is absent
inline constexpr std::size_t kMaxTensorName = 63;       // GGML_MAX_NAME (64) less the NUL
inline constexpr int kMaxDims = 4;

struct TensorInfo {
  std::string name;
  GgmlType type;
  std::vector<std::int64_t> shape;  // ggml order, n_dims entries: shape[0] = elements per row
  std::uint64_t offset = 0;         // from the start of the data section
  std::uint64_t size_bytes = 0;
  std::span<const std::byte> data;  // inside the file's bytes

  std::int64_t elements() const;
  std::int64_t row_length() const { return shape.at(0); }
  std::int64_t rows() const { return elements() / row_length(); }  // every dimension past the first
};

class GgufFile {
 public:
  static GgufFile open(const std::filesystem::path& path);
  // `label` names the bytes in errors (usually the file name).
  static GgufFile parse(std::span<const std::byte> bytes, std::string label);

  GgufFile(GgufFile&&) noexcept;
  GgufFile& operator=(GgufFile&&) noexcept;
  ~GgufFile();

  const std::string& label() const { return label_; }
  std::uint32_t version() const { return version_; }
  std::uint32_t alignment() const { return alignment_; }
  std::uint64_t data_offset() const { return data_offset_; }  // start of the data section
  std::span<const std::byte> bytes() const { return bytes_; }

  const std::vector<std::pair<std::string, MetaValue>>& metadata() const { return kv_; }
  const MetaValue* find(std::string_view key) const;  // nullptr if absent
  const MetaValue& at(std::string_view key) const;    // Error "FILE: key K is missing"
  std::uint32_t get_u32(std::string_view key) const;
  std::int32_t get_i32(std::string_view key) const;
  std::uint64_t get_u64(std::string_view key) const;
  float get_f32(std::string_view key) const;
  bool get_bool(std::string_view key) const;
  const std::string& get_string(std::string_view key) const;
  std::span<const std::string> get_strings(std::string_view key) const;
  template <typename T>
  std::span<const T> get_array(std::string_view key) const;

  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* find_tensor(std::string_view name) const;  // nullptr if absent
  const TensorInfo& tensor(std::string_view name) const;       // Error "FILE: no tensor N"

 private:
  GgufFile() = default;
  template <typename F>
  decltype(auto) typed(std::string_view key, F&& get) const;

  struct Mapping;
  std::unique_ptr<Mapping> mapping_;  // owns the bytes when opened from a path
  std::string label_;
  std::span<const std::byte> bytes_;
  std::uint32_t version_ = 0;
  std::uint32_t alignment_ = kDefaultAlignment;
  std::uint64_t data_offset_ = 0;
  std::vector<std::pair<std::string, MetaValue>> kv_;
  std::map<std::string, std::size_t, std::less<>> kv_index_;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, std::size_t, std::less<>> tensor_index_;
};

template <typename F>
decltype(auto) GgufFile::typed(std::string_view key, F&& get) const {
  const MetaValue& v = at(key);
  try {
    return get(v);
  } catch (const Error& e) {
    fail("{}: {}", label_, e.what());
  }
}

template <typename T>
std::span<const T> GgufFile::get_array(std::string_view key) const {
  return typed(key, [&](const MetaValue& v) { return v.as_array<T>(key); });
}

}  // namespace qlab::gguf
