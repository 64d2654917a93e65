#include "labs/progress_file.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <thread>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "engine/core/atomic_file.h"
#include "engine/core/error.h"

namespace qlab::labs {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr int kSchema = 1;

// flock on a side file: the data file itself is replaced by rename, so a lock on it would be a lock
// on an inode nobody else opens any more. The lock is needed to change the file, never to read it
// (a save replaces it by rename, so a reader sees the old or the new file whole): a read-only
// folder, or a lock file left by another user (one `sudo qlab`), still lets progress be shown.
class FileLock {
 public:
  // Waits at most `timeout` for a holder to let go, then an Error saying who to look for.
  FileLock(const fs::path& data_path, std::chrono::milliseconds timeout) : path_(data_path) {
    path_ += ".lock";
    // 0644 and flock on a read-only descriptor when that is all we may open: a lock file made by
    // root does not lock its owner's learner out.
    fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0644);
    if (fd_ < 0 && errno == EACCES) fd_ = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd_ < 0) fail("{}: cannot open the lock file: {}", path_.string(), std::strerror(errno));
    const auto until = std::chrono::steady_clock::now() + timeout;
    while (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
      const int e = errno;
      if (e == EINTR) continue;
      if (e != EWOULDBLOCK || std::chrono::steady_clock::now() >= until) {
        ::close(fd_);
        if (e == EWOULDBLOCK)
          fail("{}: another qlab has held this lock for over {} s, so progress cannot be saved; close the other "
               "qlab (or, if none is running, delete this file)",
               path_.string(), std::chrono::duration_cast<std::chrono::seconds>(timeout).count());
        fail("{}: cannot take the lock: {}", path_.string(), std::strerror(e));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  ~FileLock() {
    ::flock(fd_, LOCK_UN);
    ::close(fd_);
  }
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

 private:
  fs::path path_;
  int fd_ = -1;
};

// Progress files are a few kilobytes; this bounds what a wrong path can make qlab read.
constexpr std::uint64_t kMaxProgressBytes = std::uint64_t{64} << 20;

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

namespace {

// The problem with one milestone entry ("" when it is fine).
std::string milestone_problem(const std::string& id, const json& v) {
  if (!v.is_object() || !v.contains("done") || !v["done"].is_boolean())
    return fmt::format("milestone \"{}\" has no boolean \"done\"", id);
  for (const char* k : {"when", "how"})
    if (v.contains(k) && !v[k].is_string()) return fmt::format("milestone \"{}\" \"{}\" is not a string", id, k);
  return {};
}

std::string last_problem(const json& l) {
  if (!l.is_object()) return "\"last\" is not an object";
  for (const char* k : {"lab", "step"})
    if (l.contains(k) && !l[k].is_string()) return fmt::format("\"last\".\"{}\" is not a string", k);
  return {};
}

// What can be read of a parsed file: fatal when it is not our kind of file at all (not an object,
// no integer schema); otherwise the entries that cannot be read are removed from `j` and listed.
struct Reading {
  std::string fatal;
  std::vector<std::string> dropped;
};

Reading salvage(json& j) {
  Reading r;
  if (!j.is_object()) {
    r.fatal = "the top level is not a JSON object";
    return r;
  }
  auto s = j.find("schema");
  if (s == j.end() || !s->is_number_integer()) {
    r.fatal = "no integer \"schema\" key";
    return r;
  }
  for (const char* key : {"milestones", "results", "settings"}) {
    auto it = j.find(key);
    if (it != j.end() && !it->is_object()) {
      r.dropped.push_back(fmt::format("\"{}\" is not an object", key));
      j.erase(it);
    }
  }
  if (auto m = j.find("milestones"); m != j.end())
    for (auto it = m->begin(); it != m->end();) {
      std::string why = milestone_problem(it.key(), it.value());
      if (why.empty()) {
        ++it;
      } else {
        r.dropped.push_back(std::move(why));
        it = m->erase(it);
      }
    }
  if (auto l = j.find("last"); l != j.end()) {
    if (std::string why = last_problem(*l); !why.empty()) {
      r.dropped.push_back(std::move(why));
      j.erase(l);
    }
  }
  return r;
}

// Parses the bytes of a progress file: the readable part in `j`, what was wrong in the Reading.
Reading examine(const std::string& text, json& j) {
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {  // parse_error, and out_of_range for a number like 1e400
    Reading r;
    r.fatal = fmt::format("not valid JSON ({})", e.what());
    return r;
  }
  return salvage(j);
}

// "<file>.corrupt-<time>", with a counter when that name is taken.
fs::path aside_name(const fs::path& file) {
  std::error_code ec;
  fs::path aside = file;
  aside += ".corrupt-" + stamp_for_name();
  for (int n = 1; fs::exists(fs::symlink_status(aside, ec)); ++n) {
    aside = file;
    aside += fmt::format(".corrupt-{}-{}", stamp_for_name(), n);
  }
  return aside;
}

// The file a progress path names, through symbolic links (progress.json may be a link into a
// dotfiles folder: the file is set aside there and the link stays).
fs::path through_links(const fs::path& p) {
  std::error_code ec;
  fs::path t = p;
  for (int hops = 0; hops < 40 && fs::is_symlink(t, ec); ++hops) {
    const fs::path to = fs::read_symlink(t, ec);
    if (ec) break;
    t = to.is_absolute() ? to : t.parent_path() / to;
  }
  return t;
}

}  // namespace

std::string ProgressFile::check_schema(const json& j) {
  if (!j.is_object()) return "the top level is not a JSON object";
  auto s = j.find("schema");
  if (s == j.end() || !s->is_number_integer()) return "no integer \"schema\" key";
  for (const char* key : {"milestones", "results", "settings"}) {
    auto it = j.find(key);
    if (it != j.end() && !it->is_object()) return fmt::format("\"{}\" is not an object", key);
  }
  if (auto m = j.find("milestones"); m != j.end())
    for (const auto& [id, v] : m->items())
      if (std::string why = milestone_problem(id, v); !why.empty()) return why;
  if (auto l = j.find("last"); l != j.end()) return last_problem(*l);
  return {};
}

void ProgressFile::remove_stale_temporaries() const {
  // Under the lock nobody else is mid-save, so temporaries left here belong to a killed process.
  std::error_code ec;
  const fs::path target = through_links(path_);
  const fs::path dir = target.parent_path().empty() ? fs::path(".") : target.parent_path();
  if (!fs::is_directory(dir, ec)) return;
  const std::string prefix = target.filename().string() + ".tmp-";
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.path().filename().string().rfind(prefix, 0) == 0) fs::remove(e.path(), ec);
}

json ProgressFile::read_disk(bool locked) {
  std::error_code ec;
  if (!fs::exists(path_, ec)) return fresh();  // a dangling link too: the save creates its target

  struct stat st{};
  if (::stat(path_.c_str(), &st) == 0 && S_ISREG(st.st_mode) && st.st_uid != ::geteuid() && ::geteuid() != 0) {
    if (!read_only_)
      notices_.push_back(fmt::format("{} belongs to another user (uid {}); qlab reads it but will not write it. "
                                     "Fix: chown it to yourself, or pass --progress FILE.",
                                     path_.string(), st.st_uid));
    read_only_ = true;
  }

  // A FIFO, a device or a folder is an Error here, never "corrupt": nothing is moved or replaced.
  const std::string text = read_file(path_, kMaxProgressBytes);
  json j;
  Reading r = examine(text, j);
  if (r.fatal.empty() && r.dropped.empty()) {
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

  // Setting the unreadable part aside changes the file: only under the lock, and only when it is
  // ours to change. Otherwise the readable part is shown and nothing is written.
  const std::string why = r.fatal.empty() ? fmt::format("{}", fmt::join(r.dropped, "; ")) : r.fatal;
  if (read_only_) {
    if (!r.fatal.empty()) fail("{}: cannot be read ({}) and is not ours to move aside", path_.string(), why);
    notices_.push_back(fmt::format("Part of {} could not be read ({}); the rest is shown.", path_.string(), why));
    return j;
  }
  if (!locked) {
    std::optional<FileLock> lock;
    try {
      lock.emplace(path_, lock_timeout_);
    } catch (const Error& e) {
      read_only_ = true;
      notices_.push_back(fmt::format("{} could not be read in full ({}), and it cannot be set aside now ({}); "
                                     "{}nothing will be written to it.",
                                     path_.string(), why, e.what(), r.fatal.empty() ? "the rest is shown and " : ""));
      if (!r.fatal.empty()) return fresh();
      return j;
    }
    return read_disk(true);  // again under the lock: another session may have repaired it meanwhile
  }

  const fs::path target = through_links(path_);
  const fs::path aside = aside_name(target);
  if (!r.fatal.empty()) {
    fs::rename(target, aside, ec);
    if (ec) fail("{}: cannot be read ({}) and cannot be moved aside: {}", path_.string(), why, ec.message());
    notices_.push_back(fmt::format("Your progress file could not be read ({}). It was kept as {} and a fresh "
                                   "one started.", why, aside.string()));
    return fresh();
  }
  // Keep what can be read: the original goes aside byte for byte, the file keeps the rest.
  write_file_atomic(aside, text);
  if (!j.contains("milestones")) j["milestones"] = json::object();
  if (!j.contains("results")) j["results"] = json::object();
  write_file_atomic(path_, j.dump(2) + "\n");
  notices_.push_back(fmt::format("Part of your progress file could not be read ({}); that part was left out and "
                                 "the rest kept. The original was kept as {}.",
                                 why, aside.string()));
  return j;
}

void ProgressFile::check_kind() const {
  // Before any lock file is made beside it: "--progress /dev/null" must not create /dev/null.lock.
  struct stat st{};
  if (::stat(path_.c_str(), &st) == 0 && !S_ISREG(st.st_mode))
    fail("{}: is {}, not a progress file (give a regular file)", path_.string(), file_kind_name(st.st_mode));
}

void ProgressFile::load() {
  check_kind();
  // Temporaries of killed writers are removed when the lock is free at once; a reader never waits.
  std::error_code ec;
  if (fs::exists(path_, ec)) {
    try {
      FileLock lock(path_, std::chrono::milliseconds(0));
      remove_stale_temporaries();
    } catch (const Error&) {
      // busy, or not ours to lock: the temporaries wait for the next save
    }
  }
  data_ = read_disk(false);
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
  check_kind();
  std::error_code ec;
  const fs::path folder = through_links(path_).parent_path();
  if (!folder.empty()) {
    fs::create_directories(folder, ec);
    if (ec) fail("{}: cannot create the folder: {}", folder.string(), ec.message());
  }
  FileLock lock(path_, lock_timeout_);
  remove_stale_temporaries();
  json j = read_disk(true);
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
