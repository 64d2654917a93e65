// Writing a Hugging Face model folder; see checkpoint_writer.h for the layout and its guarantees.
#include "engine/io/checkpoint_writer.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "engine/core/atomic_file.h"
#include "engine/core/error.h"
#include "engine/core/progress.h"
#include "engine/io/strict_json.h"

namespace qlab::io {

namespace fs = std::filesystem;

namespace {

const char* const kIndexName = "model.safetensors.index.json";

// The greedy rule of transformers' shard_checkpoint: a new shard when this tensor would take the open
// one past the limit and the open one holds something.
bool starts_new_shard(std::uint64_t used, std::uint64_t n, std::uint64_t max_bytes, bool open_shard_empty) {
  return !open_shard_empty && used + n > max_bytes;
}

void write_all(int fd, const std::byte* p, std::size_t n, std::uint64_t offset, const fs::path& path) {
  while (n > 0) {
    const ssize_t w = ::pwrite(fd, p, n, static_cast<off_t>(offset));
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) fail("{}: write failed: {}", path.string(), w < 0 ? std::strerror(errno) : "no progress (disk full?)");
    p += w;
    n -= static_cast<std::size_t>(w);
    offset += static_cast<std::uint64_t>(w);
  }
}

void read_all(int fd, std::byte* p, std::size_t n, std::uint64_t offset, const fs::path& path) {
  while (n > 0) {
    const ssize_t r = ::pread(fd, p, n, static_cast<off_t>(offset));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) fail("{}: read failed: {}", path.string(), r < 0 ? std::strerror(errno) : "the file ended early");
    p += r;
    n -= static_cast<std::size_t>(r);
    offset += static_cast<std::uint64_t>(r);
  }
}

void fsync_folder(const fs::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;  // best effort, as for files on filesystems that refuse it
  ::fsync(fd);
  ::close(fd);
}

std::string temp_shard_name(std::size_t k) { return fmt::format("shard-{:05d}.safetensors", k + 1); }
std::string spill_name(std::size_t k) { return fmt::format("shard-{:05d}.spill", k + 1); }

// Takes the flock of a staging folder without waiting; -1 when another process holds it (or it
// cannot be opened as a folder).
int lock_folder(const fs::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return -1;
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Removes "<name>.partial-*" folders beside the output whose writer is gone (a run killed by SIGKILL
// or a power loss, which no handler sees). A folder whose lock is held belongs to a run going on now,
// in this or another PID namespace, and is left alone.
void remove_abandoned_staging(const fs::path& parent, const std::string& name) {
  const std::string prefix = name + ".partial-";
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(parent, ec)) {
    if (e.path().filename().string().rfind(prefix, 0) != 0 || e.is_symlink(ec) || !e.is_directory(ec)) continue;
    const int fd = lock_folder(e.path());
    if (fd < 0) continue;
    fs::remove_all(e.path(), ec);
    ::close(fd);
  }
}

}  // namespace

std::string shard_file_name(std::size_t index, std::size_t n) {
  return n == 1 ? std::string("model.safetensors") : fmt::format("model-{:05d}-of-{:05d}.safetensors", index + 1, n);
}

std::vector<std::vector<std::size_t>> plan_shards(const std::vector<TensorHeader>& tensors,
                                                  std::uint64_t max_shard_bytes) {
  std::vector<std::vector<std::size_t>> shards;
  std::uint64_t used = 0;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const auto& t = tensors[i];
    const std::uint64_t n = dtype_byte_length(t.dtype, t.shape, t.name);
    if (shards.empty() || starts_new_shard(used, n, max_shard_bytes, shards.back().empty())) {
      shards.emplace_back();
      used = 0;
    }
    shards.back().push_back(i);
    used += n;
  }
  return shards;
}

std::uint64_t checkpoint_shard_bytes(const std::vector<TensorHeader>& tensors, const CheckpointOptions& options) {
  std::uint64_t total = 0;
  for (const auto& shard : plan_shards(tensors, options.max_shard_bytes)) {
    std::vector<TensorHeader> h;
    for (std::size_t i : shard) h.push_back(tensors[i]);
    total += safetensors_file_size(h, options.shard_metadata);
  }
  return total;
}

