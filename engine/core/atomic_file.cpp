#include "engine/core/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>

#include "engine/core/error.h"

namespace qlab {

namespace fs = std::filesystem;

namespace {

void fsync_path(const fs::path& p, bool directory) {
  int fd = ::open(p.c_str(), directory ? (O_RDONLY | O_DIRECTORY) : O_RDONLY);
  if (fd < 0) return;  // best effort for folders on filesystems that refuse it
  ::fsync(fd);
  ::close(fd);
}

fs::path temp_beside(const fs::path& path) {
  std::random_device rd;
  auto name = path.filename().string() + ".tmp-" + std::to_string(::getpid()) + "-" +
              std::to_string(rd() & 0xffffff);
  return path.parent_path() / name;
}

}  // namespace

void write_file_atomic(const fs::path& path, const std::function<void(std::ostream&)>& write) {
  fs::path dir = path.parent_path().empty() ? fs::path(".") : path.parent_path();
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) fail("{}: folder {} does not exist", path.string(), dir.string());
  fs::path tmp = temp_beside(path);
  try {
    {
      std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
      if (!out) fail("{}: cannot create a temporary file in {}: {}", path.string(), dir.string(),
                     std::strerror(errno));
      write(out);
      out.flush();
      if (!out) fail("{}: write failed: {}", path.string(), std::strerror(errno));
    }
    fsync_path(tmp, false);
    fs::rename(tmp, path, ec);
    if (ec) fail("{}: cannot replace the file: {}", path.string(), ec.message());
    fsync_path(dir, true);
  } catch (...) {
    fs::remove(tmp, ec);
    throw;
  }
}

void write_file_atomic(const fs::path& path, std::string_view bytes) {
  write_file_atomic(path, [&](std::ostream& out) {
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  });
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("{}: cannot open: {}", path.string(), std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) fail("{}: read failed", path.string());
  return ss.str();
}

}  // namespace qlab
