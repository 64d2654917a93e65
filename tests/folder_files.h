#pragma once
// The plain files of a folder as name -> bytes, to compare two written folders byte for byte.
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>

namespace qlab::testing {

inline std::map<std::string, std::string> folder_files(const std::filesystem::path& dir) {
  std::map<std::string, std::string> m;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    std::ifstream in(e.path(), std::ios::binary);
    m[e.path().filename().string()] = std::string(std::istreambuf_iterator<char>(in), {});
  }
  return m;
}

}  // namespace qlab::testing
