#include "labs/progress_file.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <ctime>

#include <fmt/format.h>

#include "engine/core/atomic_file.h"
#include "engine/core/error.h"

namespace qlab::labs {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr int kSchema = 1;

// flock on a side file: the data file itself is replaced by rename, so a lock on it would be a lock
// on an inode nobody else opens any more.
class FileLock {
 public:
  explicit FileLock(const fs::path& data_path) {
    fs::path lock_path = data_path;
    lock_path += ".lock";
    fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd_ < 0) fail("{}: cannot open the lock file: {}", lock_path.string(), std::strerror(errno));
    while (::flock(fd_, LOCK_EX) != 0) {
      if (errno == EINTR) continue;
      int e = errno;
      ::close(fd_);
      fail("{}: cannot take the lock: {}", lock_path.string(), std::strerror(e));
    }
  }
  ~FileLock() {
    ::flock(fd_, LOCK_UN);
    ::close(fd_);
  }
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

 private:
  int fd_ = -1;
};

json fresh() {
  return json{{"schema", kSchema}, {"milestones", json::object()}, {"results", json::object()}};
}

std::string stamp_for_name() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

}  // namespace

std::string utc_now_iso() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

ProgressFile::ProgressFile(fs::path path) : path_(std::move(path)), data_(fresh()) {}

fs::path ProgressFile::default_path() {
  const char* xdg = std::getenv("XDG_DATA_HOME");
  if (xdg && xdg[0] == '/') return fs::path(xdg) / "qlab" / "progress.json";
  const char* home = std::getenv("HOME");
  if (home && home[0] == '/') return fs::path(home) / ".local" / "share" / "qlab" / "progress.json";
  fail("cannot find where to keep progress: neither XDG_DATA_HOME nor HOME is an absolute path "
       "(set one, or pass --progress FILE)");
}

std::string ProgressFile::check_schema(const json& j) {
  if (!j.is_object()) return "the top level is not a JSON object";
  auto s = j.find("schema");
  if (s == j.end() || !s->is_number_integer()) return "no integer \"schema\" key";
  for (const char* key : {"milestones", "results", "settings"}) {
    auto it = j.find(key);
    if (it != j.end() && !it->is_object()) return fmt::format("\"{}\" is not an object", key);
  }
  if (auto m = j.find("milestones"); m != j.end())
    for (const auto& [id, v] : m->items()) {
      if (!v.is_object() || !v.contains("done") || !v["done"].is_boolean())
        return fmt::format("milestone \"{}\" has no boolean \"done\"", id);
      for (const char* k : {"when", "how"})
        if (v.contains(k) && !v[k].is_string()) return fmt::format("milestone \"{}\" \"{}\" is not a string", id, k);
    }
  if (auto l = j.find("last"); l != j.end()) {
    if (!l->is_object()) return "\"last\" is not an object";
    for (const char* k : {"lab", "step"})
      if (l->contains(k) && !(*l)[k].is_string()) return fmt::format("\"last\".\"{}\" is not a string", k);
  }
  return {};
}

json ProgressFile::read_disk_locked() {
  std::error_code ec;
  // Under the lock nobody else is mid-save, so temporaries left here belong to a killed process.
  if (fs::is_directory(path_.parent_path(), ec)) {
    std::string prefix = path_.filename().string() + ".tmp-";
    for (const auto& e : fs::directory_iterator(path_.parent_path(), ec))
      if (e.path().filename().string().rfind(prefix, 0) == 0) fs::remove(e.path(), ec);
  }
  if (!fs::exists(path_, ec)) return fresh();

  struct stat st{};
  if (::stat(path_.c_str(), &st) == 0 && st.st_uid != ::geteuid() && ::geteuid() != 0) {
    if (!read_only_)
      notices_.push_back(fmt::format("{} belongs to another user (uid {}); qlab reads it but will not write it. "
                                     "Fix: chown it to yourself, or pass --progress FILE.",
                                     path_.string(), st.st_uid));
    read_only_ = true;
  }

  std::string text = read_file(path_);
  std::string why;
  json j;
  try {
    j = json::parse(text);
    why = check_schema(j);
  } catch (const json::exception& e) {  // parse_error, and out_of_range for a number like 1e400
    why = fmt::format("not valid JSON ({})", e.what());
  }
  if (why.empty()) {
    // compared without narrowing: a schema of 2^32 + 1 must not read as 1
    const json& schema = j["schema"];
    const bool newer = schema.is_number_unsigned() ? schema.get<std::uint64_t>() > kSchema
                                                   : schema.get<std::int64_t>() > kSchema;
    if (newer && !read_only_) {
      notices_.push_back(fmt::format("{} was written by a newer qlab (schema {}; this one knows {}); "
                                     "it is shown but not changed.", path_.string(), schema.dump(), kSchema));
      read_only_ = true;
    }
    if (!j.contains("milestones")) j["milestones"] = json::object();
    if (!j.contains("results")) j["results"] = json::object();
    return j;
  }
  if (read_only_) fail("{}: cannot be read ({}) and is not ours to move aside", path_.string(), why);
  fs::path aside = path_;
  aside += ".corrupt-" + stamp_for_name();
  for (int n = 1; fs::exists(aside, ec); ++n) {
    aside = path_;
    aside += fmt::format(".corrupt-{}-{}", stamp_for_name(), n);
  }
  fs::rename(path_, aside, ec);
  if (ec) fail("{}: cannot be read ({}) and cannot be moved aside: {}", path_.string(), why, ec.message());
  notices_.push_back(fmt::format("Your progress file could not be read ({}). It was kept as {} and a fresh "
                                 "one started.", why, aside.string()));
  return fresh();
}

