#include "engine/core/input_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "engine/core/error.h"

namespace qlab {

namespace fs = std::filesystem;

std::string file_kind_name(unsigned mode) {
  switch (mode & S_IFMT) {
    case S_IFREG: return "a regular file";
    case S_IFDIR: return "a folder";
    case S_IFIFO: return "a named pipe (FIFO)";
    case S_IFCHR: return "a character device";
    case S_IFBLK: return "a block device";
    case S_IFSOCK: return "a socket";
    case S_IFLNK: return "a symbolic link";
    default: return "not a regular file";
  }
}

InputFile::InputFile(const fs::path& path, std::uint64_t max_bytes) : path_(path) {
  if (path.empty()) fail("an input file name is empty");
  // O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused below); regular files
  // ignore the flag. O_NOCTTY: a terminal device given by mistake does not become ours.
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd_ < 0) {
    const int e = errno;
    if (e == ENOENT) fail("{}: no such file", path.string());
    fail("{}: cannot open: {}", path.string(), std::strerror(e));
  }
  struct stat st {};
  if (::fstat(fd_, &st) != 0) {
    const int e = errno;
    ::close(fd_);
    fail("{}: cannot stat: {}", path.string(), std::strerror(e));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd_);
    fail("{}: is {}, not a file qlab can read (give a regular file)", path.string(), file_kind_name(st.st_mode));
  }
  size_ = static_cast<std::uint64_t>(st.st_size);
  if (size_ > max_bytes) {
    ::close(fd_);
    fail("{}: is {} bytes, more than the {} this input can be", path.string(), size_, max_bytes);
  }
}

InputFile::~InputFile() {
  if (fd_ >= 0) ::close(fd_);
}

std::string InputFile::read_all() const {
  std::string out(static_cast<std::size_t>(size_), '\0');
  std::size_t got = 0;
  while (got < out.size()) {
    const ssize_t n = ::pread(fd_, out.data() + got, out.size() - got, static_cast<off_t>(got));
    if (n < 0) {
      if (errno == EINTR) continue;
      fail("{}: read failed: {}", path_.string(), std::strerror(errno));
    }
    if (n == 0) fail("{}: the file shrank from {} to {} bytes while it was read", path_.string(), size_, got);
    got += static_cast<std::size_t>(n);
  }
  return out;
}

std::string read_file(const fs::path& path, std::uint64_t max_bytes) { return InputFile(path, max_bytes).read_all(); }

}  // namespace qlab
