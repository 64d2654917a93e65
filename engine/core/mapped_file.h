#pragma once
// A regular file memory-mapped read-only, that survives being truncated underneath qlab.
//
// Reading a page of a mapping past the end of its file (or one the disk cannot deliver) raises
// SIGBUS, which would kill the process (another program truncating or rewriting a model file while
// qlab reads it). Every live MappedFile is listed in a fixed table that a SIGBUS handler reads: a
// fault inside a listed mapping is answered by mapping zero pages over the rest of it (one mmap,
// async-signal-safe) and marking it damaged; the faulting read then completes, on any thread (pool
// workers and BLAS threads too), with zeros. Whoever uses the bytes checks afterwards:
// check_mapped_inputs() throws an Error naming the file, and check_cancel() (progress.h) calls it,
// so every long engine loop stops at its next cancel point. A SIGBUS outside the listed mappings
// (or one sent by kill) gets the action that was installed before, as if qlab had none.
//
// Why not sigsetjmp around each read: the reads happen deep in matrix products on pool and BLAS
// threads, and a longjmp out of them would skip destructors and leave locks held. Why not pread:
// the weights are used in place so that an 8B model costs its file size, not twice it.
#include <cstddef>
#include <filesystem>
#include <span>
#include <string>

namespace qlab {

class MappedFile {
 public:
  // Error naming the path when it cannot be opened, is not a regular file (a FIFO is refused
  // without waiting for a writer), or cannot be mapped. An empty file maps to no bytes.
  explicit MappedFile(const std::filesystem::path& path);
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile();

  std::span<const std::byte> bytes() const { return {data_, size_}; }
  const std::filesystem::path& path() const { return path_; }
  // False once a read past the file's current end was answered with zeros.
  bool intact() const;
  // Error naming the file unless intact().
  void check_intact() const;

 private:
  std::filesystem::path path_;
  const std::byte* data_ = nullptr;
  std::size_t size_ = 0;
  int slot_ = -1;  // index in the fault table; -1 when not listed (empty file, or table full)
};

// Error naming the first damaged file when any live MappedFile was read past its file's end.
void check_mapped_inputs();

}  // namespace qlab
