#include "labs/step_files.h"

#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cstdint>

#include <fmt/format.h>

#include "engine/core/atomic_file.h"
#include "engine/core/error.h"
#include "labs/progress_file.h"
#include "labs/result_json.h"

namespace qlab::labs {

using nlohmann::json;

namespace {

constexpr int kFormatVersion = 1;

// FNV-1a, 64 bits: a stable hash of the model's path (std::hash may differ between builds).
std::uint64_t fnv1a(const std::string& s) {
  std::uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

std::optional<json> read_json(const std::filesystem::path& p, std::string* why) {
  std::error_code ec;
  if (!std::filesystem::exists(p, ec)) return std::nullopt;
  try {
    json j = json::parse(read_file(p));
    if (!j.is_object() || j.value("format_version", 0) != kFormatVersion) {
      if (why) *why = fmt::format("{}: written by another version of qlab", p.string());
      return std::nullopt;
    }
    return j;
  } catch (const std::exception& e) {
    if (why) *why = fmt::format("{}: {}", p.string(), e.what());
    return std::nullopt;
  }
}

}  // namespace

std::string model_key(const ModelRef& model) {
  if (model.builtin) return "builtin";
  std::string name = model.display;
  while (!name.empty() && name.back() == '/') name.pop_back();
  if (auto slash = name.find_last_of('/'); slash != std::string::npos) name = name.substr(slash + 1);
  std::string safe;
  for (char c : name) safe += std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_' ? c : '_';
  if (safe.empty() || safe[0] == '.') safe = "model" + safe;
  std::error_code ec;
  const auto canon = std::filesystem::weakly_canonical(model.dir, ec);
  const std::string where = ec ? model.dir.string() : canon.string();
  return fmt::format("{}-{:08x}", safe.substr(0, 64), static_cast<std::uint32_t>(fnv1a(where) >> 32));
}

std::filesystem::path step_output_dir(const std::filesystem::path& root, const ModelRef& model,
                                      const std::string& step_id) {
  return root / model_key(model) / step_id;
}

void save_result(const std::filesystem::path& dir, const std::string& step_id, const StepResult& r,
                 const ModelRef& model, const std::string& when) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) fail("cannot create {}: {}", dir.string(), ec.message());
  const json j{{"format_version", kFormatVersion}, {"step", step_id}, {"model", model.display}, {"when", when},
               {"record", r.record}, {"blocks", blocks_to_json(r.blocks)}};
  write_file_atomic(dir / "result.json", j.dump(1) + "\n");
}

std::optional<SavedResult> load_result(const std::filesystem::path& dir, std::string* why) {
  auto j = read_json(dir / "result.json", why);
  if (!j) return std::nullopt;
  try {
    SavedResult s;
    s.when = result_text(*j, "when");
    s.model = result_text(*j, "model");
    s.result.outcome = Outcome::Done;
    s.result.blocks = blocks_from_json(j->at("blocks"));
    s.result.record = j->value("record", json::object());
    return s;
  } catch (const std::exception& e) {
    if (why) *why = fmt::format("{}: {}", (dir / "result.json").string(), e.what());
    return std::nullopt;
  }
}

void write_checkpoint(const std::filesystem::path& dir, const json& key, const json& state, const std::string& summary) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) fail("cannot create {}: {}", dir.string(), ec.message());
  const json j{{"format_version", kFormatVersion}, {"key", key},   {"state", state},
               {"summary", summary},               {"when", utc_now_iso()}};
  write_file_atomic(dir / "checkpoint.json", j.dump() + "\n");
}

std::optional<Checkpoint> read_checkpoint(const std::filesystem::path& dir) {
  if (dir.empty()) return std::nullopt;
  auto j = read_json(dir / "checkpoint.json", nullptr);
  if (!j || !j->contains("key") || !j->contains("state")) return std::nullopt;
  return Checkpoint{(*j)["key"], (*j)["state"], result_text(*j, "summary"), result_text(*j, "when")};
}

void remove_checkpoint(const std::filesystem::path& dir) {
  if (dir.empty()) return;
  std::error_code ec;
  std::filesystem::remove(dir / "checkpoint.json", ec);
}

StepFolder::StepFolder(const std::filesystem::path& out_dir) : dir_(out_dir) {
  if (dir_.empty()) {
    dir_ = std::filesystem::temp_directory_path() / fmt::format("qlab-step-{}-{}", ::getpid(),
                                                                std::chrono::steady_clock::now().time_since_epoch().count());
    temporary_ = true;
  }
  std::filesystem::create_directories(dir_);
}

StepFolder::~StepFolder() {
  std::error_code ec;
  if (temporary_) std::filesystem::remove_all(dir_, ec);
}

}  // namespace qlab::labs