CheckpointWriter::CheckpointWriter(fs::path out_dir, CheckpointOptions options)
    : out_(std::move(out_dir)), opt_(std::move(options)) {
  if (out_.empty()) fail("the output folder's name is empty");
  if (opt_.max_shard_bytes == 0) fail("{}: the largest shard must be at least one byte", out_.string());
  if (!opt_.index_metadata.is_object()) fail("{}: the index metadata must be a JSON object", out_.string());
  std::error_code ec;
  if (fs::exists(out_, ec) && !(fs::is_directory(out_, ec) && fs::is_empty(out_, ec))) {
    if (!opt_.replace_existing)
      fail("{}: already exists and is not an empty folder; choose a new folder (or --force to replace a model "
           "folder)", out_.string());
    if (!fs::is_directory(out_, ec) || !fs::is_regular_file(out_ / "config.json", ec))
      fail("{}: exists and is not a model folder (no config.json); it is not replaced even with --force",
           out_.string());
  }
  // A link (to an empty or a missing folder) is written through, as atomic_file.h does for files.
  fs::path target = out_;
  for (int hops = 0; hops < 40 && fs::is_symlink(target, ec); ++hops) {
    const fs::path to = fs::read_symlink(target, ec);
    if (ec) fail("{}: cannot read the symbolic link: {}", out_.string(), ec.message());
    target = to.is_absolute() ? to : target.parent_path() / to;
  }
  fs::path abs = fs::absolute(target).lexically_normal();
  if (abs.filename().empty()) abs = abs.parent_path();  // "out/" names the folder "out"
  const fs::path parent = abs.parent_path();
  if (!fs::is_directory(parent, ec)) fail("{}: folder {} does not exist", out_.string(), parent.string());
  parent_ = parent;
  target_ = abs;
  remove_abandoned_staging(parent, abs.filename().string());
  staging_ = parent / fmt::format("{}.partial-{}", abs.filename().string(), ::getpid());
  fs::remove_all(staging_, ec);
  if (!fs::create_directory(staging_, ec) || ec)
    fail("{}: cannot create the staging folder {}: {}", out_.string(), staging_.string(), ec.message());
  lock_fd_ = lock_folder(staging_);
  if (lock_fd_ < 0) {
    const int err = errno;
    fs::remove_all(staging_, ec);
    fail("{}: cannot lock the staging folder {}: {}", out_.string(), staging_.string(), std::strerror(err));
  }
}

CheckpointWriter::~CheckpointWriter() {
  if (done_) return;
  try {
    cancel();
  } catch (...) {
    // a destructor reports nothing; cancel() is best effort here
  }
}

void CheckpointWriter::cancel() {
  if (spill_fd_ >= 0) ::close(spill_fd_);
  spill_fd_ = -1;
  shard_.clear();
  std::error_code ec;
  if (!staging_.empty()) fs::remove_all(staging_, ec);
  if (lock_fd_ >= 0) ::close(lock_fd_);
  lock_fd_ = -1;
  done_ = true;
}

void CheckpointWriter::check_open() const {
  if (done_) fail("{}: the checkpoint is already finished or cancelled", out_.string());
}

void CheckpointWriter::add_pending(Pending p) {
  if (!tensor_names_.insert(p.header.name).second)
    fail("{}: tensor {} is given twice", out_.string(), printable(p.header.name));
  shard_bytes_ += p.bytes;
  tensor_bytes_ += p.bytes;
  shard_.push_back(std::move(p));
}

