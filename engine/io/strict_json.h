#pragma once
// JSON as the model files need it read: strict about what nlohmann::json forgives.
//   parse_json_strict   parse, rejecting duplicate keys at any depth (nlohmann keeps the last one
//                       silently; a file whose two readers disagree is a file to refuse) and
//                       nesting deeper than max_depth; Error "SOURCE: ..." on one line
//   printable           a name taken from a file, made safe for a one-line message
//   module_list         an optional list of module names under `key` (null or absent: empty), Error
//                       "SOURCE: ..." for anything that is not a list of strings
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace qlab::io {

nlohmann::json parse_json_strict(std::string_view text, std::string_view source_name, int max_depth = 64);

// Control characters escaped, long names cut with "...", wrapped in single quotes.
std::string printable(std::string_view name);

std::vector<std::string> module_list(const nlohmann::json& j, const char* key, std::string_view source);

}  // namespace qlab::io
