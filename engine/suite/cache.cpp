#include "engine/suite/cache.h"

#include <cstdlib>
#include <fstream>

#include <fmt/format.h>

#include "engine/core/atomic_file.h"
#include "engine/core/error.h"
#include "engine/suite/fingerprint.h"

namespace qlab::suite {

namespace fs = std::filesystem;
using nlohmann::json;

Cache::Cache(fs::path dir, Notice notice) : dir_(std::move(dir)), notice_(std::move(notice)) {}

fs::path Cache::default_root() {
  const char* xdg = std::getenv("XDG_CACHE_HOME");
  if (xdg && *xdg && fs::path(xdg).is_absolute()) return fs::path(xdg) / "qlab" / "suite";
  const char* home = std::getenv("HOME");
  if (!home || !*home) fail("no cache folder: neither XDG_CACHE_HOME nor HOME is set (give --cache DIR)");
  return fs::path(home) / ".cache" / "qlab" / "suite";
}

fs::path Cache::file(const std::string& variant, const std::string& measure, const json& key, const char* ext) const {
  return dir_ / fmt::format("{}.{}.{}.{}", variant, measure, hex(hash64(key.dump())), ext);
}

void Cache::move_aside(const fs::path& p, const std::string& why) {
  fs::path aside = p;
  aside += ".old";
  std::error_code ec;
  fs::rename(p, aside, ec);
  if (notice_)
    notice_(ec ? fmt::format("cache entry {} {}; it could not be moved aside ({}), so it is left and measured again",
                             p.string(), why, ec.message())
               : fmt::format("cache entry {} {}: moved aside to {} and measured again", p.string(), why,
                             aside.filename().string()));
}

std::optional<json> Cache::get(const std::string& variant, const std::string& measure, const json& key) {
  const fs::path p = file(variant, measure, key, "json");
  std::error_code ec;
  if (!fs::is_regular_file(p, ec)) return std::nullopt;
  json j;
  try {
    j = json::parse(read_file(p));
  } catch (const std::exception&) {
    move_aside(p, "does not parse (cut off?)");
    return std::nullopt;
  }
  if (!j.is_object() || !j.contains("schema") || !j["schema"].is_number_integer()) {
    move_aside(p, "is not a qlab suite cache entry");
    return std::nullopt;
  }
  if (j["schema"].get<int>() != kCacheSchema) {
    move_aside(p, fmt::format("was written by {} qlab ({}, cache schema {}; this one reads schema {})",
                              j["schema"].get<int>() < kCacheSchema ? "an older" : "a newer",
                              j.value("qlab_version", "?"), j["schema"].get<int>(), kCacheSchema));
    return std::nullopt;
  }
  if (j.value("key", json()) != key || !j.contains("result")) return std::nullopt;
  return j["result"];
}

void Cache::put(const std::string& variant, const std::string& measure, const json& key, const json& result) {
  fs::create_directories(dir_);
  const json j{{"schema", kCacheSchema}, {"qlab_version", QLAB_VERSION}, {"key", key}, {"result", result}};
  write_file_atomic(file(variant, measure, key, "json"), j.dump(1));
}

std::vector<json> Cache::partial(const std::string& variant, const std::string& measure, const json& key) {
  const fs::path p = file(variant, measure, key, "partial");
  std::vector<json> items;
  std::ifstream in(p);
  if (!in) return items;
  std::string line;
  if (!std::getline(in, line)) return items;
  try {
    const json head = json::parse(line);
    if (head.value("schema", 0) != kCacheSchema || head.value("key", json()) != key) {
      move_aside(p, "belongs to another run or qlab version");
      return {};
    }
  } catch (const std::exception&) {
    move_aside(p, "does not parse");
    return {};
  }
  bool cut = false;
  while (std::getline(in, line)) {
    try {
      items.push_back(json::parse(line));
    } catch (const std::exception&) {
      cut = true;  // the line a crash cut off: everything before it is good
      break;
    }
  }
  if (cut) {  // rewrite without it, so what is appended next is read back
    std::string text = json{{"schema", kCacheSchema}, {"key", key}}.dump() + "\n";
    for (const auto& it : items) text += it.dump() + "\n";
    write_file_atomic(p, text);
  }
  return items;
}

void Cache::append_partial(const std::string& variant, const std::string& measure, const json& key, const json& item) {
  fs::create_directories(dir_);
  const fs::path p = file(variant, measure, key, "partial");
  std::error_code ec;
  const bool fresh = !fs::exists(p, ec);
  std::ofstream out(p, std::ios::app);
  if (fresh) out << json{{"schema", kCacheSchema}, {"key", key}}.dump() << '\n';
  out << item.dump() << '\n';
  out.flush();
  if (!out) fail("cannot write {} (disk full?)", p.string());
}

void Cache::finish_partial(const std::string& variant, const std::string& measure, const json& key) {
  std::error_code ec;
  fs::remove(file(variant, measure, key, "partial"), ec);
}

}  // namespace qlab::suite
