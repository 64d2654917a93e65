#include "labs/params.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "engine/core/error.h"

namespace qlab::labs {

namespace {

bool parse_int(const std::string& s, std::int64_t& out) {
  if (s.empty()) return false;
  char* end = nullptr;
  errno = 0;
  const long long v = std::strtoll(s.c_str(), &end, 10);
  if (end != s.c_str() + s.size() || errno != 0) return false;
  out = v;
  return true;
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

}  // namespace

std::string expand_home(const std::string& path) {
  if (path.rfind("~/", 0) != 0) return path;
  const char* home = std::getenv("HOME");
  return home && *home ? std::string(home) + path.substr(1) : path;
}

std::string validate_param(const Param& p, const std::string& value) {
  switch (p.kind) {
    case ParamKind::Choice:
      if (std::find(p.choices.begin(), p.choices.end(), value) != p.choices.end()) return "";
      return fmt::format("'{}' is not one of: {}", value, join(p.choices));
    case ParamKind::Integer: {
      std::int64_t v = 0;
      if (!parse_int(value, v)) return fmt::format("'{}' is not a whole number", value);
      if (v < p.min || v > p.max) return fmt::format("{} is outside {} to {}", v, p.min, p.max);
      return "";
    }
    case ParamKind::File: {
      if (value.empty()) return "";  // the step's own text
      const std::filesystem::path f(expand_home(value));
      std::error_code ec;
      if (!std::filesystem::exists(f, ec)) return fmt::format("{}: no such file", value);
      if (!std::filesystem::is_regular_file(f, ec)) return fmt::format("{} is not a file", value);
      if (!std::ifstream(f)) return fmt::format("{} cannot be read", value);
      return "";
    }
  }
  return "unknown kind of setting";
}

ParamValues resolve_params(const std::vector<Param>& declared, const ParamValues& chosen) {
  ParamValues out;
  for (const auto& p : declared) {
    auto it = chosen.find(p.id);
    const std::string& v = it == chosen.end() ? p.default_value : it->second;
    if (std::string why = validate_param(p, v); !why.empty()) fail("setting '{}': {}", p.id, why);
    out[p.id] = p.kind == ParamKind::File ? expand_home(v) : v;
  }
  return out;
}

std::string nudge_param(const Param& p, const std::string& value, int dir) {
  if (dir == 0) return value;
  switch (p.kind) {
    case ParamKind::Choice: {
      if (p.choices.empty()) return value;
      auto it = std::find(p.choices.begin(), p.choices.end(), value);
      const auto n = static_cast<std::ptrdiff_t>(p.choices.size());
      std::ptrdiff_t i = it == p.choices.end() ? 0 : it - p.choices.begin();
      i = ((i + (dir > 0 ? 1 : -1)) % n + n) % n;
      return p.choices[static_cast<std::size_t>(i)];
    }
    case ParamKind::Integer: {
      std::int64_t v = 0;
      if (!parse_int(value, v)) v = 0;
      const std::int64_t lo = std::max<std::int64_t>(p.min, 1);
      std::int64_t next = v;
      if (dir > 0) next = v <= 0 ? lo : (v > p.max / 2 ? p.max : v * 2);
      else next = v <= lo ? (p.min <= 0 ? 0 : lo) : v / 2;
      return std::to_string(std::clamp(next, p.min, p.max));
    }
    case ParamKind::File: return value;
  }
  return value;
}

}  // namespace qlab::labs
