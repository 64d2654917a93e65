#include "app/model_arg.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>

#include <fmt/format.h>

#include "engine/core/atomic_file.h"
#include "engine/core/error.h"
#include "engine/core/terminal_text.h"

namespace qlab::app {

std::filesystem::path builtin_model_dir() {
  const char* env = std::getenv("QLAB_ASSETS_DIR");
  const std::filesystem::path assets = env && *env ? std::filesystem::path(env)
                                                   : std::filesystem::path(QLAB_SOURCE_DIR) / "assets";
  return assets / "builtin";
}

std::filesystem::path hf_hub_cache() {
  auto env = [](const char* name) -> std::string {
    const char* v = std::getenv(name);
    return v && *v ? std::string(v) : std::string();
  };
  if (auto v = env("HF_HUB_CACHE"); !v.empty()) return v;
  if (auto v = env("HF_HOME"); !v.empty()) return std::filesystem::path(v) / "hub";
  if (auto v = env("XDG_CACHE_HOME"); !v.empty() && v[0] == '/') return std::filesystem::path(v) / "huggingface" / "hub";
  if (auto v = env("HOME"); !v.empty()) return std::filesystem::path(v) / ".cache" / "huggingface" / "hub";
  return {};
}

bool looks_like_repo_id(const std::string& arg) {
  const auto slash = arg.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 >= arg.size()) return false;
  if (arg.find('/', slash + 1) != std::string::npos) return false;
  if (arg[0] == '.' || arg[0] == '~') return false;
  for (char c : arg)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' || c == '/' || c == '@'))
      return false;
  return true;
}

std::filesystem::path find_hf_snapshot(const std::string& repo_id, const std::filesystem::path& cache) {
  std::string id = repo_id, revision = "main";
  if (auto at = id.find('@'); at != std::string::npos) {
    revision = id.substr(at + 1);
    id = id.substr(0, at);
  }
  const std::string download = fmt::format("download it first (hf download {}), or pass the model's folder", id);
  if (cache.empty()) fail("{}: no Hugging Face cache to look in (HOME is not set); {}", repo_id, download);
  std::string folder = "models--" + id;
  for (std::size_t i = folder.find('/'); i != std::string::npos; i = folder.find('/', i)) folder.replace(i, 1, "--");
  const auto repo = cache / folder;
  std::error_code ec;
  if (!std::filesystem::is_directory(repo, ec))
    fail("{} is not in the Hugging Face cache ({} has no {}); {}", id, cache.string(), folder, download);
  // A revision is a ref (refs/<name> holds a commit hash) or a commit hash itself.
  std::string commit = revision;
  if (std::ifstream ref(repo / "refs" / revision); ref) {
    std::getline(ref, commit);
    while (!commit.empty() && std::isspace(static_cast<unsigned char>(commit.back()))) commit.pop_back();
  }
  const auto snapshot = repo / "snapshots" / commit;
  if (!commit.empty() && std::filesystem::is_directory(snapshot, ec)) {
    if (!std::filesystem::exists(snapshot / "config.json", ec))
      fail("{}: the cached snapshot {} has no config.json (a partial download?); {}", id, snapshot.string(), download);
    return snapshot;
  }
  std::vector<std::string> have;
  for (const auto& e : std::filesystem::directory_iterator(repo / "snapshots", ec)) have.push_back(e.path().filename().string());
  std::sort(have.begin(), have.end());
  std::string list;
  for (const auto& h : have) list += (list.empty() ? "" : ", ") + h;
  fail("{}: the cache ({}) has no snapshot for '{}'{}; {}", id, repo.string(), revision,
       have.empty() ? std::string(" (no snapshots at all)") : " (snapshots: " + list + "; add @<one of them>)", download);
}

std::filesystem::path resolve_model_arg(const std::string& arg) {
  if (arg == "builtin") {
    const auto dir = builtin_model_dir();
    if (!std::filesystem::exists(dir / "config.json"))
      fail("the built-in model is not installed: {} has no config.json (pass an HF model folder instead)", dir.string());
    return dir;
  }
  const std::filesystem::path p(arg);
  std::error_code ec;
  if (std::filesystem::exists(p, ec)) {
    if (!std::filesystem::is_directory(p, ec))
      fail("{} is not a folder: MODEL is an HF model folder, a Hugging Face repo id or 'builtin'", arg);
    return p;
  }
  if (looks_like_repo_id(arg)) return find_hf_snapshot(arg, hf_hub_cache());
  fail("model folder {} does not exist (MODEL is an HF model folder, a Hugging Face repo id such as "
       "meta-llama/Llama-3.1-8B, or 'builtin')", arg);
}

std::vector<std::int32_t> read_token_file(const std::filesystem::path& path) {
  // read_file refuses a FIFO, a device or a folder, and anything past 1 GiB, before reading.
  const std::string text = read_file(path);
  std::vector<std::int32_t> ids;
  const char* p = text.data();
  const char* const end = p + text.size();
  auto space = [](char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; };
  while (p < end) {
    while (p < end && space(*p)) ++p;
    if (p == end) break;
    const char* word_end = p;
    while (word_end < end && !space(*word_end)) ++word_end;
    // The whole word must be the number: "2\0garbage" is not 2. A leading '+' is allowed, as before.
    std::int32_t v = -1;
    const char* digits = p < word_end && *p == '+' && word_end - p > 1 && p[1] != '-' ? p + 1 : p;
    const auto [stop, ec] = std::from_chars(digits, word_end, v);
    if (ec != std::errc() || stop != word_end || v < 0)
      fail("{}: '{}' (token {}) is not a token id (non-negative integer)", path.string(),
           terminal_safe(std::string_view(p, static_cast<std::size_t>(std::min<std::ptrdiff_t>(word_end - p, 40)))),
           ids.size());
    ids.push_back(v);
    p = word_end;
  }
  if (ids.empty()) fail("{}: no token ids", path.string());
  return ids;
}

}  // namespace qlab::app
