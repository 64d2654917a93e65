#include "engine/io/strict_json.h"

#include <set>
#include <vector>

#include "engine/core/error.h"

namespace qlab::io {

std::string printable(std::string_view name) {
  constexpr std::size_t kMax = 120;
  std::string out = "'";
  std::size_t shown = 0;
  for (char ch : name) {
    if (shown >= kMax) {
      out += "...";
      break;
    }
    auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7f) {
      out += fmt::format("\\x{:02x}", c);
    } else {
      out += ch;
    }
    ++shown;
  }
  out += "'";
  return out;
}

namespace {

// nlohmann messages start with "[json.exception.parse_error.101] "; the user needs only the rest.
std::string strip_exception_tag(const std::string& what) {
  if (!what.empty() && what[0] == '[') {
    auto close = what.find("] ");
    if (close != std::string::npos) return what.substr(close + 2);
  }
  return what;
}

}  // namespace

nlohmann::json parse_json_strict(std::string_view text, std::string_view source_name, int max_depth) {
  using json = nlohmann::json;
  // One set of keys per open object; arrays push an empty marker so depth stays in step.
  std::vector<std::set<std::string>> open;
  std::string duplicate;
  bool too_deep = false;
  json::parser_callback_t cb = [&](int depth, json::parse_event_t event, json& parsed) -> bool {
    switch (event) {
      case json::parse_event_t::object_start:
      case json::parse_event_t::array_start:
        if (depth >= max_depth) {
          too_deep = true;
          throw std::runtime_error("too deep");
        }
        open.emplace_back();
        break;
      case json::parse_event_t::object_end:
      case json::parse_event_t::array_end:
        if (!open.empty()) open.pop_back();
        break;
      case json::parse_event_t::key:
        if (!open.empty() && !open.back().insert(parsed.get<std::string>()).second) {
          duplicate = parsed.get<std::string>();
          throw std::runtime_error("duplicate");
        }
        break;
      case json::parse_event_t::value:
        break;
    }
    return true;
  };
  try {
    return json::parse(text.begin(), text.end(), cb, /*allow_exceptions=*/true, /*ignore_comments=*/false);
  } catch (const json::exception& e) {
    fail("{}: invalid JSON: {}", source_name, strip_exception_tag(e.what()));
  } catch (const std::runtime_error&) {
    if (too_deep) fail("{}: invalid JSON: nested deeper than {} levels", source_name, max_depth);
    fail("{}: invalid JSON: duplicate key {} (a file must name each key once)", source_name,
           printable(duplicate));
  }
}

std::vector<std::string> module_list(const nlohmann::json& j, const char* key, std::string_view source) {
  std::vector<std::string> out;
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return out;
  if (!it->is_array()) fail("{}: \"{}\" must be a list of module names", source, key);
  for (const auto& v : *it) {
    if (!v.is_string()) fail("{}: \"{}\" must be a list of module names", source, key);
    out.push_back(v.get<std::string>());
  }
  return out;
}

}  // namespace qlab::io
