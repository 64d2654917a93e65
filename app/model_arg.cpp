#include "app/model_arg.h"

#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

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