void ProgressFile::load() {
  std::error_code ec;
  if (!fs::exists(path_, ec)) {
    data_ = fresh();
  } else {
    FileLock lock(path_);
    data_ = read_disk_locked();
  }
  for (const auto& op : ops_) apply(data_, op);
}

void ProgressFile::apply(json& j, const Op& op) const {
  switch (op.kind) {
    case Op::Milestone:
      j["milestones"][op.a] = json{{"done", op.done}, {"when", op.value.get<std::string>()}, {"how", op.b}};
      break;
    case Op::Last:
      j["last"] = json{{"lab", op.a}, {"step", op.b}};
      break;
    case Op::Result:
      j["results"][op.a] = op.value;
      break;
    case Op::Setting:
      if (!j.contains("settings") || !j["settings"].is_object()) j["settings"] = json::object();
      j["settings"][op.a] = op.value;
      break;
    case Op::Reset: {
      json keep = fresh();
      j = keep;
      break;
    }
  }
  // an older or missing schema becomes ours; a newer one stays (such a file is never written)
  const json& sc = j["schema"];
  if (!sc.is_number_integer() || (!sc.is_number_unsigned() && sc.get<std::int64_t>() < kSchema)) j["schema"] = kSchema;
  j["app_version"] = QLAB_VERSION;
}

void ProgressFile::set_milestone(const std::string& id, bool done, const std::string& how) {
  Op op{Op::Milestone, id, how, done, json(utc_now_iso())};
  apply(data_, op);
  ops_.push_back(std::move(op));
}

void ProgressFile::set_last(const std::string& lab, const std::string& step) {
  Op op{Op::Last, lab, step, false, {}};
  apply(data_, op);
  ops_.push_back(std::move(op));
}

void ProgressFile::set_result(const std::string& step_id, const json& record) {
  json r = record.is_object() ? record : json{{"value", record}};
  r["when"] = utc_now_iso();
  Op op{Op::Result, step_id, {}, false, std::move(r)};
  apply(data_, op);
  ops_.push_back(std::move(op));
}

void ProgressFile::set_setting(const std::string& key, const json& value) {
  Op op{Op::Setting, key, {}, false, value};
  apply(data_, op);
  ops_.push_back(std::move(op));
}

void ProgressFile::reset() {
  Op op{Op::Reset, {}, {}, false, {}};
  apply(data_, op);
  ops_.push_back(std::move(op));
}

void ProgressFile::save() {
  if (ops_.empty()) return;
  if (read_only_) fail("{}: not saved (the file is read-only for this qlab; see the notice)", path_.string());
  std::error_code ec;
  fs::create_directories(path_.parent_path(), ec);
  if (ec) fail("{}: cannot create the folder: {}", path_.parent_path().string(), ec.message());
  FileLock lock(path_);
  json j = read_disk_locked();
  if (read_only_) fail("{}: not saved (the file is read-only for this qlab; see the notice)", path_.string());
  for (const auto& op : ops_) apply(j, op);
  write_file_atomic(path_, j.dump(2) + "\n");
  ops_.clear();
  data_ = std::move(j);
}

std::optional<MilestoneState> ProgressFile::milestone(const std::string& id) const {
  auto m = data_.find("milestones");
  if (m == data_.end() || !m->contains(id)) return std::nullopt;
  const json& v = (*m)[id];
  MilestoneState s;
  s.done = v.value("done", false);
  s.when = v.value("when", std::string());
  s.how = v.value("how", std::string());
  return s;
}

const json* ProgressFile::result(const std::string& step_id) const {
  auto r = data_.find("results");
  if (r == data_.end()) return nullptr;
  auto it = r->find(step_id);
  return it == r->end() || !it->is_object() ? nullptr : &*it;
}

std::string result_text(const json& record, const char* key) {
  auto it = record.find(key);
  return it != record.end() && it->is_string() ? it->get<std::string>() : std::string("?");
}

std::vector<std::string> ProgressFile::take_notices() {
  std::vector<std::string> out;
  out.swap(notices_);
  return out;
}

}  // namespace qlab::labs
