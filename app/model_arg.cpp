#include "app/model_arg.h"

#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>

#include <fmt/format.h>

#include "engine/core/error.h"

namespace qlab::app {

std::filesystem::path builtin_model_dir() {
  const char* env = std::getenv("QLAB_ASSETS_DIR");
  const std::filesystem::path assets = env && *env ? std::filesystem::path(env)
                                                   : std::filesystem::path(QLAB_SOURCE_DIR) / "assets";
  return assets / "builtin";
}

std::filesystem::path resolve_model_arg(const std::string& arg) {
  if (arg == "builtin") {
    const auto dir = builtin_model_dir();
    if (!std::filesystem::exists(dir / "config.json"))
      fail("the built-in model is not installed: {} has no config.json (pass an HF model folder instead)", dir.string());
    return dir;
  }
  const std::filesystem::path p(arg);
  if (!std::filesystem::exists(p)) fail("model folder {} does not exist", arg);
  if (!std::filesystem::is_directory(p)) fail("{} is not a folder: MODEL is an HF model folder or 'builtin'", arg);
  return p;
}

std::vector<std::int32_t> read_token_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) fail("cannot read token file {}", path.string());
  std::vector<std::int32_t> ids;
  std::string word;
  while (in >> word) {
    char* end = nullptr;
    errno = 0;
    const long long v = std::strtoll(word.c_str(), &end, 10);
    if (end == word.c_str() || *end != '\0' || errno != 0 || v < 0 || v > INT32_MAX)
      fail("{}: '{}' (token {}) is not a token id (non-negative integer)", path.string(), word, ids.size());
    ids.push_back(static_cast<std::int32_t>(v));
  }
  if (ids.empty()) fail("{}: no token ids", path.string());
  return ids;
}

void StderrProgress::report(double fraction, std::string_view label) {
  if (!::isatty(STDERR_FILENO)) return;
  const int width = 30, filled = static_cast<int>(fraction * width + 0.5);
  fmt::print(stderr, "\r[{}{}] {:3.0f}% {:<24}", std::string(static_cast<std::size_t>(filled), '#'),
             std::string(static_cast<std::size_t>(width - filled), ' '), fraction * 100, label);
  std::fflush(stderr);
  drawn_ = true;
}

StderrProgress::~StderrProgress() {
  if (drawn_) fmt::print(stderr, "\r{:70}\r", "");
}

}  // namespace qlab::app
