// Writing a Hugging Face model folder; see checkpoint_writer.h for the layout and its guarantees.
#include "engine/io/checkpoint_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "engine/core/atomic_file.h"
#include "engine/core/error.h"
#include "engine/core/folder_lock.h"
#include "engine/core/progress.h"
#include "engine/io/strict_json.h"

namespace qlab::io {

namespace fs = std::filesystem;

namespace {

const char* const kIndexName = "model.safetensors.index.json";
const char* const kJournalName = "qlab-resume.json";  // a resumable writer's record (checkpoint_writer.h)

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

// Removes "<name>.partial-*" folders beside the output whose writer is gone (a run killed by SIGKILL
// or a power loss, which no handler sees). A folder whose lock is held belongs to a run going on now,
// in this or another PID namespace, and is left alone.
void remove_abandoned_staging(const fs::path& parent, const std::string& name) {
  const std::string prefix = name + ".partial-";
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(parent, ec)) {
    if (e.path().filename().string().rfind(prefix, 0) != 0 || e.is_symlink(ec) || !e.is_directory(ec)) continue;
    const int fd = try_lock_folder(e.path());
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

void CheckpointWriter::check_out_dir(const fs::path& out, bool replace_existing) {
  std::error_code ec;
  if (fs::exists(out, ec) && !(fs::is_directory(out, ec) && fs::is_empty(out, ec))) {
    if (!replace_existing)
      fail("{}: already exists and is not an empty folder; choose a new folder (or --force to replace a model "
           "folder)", out.string());
    if (!fs::is_directory(out, ec) || !fs::is_regular_file(out / "config.json", ec))
      fail("{}: exists and is not a model folder (no config.json); it is not replaced even with --force",
           out.string());
  }
}

CheckpointWriter::CheckpointWriter(fs::path out_dir, CheckpointOptions options)
    : out_(std::move(out_dir)), opt_(std::move(options)) {
  if (out_.empty()) fail("the output folder's name is empty");
  if (opt_.max_shard_bytes == 0) fail("{}: the largest shard must be at least one byte", out_.string());
  if (!opt_.index_metadata.is_object()) fail("{}: the index metadata must be a JSON object", out_.string());
  std::error_code ec;
  check_out_dir(out_, opt_.replace_existing);
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
  if (opt_.resume_key.is_null())
    remove_abandoned_staging(parent, abs.filename().string());
  else
    adopt_or_refuse_interrupted(abs.filename().string());
  if (!staging_.empty()) return;  // an interrupted run's folder, adopted
  staging_ = parent / fmt::format("{}.partial-{}", abs.filename().string(), ::getpid());
  fs::remove_all(staging_, ec);
  if (!fs::create_directory(staging_, ec) || ec)
    fail("{}: cannot create the staging folder {}: {}", out_.string(), staging_.string(), ec.message());
  lock_fd_ = try_lock_folder(staging_);
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
    if (skip_resumed(header)) return;
    const std::uint64_t n =
        dtype_byte_length(header.dtype, header.shape, fmt::format("{}: tensor {}", out_.string(), printable(header.name)));
    if (bytes.size() != n)
      fail("{}: tensor {}: {} [{}] needs {} bytes, {} given", out_.string(), printable(header.name),
           dtype_name(header.dtype), fmt::join(header.shape, ", "), n, bytes.size());
    if (tensor_names_.count(header.name)) fail("{}: tensor {} is given twice", out_.string(), printable(header.name));
    if (starts_new_shard(shard_bytes_, n, opt_.max_shard_bytes, shard_.empty())) close_shard(true);
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
    abandon();
    throw;
  }
}

void CheckpointWriter::add(TensorHeader header, TensorFill fill) {
  check_open();
  try {
    if (!fill) fail("{}: tensor {} has no bytes and no fill", out_.string(), printable(header.name));
    if (skip_resumed(header)) return;
    const std::uint64_t n =
        dtype_byte_length(header.dtype, header.shape, fmt::format("{}: tensor {}", out_.string(), printable(header.name)));
    if (tensor_names_.count(header.name)) fail("{}: tensor {} is given twice", out_.string(), printable(header.name));
    if (starts_new_shard(shard_bytes_, n, opt_.max_shard_bytes, shard_.empty())) close_shard(true);
    add_pending({std::move(header), n, std::move(fill), 0});
  } catch (...) {
    abandon();
    throw;
  }
}

void CheckpointWriter::close_shard(bool record) {
  const std::size_t k = written_.size();
  Written w{temp_shard_name(k), {}};
  for (const auto& p : shard_) w.tensors.push_back(p.header);
  const fs::path spill = staging_ / spill_name(k);
  write_safetensors_streamed(
      staging_ / w.temp_name, w.tensors, opt_.shard_metadata,
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
  if (record && !opt_.resume_key.is_null()) write_journal();
}

std::string CheckpointWriter::checked_file_name(const std::string& name) {
  const bool reserved = name == "model.safetensors" || name == kIndexName ||
                        (name.rfind("model-", 0) == 0 && name.size() > 12 &&
                         name.compare(name.size() - 12, 12, ".safetensors") == 0) ||
                        name.rfind("shard-", 0) == 0 || name == kJournalName;
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
    abandon();
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
    abandon();
    throw;
  }
  write_file(name.empty() ? from.filename().string() : name, bytes);
}

CheckpointResult CheckpointWriter::finish() {
  check_open();
  CheckpointResult r;
  bool named = false;  // once the shards have their final names, the journal no longer describes the folder
  try {
    if (!shard_.empty()) close_shard(false);
    if (written_.empty()) fail("{}: no tensors were added; a checkpoint needs at least one", out_.string());
    const std::size_t n = written_.size();
    named = true;
    std::error_code jec;
    fs::remove(staging_ / kJournalName, jec);
    nlohmann::json weight_map = nlohmann::json::object();
    std::vector<std::string> shard_names;
    for (std::size_t k = 0; k < n; ++k) {
      const std::string final_name = shard_file_name(k, n);
      std::error_code ec;
      fs::rename(staging_ / written_[k].temp_name, staging_ / final_name, ec);
      if (ec) fail("{}: cannot name shard {}: {}", out_.string(), final_name, ec.message());
      for (const auto& t : written_[k].tensors) weight_map[t.name] = final_name;
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
    if (!done_) {
      if (named)
        cancel();
      else
        abandon();
    }
    throw;
  }
  return r;
}

// ---- resuming (checkpoint_writer.h) -----------------------------------------------------------------

// The first setting in which two resume keys differ ("method: nvfp4 then, fp8 now"), for the refusal.
std::string resume_key_difference(const nlohmann::json& then, const nlohmann::json& now) {
  if (then.is_object() && now.is_object()) {
    for (const auto& [k, v] : now.items())
      if (!then.contains(k) || then.at(k) != v)
        return fmt::format("{}: {} then, {} now", k, then.contains(k) ? then.at(k).dump() : "unset", v.dump());
    for (const auto& [k, v] : then.items())
      if (!now.contains(k)) return fmt::format("{}: {} then, unset now", k, v.dump());
  }
  return fmt::format("{} then, {} now", then.dump(), now.dump());
}

void CheckpointWriter::abandon() {
  try {
    throw;
  } catch (const Cancelled&) {
    suspend();
    return;
  } catch (...) {
  }
  cancel();
}

std::size_t CheckpointWriter::suspend() {
  if (done_) return suspended_ ? written_.size() : 0;
  std::error_code ec;
  if (opt_.resume_key.is_null() || written_.empty() || !fs::is_regular_file(staging_ / kJournalName, ec)) {
    cancel();
    return 0;
  }
  if (spill_fd_ >= 0) ::close(spill_fd_);
  spill_fd_ = -1;
  shard_.clear();
  // Only what the journal records stays: the open shard (a spill file, a shard cut short) goes.
  std::set<std::string> keep = {kJournalName};
  for (const auto& w : written_) keep.insert(w.temp_name);
  for (const auto& e : fs::directory_iterator(staging_, ec))
    if (!keep.count(e.path().filename().string())) fs::remove_all(e.path(), ec);
  fsync_folder(staging_);
  if (lock_fd_ >= 0) ::close(lock_fd_);
  lock_fd_ = -1;
  done_ = suspended_ = true;
  return written_.size();
}

bool CheckpointWriter::skip_resumed(const TensorHeader& header) {
  const auto it = resumed_.find(header.name);
  if (it == resumed_.end()) return false;
  if (it->second.dtype != header.dtype || it->second.shape != header.shape)
    fail("{}: tensor {} is {} [{}] in the interrupted run's shard and {} [{}] now; --force discards the "
         "interrupted run", staging_.string(), printable(header.name), dtype_name(it->second.dtype),
         fmt::join(it->second.shape, ", "), dtype_name(header.dtype), fmt::join(header.shape, ", "));
  return true;
}

void CheckpointWriter::write_journal() {
  nlohmann::json shards = nlohmann::json::array();
  for (const Written& w : written_) {
    nlohmann::json tensors = nlohmann::json::array();
    for (const auto& h : w.tensors)
      tensors.push_back({{"name", h.name}, {"dtype", std::string(dtype_name(h.dtype))}, {"shape", h.shape}});
    shards.push_back(
        {{"file", w.temp_name}, {"bytes", fs::file_size(staging_ / w.temp_name)}, {"tensors", std::move(tensors)}});
  }
  const nlohmann::json j = {{"qlab_resume", 1},
                            {"key", opt_.resume_key},
                            {"shards", std::move(shards)},
                            {"extra", opt_.journal_extra ? opt_.journal_extra() : nlohmann::json()}};
  write_file_atomic(staging_ / kJournalName, j.dump(1) + "\n");
}

void CheckpointWriter::adopt_or_refuse_interrupted(const std::string& name) {
  const std::string prefix = name + ".partial-";
  std::error_code ec;
  std::vector<fs::path> folders;
  for (const auto& e : fs::directory_iterator(parent_, ec))
    if (e.path().filename().string().rfind(prefix, 0) == 0 && !e.is_symlink(ec) && e.is_directory(ec))
      folders.push_back(e.path());
  std::sort(folders.begin(), folders.end());
  for (const fs::path& dir : folders) {
    const int fd = try_lock_folder(dir);
    if (fd < 0) continue;  // a run going on now
    const fs::path jp = dir / kJournalName;
    if (!staging_.empty() || !fs::is_regular_file(jp, ec) || (!opt_.resume && opt_.replace_existing)) {
      fs::remove_all(dir, ec);  // nothing to resume in it (or discarded by --force)
      ::close(fd);
      continue;
    }
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(read_file(jp));
    } catch (const std::exception& e) {
      ::close(fd);
      fail("{}: the interrupted run's journal cannot be read ({}); --force discards that run", jp.string(), e.what());
    }
    const std::size_t shards = j.contains("shards") && j["shards"].is_array() ? j["shards"].size() : 0;
    if (!opt_.resume) {
      ::close(fd);
      fail("{}: holds an interrupted run of {} ({} complete shard{}); --resume continues it, --force discards it",
           dir.string(), out_.string(), shards, shards == 1 ? "" : "s");
    }
    if ((!j.contains("key") || j["key"] != opt_.resume_key) && opt_.discard_other) {
      fs::remove_all(dir, ec);
      ::close(fd);
      continue;
    }
    if (!j.contains("key") || j["key"] != opt_.resume_key) {
      ::close(fd);
      fail("{}: the interrupted run had other settings ({}); resume it with its own, or discard it with --force "
           "and no --resume", dir.string(), resume_key_difference(j.value("key", nlohmann::json()), opt_.resume_key));
    }
    try {
      adopt(dir, fd, j);
    } catch (...) {
      ::close(fd);
      lock_fd_ = -1;
      staging_.clear();
      throw;
    }
  }
}

void CheckpointWriter::adopt(const fs::path& dir, int lock_fd, const nlohmann::json& j) {
  const auto broken = [&](const std::string& why) {
    fail("{}: the interrupted run's journal {}; --force discards that run", (dir / kJournalName).string(), why);
  };
  std::error_code ec;
  std::set<std::string> keep = {kJournalName};
  try {
    const auto& shards = j.at("shards");
    for (std::size_t k = 0; k < shards.size(); ++k) {
      const auto& s = shards[k];
      const std::string file = s.at("file").get<std::string>();
      if (file != temp_shard_name(k)) broken(fmt::format("names shard {} '{}'", k + 1, printable(file)));
      const std::uint64_t bytes = s.at("bytes").get<std::uint64_t>();
      const std::uintmax_t size = fs::file_size(dir / file, ec);
      if (ec || size != bytes)
        broken(fmt::format("records {} as {} bytes; it is {}", file, bytes,
                           ec ? "missing" : fmt::format("{} bytes", size)));
      Written w{file, {}};
      for (const auto& t : s.at("tensors")) {
        TensorHeader h;
        h.name = t.at("name").get<std::string>();
        const auto d = dtype_from_name(t.at("dtype").get<std::string>());
        if (!d) broken(fmt::format("gives tensor {} an unknown dtype", printable(h.name)));
        h.dtype = *d;
        h.shape = t.at("shape").get<std::vector<std::int64_t>>();
        const std::uint64_t n = dtype_byte_length(h.dtype, h.shape, fmt::format("{}: tensor {}", dir.string(),
                                                                                 printable(h.name)));
        if (!tensor_names_.insert(h.name).second) broken(fmt::format("records tensor {} twice", printable(h.name)));
        tensor_bytes_ += n;
        resumed_[h.name] = h;
        w.tensors.push_back(std::move(h));
      }
      keep.insert(file);
      written_.push_back(std::move(w));
    }
    resumed_extra_ = j.value("extra", nlohmann::json());
  } catch (const nlohmann::json::exception& e) {
    broken(fmt::format("is not as qlab writes it ({})", e.what()));
  }
  resumed_shards_ = written_.size();
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (!keep.count(e.path().filename().string())) fs::remove_all(e.path(), ec);
  staging_ = dir;
  lock_fd_ = lock_fd;
}

}  // namespace qlab::io
