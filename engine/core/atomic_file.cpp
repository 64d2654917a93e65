// The output-path policy of atomic_file.h. Every system call's result is checked, and the calls go
// straight to the C library (open, write, fsync, close, rename) so the fault-injection tests can
// fail each one in turn.
#include "engine/core/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <random>
#include <streambuf>

#include "engine/core/error.h"

namespace qlab {

namespace fs = std::filesystem;

namespace {

// An ostream buffer over a file descriptor that remembers the first write error (errno).
class FdBuf final : public std::streambuf {
 public:
  explicit FdBuf(int fd) : fd_(fd), buf_(new char[kSize]) { setp(buf_.get(), buf_.get() + kSize); }
  int error() const { return err_; }

 protected:
  int_type overflow(int_type c) override {
    if (!drain()) return traits_type::eof();
    if (!traits_type::eq_int_type(c, traits_type::eof())) {
      *pptr() = traits_type::to_char_type(c);
      pbump(1);
    }
    return traits_type::not_eof(c);
  }
  int sync() override { return drain() ? 0 : -1; }
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    if (n < static_cast<std::streamsize>(kSize)) return std::streambuf::xsputn(s, n);
    if (!drain() || !write_all(s, static_cast<std::size_t>(n))) return 0;  // large blocks skip the buffer
    return n;
  }

 private:
  static constexpr std::size_t kSize = std::size_t{1} << 16;
  bool drain() {
    const auto n = static_cast<std::size_t>(pptr() - pbase());
    if (n > 0 && !write_all(pbase(), n)) return false;
    setp(buf_.get(), buf_.get() + kSize);
    return true;
  }
  bool write_all(const char* p, std::size_t n) {
    if (err_) return false;
    while (n > 0) {
      const ssize_t w = ::write(fd_, p, n);
      if (w < 0) {
        if (errno == EINTR) continue;
        err_ = errno;
        return false;
      }
      if (w == 0) {
        err_ = EIO;
        return false;
      }
      p += w;
      n -= static_cast<std::size_t>(w);
    }
    return true;
  }
  int fd_;
  int err_ = 0;
  std::unique_ptr<char[]> buf_;
};

// Runs the caller's writer on fd; Error naming `shown` when a write failed.
void write_through(int fd, const fs::path& shown, const std::function<void(std::ostream&)>& write) {
  FdBuf buf(fd);
  std::ostream out(&buf);
  write(out);
  out.flush();
  if (buf.error()) fail("{}: write failed: {}", shown.string(), std::strerror(buf.error()));
  if (!out) fail("{}: write failed", shown.string());
}

// The file a chain of symbolic links ends at (the path itself when it is not a link); it may not exist.
fs::path follow_links(const fs::path& path) {
  fs::path p = path;
  for (int hops = 0;; ++hops) {
    struct stat ls {};
    if (::lstat(p.c_str(), &ls) != 0 || !S_ISLNK(ls.st_mode)) return p;
    if (hops == 40) fail("{}: too many levels of symbolic links", path.string());
    std::error_code ec;
    const fs::path to = fs::read_symlink(p, ec);
    if (ec) fail("{}: cannot read the symbolic link {}: {}", path.string(), p.string(), ec.message());
    p = to.is_absolute() ? to : p.parent_path() / to;
  }
}

// Writes straight into a character device or a FIFO: nothing to replace, so nothing is atomic.
void stream_to(const fs::path& path, const std::function<void(std::ostream&)>& write) {
  // O_NONBLOCK: a FIFO nobody reads fails with ENXIO instead of blocking forever.
  const int fd = ::open(path.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    const int e = errno;
    if (e == ENXIO) fail("{}: is a named pipe (FIFO) that nobody reads; start its reader first", path.string());
    fail("{}: cannot open for writing: {}", path.string(), std::strerror(e));
  }
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) != 0) {
    const int e = errno;
    ::close(fd);
    fail("{}: cannot set up the write: {}", path.string(), std::strerror(e));
  }
  try {
    write_through(fd, path, write);
  } catch (...) {
    ::close(fd);
    throw;
  }
  if (::close(fd) != 0) fail("{}: close failed: {}", path.string(), std::strerror(errno));
}

