#pragma once
// A whole file mapped read-only into memory; unmapped when the object goes away. GGUF files are
// read in place: tensor bytes are spans into the mapping, nothing is copied.
#include <cstddef>
#include <filesystem>
#include <span>

namespace qlab::gguf {

class MappedFile {
 public:
  // Error naming the file if it cannot be opened, is not a regular file, or cannot be mapped.
  explicit MappedFile(const std::filesystem::path& path);
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile();

  std::span<const std::byte> bytes() const { return {data_, size_}; }

 private:
  const std::byte* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace qlab::gguf
