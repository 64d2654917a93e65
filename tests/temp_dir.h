#pragma once
// A fresh, private folder for one test under the system's temporary folder (TMPDIR is honoured, so a
// test never assumes /tmp). Empty when it cannot be made; callers assert it is not.
#include <stdlib.h>

#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace qlab::testing {

inline std::filesystem::path make_temp_dir(std::string_view prefix) {
  std::string tmpl = (std::filesystem::temp_directory_path() / (std::string(prefix) + "-XXXXXX")).string();
  if (::mkdtemp(tmpl.data()) == nullptr) return {};
  return tmpl;
}

// Removes `dir` (and what is in it) when the test program exits, so no run leaves folders behind.
inline void remove_at_exit(const std::filesystem::path& dir) {
  struct Made {
    std::vector<std::filesystem::path> dirs;
    ~Made() {
      std::error_code ec;
      for (const auto& d : dirs) std::filesystem::remove_all(d, ec);
    }
  };
  static Made made;
  made.dirs.push_back(dir);
}

}  // namespace qlab::testing