void CheckpointWriter::add(TensorHeader header, std::span<const std::byte> bytes) {
  check_open();
  try {
    const std::uint64_t n =
        dtype_byte_length(header.dtype, header.shape, fmt::format("{}: tensor {}", out_.string(), printable(header.name)));
    if (bytes.size() != n)
      fail("{}: tensor {}: {} [{}] needs {} bytes, {} given", out_.string(), printable(header.name),
           dtype_name(header.dtype), fmt::join(header.shape, ", "), n, bytes.size());
    if (tensor_names_.count(header.name)) fail("{}: tensor {} is given twice", out_.string(), printable(header.name));
    if (starts_new_shard(shard_bytes_, n, opt_.max_shard_bytes, shard_.empty())) close_shard();
    const fs::path spill = staging_ / spill_name(written_.size());
    if (spill_fd_ < 0) {
      spill_fd_ = ::open(spill.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
      if (spill_fd_ < 0) fail("{}: cannot create {}: {}", out_.string(), spill.string(), std::strerror(errno));
    }
    for (std::uint64_t off = 0; off < n; off += opt_.chunk_bytes) {
      check_cancel(opt_.stop);
      const auto m = static_cast<std::size_t>(std::min<std::uint64_t>(opt_.chunk_bytes, n - off));
      write_all(spill_fd_, bytes.data() + off, m, spill_size_ + off, spill);
    }
    Pending p{std::move(header), n, {}, spill_size_};
    spill_size_ += n;
    add_pending(std::move(p));
  } catch (...) {
    cancel();
    throw;
  }
}

void CheckpointWriter::add(TensorHeader header, TensorFill fill) {
  check_open();
  try {
    if (!fill) fail("{}: tensor {} has no bytes and no fill", out_.string(), printable(header.name));
    const std::uint64_t n =
        dtype_byte_length(header.dtype, header.shape, fmt::format("{}: tensor {}", out_.string(), printable(header.name)));
    if (tensor_names_.count(header.name)) fail("{}: tensor {} is given twice", out_.string(), printable(header.name));
    if (starts_new_shard(shard_bytes_, n, opt_.max_shard_bytes, shard_.empty())) close_shard();
    add_pending({std::move(header), n, std::move(fill), 0});
  } catch (...) {
    cancel();
    throw;
  }
}

void CheckpointWriter::close_shard() {
  const std::size_t k = written_.size();
  std::vector<TensorHeader> headers;
  Written w{temp_shard_name(k), {}};
  for (const auto& p : shard_) {
    headers.push_back(p.header);
    w.tensors.push_back(p.header.name);
  }
  const fs::path spill = staging_ / spill_name(k);
  write_safetensors_streamed(
      staging_ / w.temp_name, headers, opt_.shard_metadata,
      [&](std::size_t i, std::uint64_t off, std::span<std::byte> chunk) {
        check_cancel(opt_.stop);
        const Pending& p = shard_[i];
        if (p.fill)
          p.fill(off, chunk);
        else
          read_all(spill_fd_, chunk.data(), chunk.size(), p.spill_offset + off, spill);
      },
      opt_.chunk_bytes);
  if (spill_fd_ >= 0) {
    ::close(spill_fd_);
    spill_fd_ = -1;
    std::error_code ec;
    fs::remove(spill, ec);
  }
  written_.push_back(std::move(w));
  shard_.clear();
  shard_bytes_ = 0;
  spill_size_ = 0;
}

std::string CheckpointWriter::checked_file_name(const std::string& name) {
  const bool reserved = name == "model.safetensors" || name == kIndexName ||
                        (name.rfind("model-", 0) == 0 && name.size() > 12 &&
                         name.compare(name.size() - 12, 12, ".safetensors") == 0) ||
                        name.rfind("shard-", 0) == 0;
  if (name.empty() || name == "." || name == ".." || name.find('/') != std::string::npos ||
      name.find('\0') != std::string::npos)
    fail("{}: {} is not a plain file name", out_.string(), printable(name));
  if (reserved) fail("{}: {} is a name the checkpoint's shards and index use", out_.string(), printable(name));
  if (!file_names_.insert(name).second) fail("{}: file {} is written twice", out_.string(), printable(name));
  files_.push_back(name);
  return name;
}

void CheckpointWriter::write_file(const std::string& name, std::string_view bytes) {
  check_open();
  try {
    write_file_atomic(staging_ / checked_file_name(name), bytes);
  } catch (...) {
    cancel();
    throw;
  }
}

void CheckpointWriter::write_json(const std::string& name, const nlohmann::json& j) {
  write_file(name, j.dump(2) + "\n");
}

void CheckpointWriter::copy_file(const fs::path& from, const std::string& name) {
  check_open();
  std::string bytes;
  try {
    bytes = read_file(from);
  } catch (...) {
    cancel();
    throw;
  }
  write_file(name.empty() ? from.filename().string() : name, bytes);
}

CheckpointResult CheckpointWriter::finish() {
  check_open();
  CheckpointResult r;
  try {
    if (!shard_.empty()) close_shard();
    if (written_.empty()) fail("{}: no tensors were added; a checkpoint needs at least one", out_.string());
    const std::size_t n = written_.size();
    nlohmann::json weight_map = nlohmann::json::object();
    std::vector<std::string> shard_names;
    for (std::size_t k = 0; k < n; ++k) {
      const std::string final_name = shard_file_name(k, n);
      std::error_code ec;
      fs::rename(staging_ / written_[k].temp_name, staging_ / final_name, ec);
      if (ec) fail("{}: cannot name shard {}: {}", out_.string(), final_name, ec.message());
      for (const auto& t : written_[k].tensors) weight_map[t] = final_name;
      shard_names.push_back(final_name);
    }
    if (n > 1) {
      nlohmann::json meta = opt_.index_metadata;
      meta["total_size"] = tensor_bytes_;
      const nlohmann::json index = {{"metadata", meta}, {"weight_map", weight_map}};
      write_file_atomic(staging_ / kIndexName, index.dump(2) + "\n");
      shard_names.push_back(kIndexName);
    }
    if (opt_.verify) opt_.verify(staging_);
    std::error_code ec;
    fs::path replaced;  // the model folder --force replaces, moved aside until the new one is in place
    if (fs::exists(target_, ec) && !fs::is_empty(target_, ec) && opt_.replace_existing) {
      replaced = parent_ / fmt::format(".{}.replaced-{}", target_.filename().string(), ::getpid());
      fs::rename(target_, replaced, ec);
      if (ec) fail("{}: cannot move the old folder aside to replace it: {}", out_.string(), ec.message());
    } else if (fs::exists(target_, ec)) {
      fs::remove(target_, ec);  // the empty folder the user made
    }
    fs::rename(staging_, target_, ec);
    if (ec) {
      std::error_code back;
      if (!replaced.empty()) fs::rename(replaced, target_, back);  // the old checkpoint stays where it was
      fail("{}: cannot move the finished checkpoint into place: {}", out_.string(), ec.message());
    }
    if (!replaced.empty()) fs::remove_all(replaced, ec);
    done_ = true;
    ::close(lock_fd_);  // after the rename: the folder is no longer a staging folder
    lock_fd_ = -1;
    fsync_folder(parent_);
    for (const auto& f : files_) r.files.push_back(out_ / f);
    for (const auto& f : shard_names) r.files.push_back(out_ / f);
    for (const auto& f : r.files) r.bytes += fs::file_size(f, ec);
    r.tensor_bytes = tensor_bytes_;
    r.shards = n;
  } catch (...) {
    if (!done_) cancel();
    throw;
  }
  return r;
}

}  // namespace qlab::io