// Creates a fresh temporary beside `target`: O_EXCL so an existing file (or a link planted under
// the name) is never opened, O_NOFOLLOW for the same reason.
int create_temporary(const fs::path& target, mode_t mode, fs::path& tmp) {
  std::random_device rd;
  for (int attempt = 0;; ++attempt) {
    tmp = target.parent_path() / (target.filename().string() + ".tmp-" + std::to_string(::getpid()) + "-" +
                                  std::to_string(rd() & 0xffffff));
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd >= 0 || errno != EEXIST || attempt == 16) return fd;
  }
}

// Replaces (or creates) the regular file `target` atomically. `shown` is the path the user gave;
// `old` the stat of the file being replaced (nullptr when it does not exist).
void replace_atomically(const fs::path& target, const fs::path& shown, const struct stat* old,
                        const std::function<void(std::ostream&)>& write) {
  const fs::path dir = target.parent_path().empty() ? fs::path(".") : target.parent_path();
  struct stat ds {};
  if (::stat(dir.c_str(), &ds) != 0 || !S_ISDIR(ds.st_mode))
    fail("{}: folder {} does not exist", shown.string(), dir.string());

  fs::path tmp;
  // A new file gets 0666 less the umask, as any program's; a replaced one its old bits (set below).
  int fd = create_temporary(target, old ? 0600 : 0666, tmp);
  if (fd < 0)
    fail("{}: cannot create a temporary file in {}: {}", shown.string(), dir.string(), std::strerror(errno));
  try {
    if (old) {
      // Set-user/group-id bits are not carried over to data written by qlab.
      if (::fchmod(fd, old->st_mode & 01777) != 0)
        fail("{}: cannot give the new file the old one's permissions: {}", shown.string(), std::strerror(errno));
      if (::geteuid() == 0 && (old->st_uid != 0 || old->st_gid != 0) && ::fchown(fd, old->st_uid, old->st_gid) != 0)
        fail("{}: cannot give the new file the old one's owner: {}", shown.string(), std::strerror(errno));
    }
    write_through(fd, shown, write);
    if (::fsync(fd) != 0) fail("{}: fsync failed: {}", shown.string(), std::strerror(errno));
    const int closing = fd;
    fd = -1;  // whatever close returns, the descriptor is gone
    if (::close(closing) != 0) fail("{}: close failed: {}", shown.string(), std::strerror(errno));
    if (::rename(tmp.c_str(), target.c_str()) != 0)
      fail("{}: cannot replace the file: {}", shown.string(), std::strerror(errno));
  } catch (...) {
    if (fd >= 0) ::close(fd);
    ::unlink(tmp.c_str());
    throw;
  }
  // The rename is durable only once the folder is. Filesystems that cannot sync a folder say EINVAL.
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) {
    if (errno == EACCES) return;  // a folder we may write but not read (mode -wx): it cannot be synced
    fail("{}: written, but its folder could not be opened to sync it ({}): the new file may not survive a "
         "power loss",
         shown.string(), std::strerror(errno));
  }
  const int synced = ::fsync(dfd);
  const int e = errno;
  ::close(dfd);
  if (synced != 0 && e != EINVAL && e != ENOTSUP)
    fail("{}: written, but syncing its folder failed ({}): the new file may not survive a power loss",
         shown.string(), std::strerror(e));
}

}  // namespace

void write_file_atomic(const fs::path& path, const std::function<void(std::ostream&)>& write) {
  if (path.empty()) fail("the output file name is empty");
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) {  // follows links: st describes what they point to
    if (S_ISCHR(st.st_mode) || S_ISFIFO(st.st_mode)) return stream_to(path, write);
    if (S_ISDIR(st.st_mode)) fail("{}: is a folder; give a file name", path.string());
    if (!S_ISREG(st.st_mode))
      fail("{}: is {}; qlab writes regular files, character devices and pipes only", path.string(),
           file_kind_name(st.st_mode));
    return replace_atomically(follow_links(path), path, &st, write);
  }
  const int e = errno;
  if (e != ENOENT) fail("{}: cannot write here: {}", path.string(), std::strerror(e));
  // Missing, or a link to a missing file: the file the link names is created.
  replace_atomically(follow_links(path), path, nullptr, write);
}

void write_file_atomic(const fs::path& path, std::string_view bytes) {
  write_file_atomic(path, [&](std::ostream& out) {
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  });
}

}  // namespace qlab
