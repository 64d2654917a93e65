#pragma once
// Opening the files qlab reads, so that a wrong kind of file is an Error, never a hang or a flood:
//   open_input_file   a regular file (symlinks followed), opened read-only; a FIFO, device, socket or
//                     folder is refused without blocking (the open does not wait for a FIFO writer),
//                     and so is a file larger than the caller's limit
//   read_file         the whole of such a file
// Every allocation sized from a file is bounded by what the file can justify: read_file allocates
// the file's size as fstat reports it (checked against max_bytes first) and stops there even when
// the file grows while it is read.
#include <cstdint>
#include <filesystem>
#include <string>

namespace qlab {

// What no text input of qlab comes near (the largest, a tokenizer.json, is tens of MB).
inline constexpr std::uint64_t kReadFileLimit = std::uint64_t{1} << 30;

// "a folder", "a named pipe (FIFO)", "a character device", ... for messages.
std::string file_kind_name(unsigned mode);

class InputFile {
 public:
  // Error naming the path when it is missing, unreadable, not a regular file, or over max_bytes.
  explicit InputFile(const std::filesystem::path& path, std::uint64_t max_bytes = kReadFileLimit);
  InputFile(const InputFile&) = delete;
  InputFile& operator=(const InputFile&) = delete;
  ~InputFile();

  int fd() const { return fd_; }
  std::uint64_t size() const { return size_; }  // bytes when opened
  // The first size() bytes; Error naming the file when a read fails or the file shrank.
  std::string read_all() const;

 private:
  std::filesystem::path path_;
  int fd_ = -1;
  std::uint64_t size_ = 0;
};

// Reads a whole regular file (see InputFile); Error naming the file if it cannot be read.
std::string read_file(const std::filesystem::path& path, std::uint64_t max_bytes = kReadFileLimit);

}  // namespace qlab
