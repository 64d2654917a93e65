#pragma once
// Helpers shared by the block-format tests: byte/float conversions, random tensors, fixture paths.
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "engine/formats/block.h"

namespace qlab::formats::blocktest {

inline std::filesystem::path blocks_fixture_dir() {
  return std::filesystem::path(QLAB_SOURCE_DIR) / "tests" / "fixtures" / "formats" / "blocks";
}

inline std::uint32_t fbits(float x) {
  std::uint32_t u;
  std::memcpy(&u, &x, 4);
  return u;
}

inline float f32_at(const std::vector<std::uint8_t>& b, std::size_t i) {
  float v;
  std::memcpy(&v, b.data() + 4 * i, 4);  // the engine and the tests run little-endian only
  return v;
}

inline BlockFormatSpec spec(const std::string& name) {
  auto s = block_format_from_name(name);
  if (!s) throw std::runtime_error("no block format " + name);
  return *s;
}

// Gaussian rows with a few large outliers, an all-zero block, negative zeros and tiny values:
// the cases where fast and reference paths could part ways.
inline std::vector<float> awkward_tensor(std::int64_t rows, std::int64_t cols, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.0f, 0.05f);
  std::vector<float> x(static_cast<std::size_t>(rows * cols));
  for (auto& v : x) v = nd(rng);
  std::uniform_int_distribution<std::size_t> pick(0, x.size() - 1);
  for (int k = 0; k < 20; ++k) x[pick(rng)] = nd(rng) * 60.0f;
  for (int k = 0; k < 20; ++k) x[pick(rng)] = -0.0f;
  for (int k = 0; k < 20; ++k) x[pick(rng)] = nd(rng) * 1e-30f;
  if (cols >= 128)
    for (int i = 0; i < 128; ++i) x[static_cast<std::size_t>(cols + i)] = 0.0f;  // row 1 starts with zeros
  return x;
}

}  // namespace qlab::formats::blocktest
