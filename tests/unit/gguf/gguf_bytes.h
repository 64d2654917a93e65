#pragma once
// A tiny GGUF byte builder for tests: writes fields exactly as given, so a test can make any
// file, valid or not, without going through the writer under test.
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace qlab::gguf::testing {

class GgufBytes {
 public:
  template <typename T>
  GgufBytes& put(T v) {
    const std::size_t at = b_.size();
    b_.resize(at + sizeof v);
    std::memcpy(b_.data() + at, &v, sizeof v);
    return *this;
  }
  GgufBytes& str(std::string_view s) {
    put<std::uint64_t>(s.size());
    const std::size_t at = b_.size();
    b_.resize(at + s.size());
    if (!s.empty()) std::memcpy(b_.data() + at, s.data(), s.size());
    return *this;
  }
  GgufBytes& header(std::uint64_t n_tensors, std::uint64_t n_kv, std::uint32_t version = 3) {
    b_.insert(b_.end(), {std::byte{'G'}, std::byte{'G'}, std::byte{'U'}, std::byte{'F'}});
    return put<std::uint32_t>(version).put<std::uint64_t>(n_tensors).put<std::uint64_t>(n_kv);
  }
  GgufBytes& kv_u32(std::string_view key, std::uint32_t v) { return str(key).put<std::uint32_t>(4).put<std::uint32_t>(v); }
  GgufBytes& kv_str(std::string_view key, std::string_view v) { return str(key).put<std::uint32_t>(8).str(v); }
  // name, dims (ggml order), type id, offset
  GgufBytes& tensor(std::string_view name, std::vector<std::uint64_t> ne, std::uint32_t type, std::uint64_t offset) {
    str(name).put<std::uint32_t>(static_cast<std::uint32_t>(ne.size()));
    for (auto d : ne) put<std::uint64_t>(d);
    return put<std::uint32_t>(type).put<std::uint64_t>(offset);
  }
  GgufBytes& pad(std::size_t a = 32) {
    while (b_.size() % a) b_.push_back(std::byte{0});
    return *this;
  }
  GgufBytes& zeros(std::size_t n) {
    b_.resize(b_.size() + n);
    return *this;
  }
  const std::vector<std::byte>& bytes() const { return b_; }
  std::size_t size() const { return b_.size(); }

 private:
  std::vector<std::byte> b_;
};

}  // namespace qlab::gguf::testing
