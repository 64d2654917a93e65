#pragma once
// Helpers shared by the scalar-format tests: bit casts, fixture paths and readers.
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "engine/formats/scalar.h"

namespace qlab::formats::test {

inline std::uint32_t bits_of(float x) {
  std::uint32_t u;
  std::memcpy(&u, &x, 4);
  return u;
}
inline float float_of(std::uint32_t u) {
  float x;
  std::memcpy(&x, &u, 4);
  return x;
}

inline std::filesystem::path fixture_dir() {
  return std::filesystem::path(QLAB_SOURCE_DIR) / "tests" / "fixtures" / "formats";
}

// Reads a little-endian uint32 file. A missing fixture is a failure, not a skip: the tests that
// use it would otherwise pass without checking anything.
inline std::vector<std::uint32_t> read_u32_file(const std::filesystem::path& p) {
  std::vector<std::uint32_t> out;
  std::ifstream in(p, std::ios::binary);
  if (!in) {
    ADD_FAILURE() << "fixture missing: " << p.string()
                  << " (generate it with tests/fixtures/gen_formats.py, see tests/fixtures/README.md)";
    return out;
  }
  std::vector<unsigned char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (bytes.size() % 4 != 0) {
    ADD_FAILURE() << "fixture " << p.string() << " has " << bytes.size() << " bytes, not a multiple of 4";
    return out;
  }
  out.resize(bytes.size() / 4);
  for (std::size_t i = 0; i < out.size(); ++i)
    out[i] = static_cast<std::uint32_t>(bytes[4 * i]) | static_cast<std::uint32_t>(bytes[4 * i + 1]) << 8 |
             static_cast<std::uint32_t>(bytes[4 * i + 2]) << 16 | static_cast<std::uint32_t>(bytes[4 * i + 3]) << 24;
  return out;
}

inline std::string hex(std::uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%X", v);
  return buf;
}

}  // namespace qlab::formats::test
