#pragma once
// Helpers for tests over tests/fixtures/gguf (files made by llama.cpp's own tools; see the README
// there and gen_gguf.py).
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/core/atomic_file.h"

namespace qlab::gguf::testing {

inline std::filesystem::path fixture(const std::string& name) {
  return std::filesystem::path(QLAB_SOURCE_DIR) / "tests/fixtures/gguf" / name;
}

inline nlohmann::json fixture_json(const std::string& name) { return nlohmann::json::parse(read_file(fixture(name))); }

inline std::vector<float> as_floats(std::span<const std::byte> b) {
  std::vector<float> v(b.size() / 4);
  std::memcpy(v.data(), b.data(), v.size() * 4);
  return v;
}

// FNV-1a, 64 bits: how gen_gguf.py fingerprints the tensors llama.cpp dequantized.
inline std::string fnv1a64(std::span<const std::byte> b) {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (std::byte c : b) h = (h ^ std::to_integer<std::uint64_t>(c)) * 0x100000001b3ull;
  char out[17];
  std::snprintf(out, sizeof out, "%016llx", static_cast<unsigned long long>(h));
  return out;
}

}  // namespace qlab::gguf::testing
