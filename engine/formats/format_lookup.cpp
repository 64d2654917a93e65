#include "engine/formats/format_lookup.h"

#include <fmt/format.h>

namespace qlab::formats {

const BlockFormatSpec* find_block_format(std::string_view name) {
  std::string n(name);
  // "intB-gch" is how the group-size pattern spells the whole-row case; "intB-ch" is the name.
  if (auto p = n.find("-gch"); p != std::string::npos && n.rfind("int", 0) == 0) n.replace(p, 4, "-ch");
  for (const auto& s : all_block_formats())
    if (s.name == n) return &s;
  return nullptr;
}

std::string block_format_names() {
  std::string names;
  for (const auto& s : all_block_formats()) names += (names.empty() ? "" : " ") + s.name;
  return names;
}

const BlockFormatSpec& block_format(std::string_view name) {
  if (const BlockFormatSpec* s = find_block_format(name)) return *s;
  const std::string what = scalar_format_from_name(name)
                               ? fmt::format("'{}' is a scalar format, not a block format", name)
                               : fmt::format("unknown block format '{}'", name);
  throw UnknownFormat(fmt::format("{}; the block formats are: {} (qlab formats list describes them)", what,
                                  block_format_names()));
}

ScalarFormat scalar_format(std::string_view name) {
  if (auto f = scalar_format_from_name(name)) return *f;
  const std::string what = find_block_format(name)
                               ? fmt::format("'{}' is a block format, not a scalar format", name)
                               : fmt::format("unknown scalar format '{}'", name);
  throw UnknownFormat(fmt::format("{}; the scalar formats are: {}", what, scalar_format_names()));
}

}  // namespace qlab::formats
