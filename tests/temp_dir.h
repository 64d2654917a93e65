#pragma once
// A fresh, private folder for one test under the system's temporary folder (TMPDIR is honoured, so a
// test never assumes /tmp). Empty when it cannot be made; callers assert it is not.
#include <stdlib.h>

#include <filesystem>
#include <string>
#include <string_view>

namespace qlab::testing {

inline std::filesystem::path make_temp_dir(std::string_view prefix) {
  std::string tmpl = (std::filesystem::temp_directory_path() / (std::string(prefix) + "-XXXXXX")).string();
  if (::mkdtemp(tmpl.data()) == nullptr) return {};
  return tmpl;
}

}  // namespace qlab::testing
