#pragma once
// Helpers for the io tests: a scratch folder per test, raw file writing, and safetensors files
// assembled by hand (so a corrupt file is exactly as corrupt as the test says).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include "engine/core/error.h"

namespace qlab::io::testing {

namespace fs = std::filesystem;

class ScratchDir {
 public:
  ScratchDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string leaf = std::string("qlab-io-") + (info ? info->name() : "x") + "-" + std::to_string(::getpid());
    for (char& c : leaf)
      if (c == '/') c = '_';
    path_ = fs::temp_directory_path() / leaf;
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~ScratchDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }
  fs::path operator/(const std::string& leaf) const { return path_ / leaf; }

 private:
  fs::path path_;
};

inline void write_raw(const fs::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

inline std::string read_raw(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

inline std::string u64_le(std::uint64_t v) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[static_cast<std::size_t>(i)] = static_cast<char>((v >> (8 * i)) & 0xff);
  return s;
}

// 8-byte length + header text + data, the length taken from the header unless given.
inline std::string st_file(const std::string& header, const std::string& data, std::int64_t declared = -1) {
  return u64_le(declared >= 0 ? static_cast<std::uint64_t>(declared) : header.size()) + header + data;
}

// Runs f, expects a qlab::Error whose message is one line and contains every needle.
template <typename F>
std::string expect_error(F&& f, std::initializer_list<std::string> needles) {
  try {
    f();
  } catch (const qlab::Error& e) {
    std::string m = e.what();
    EXPECT_EQ(m.find('\n'), std::string::npos) << "message is not one line: " << m;
    for (const auto& n : needles) EXPECT_NE(m.find(n), std::string::npos) << "'" << n << "' not in: " << m;
    return m;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected qlab::Error, got another exception: " << e.what();
    return {};
  }
  ADD_FAILURE() << "expected a qlab::Error, nothing was thrown";
  return {};
}

inline fs::path source_dir() { return fs::path(QLAB_SOURCE_DIR); }

}  // namespace qlab::io::testing
