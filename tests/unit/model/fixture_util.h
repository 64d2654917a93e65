#pragma once
// Shared helpers for the model and eval tests: fixture paths, token files, the error measure.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace qlab::testing {

inline std::filesystem::path fixture(const std::string& rel) {
  return std::filesystem::path(QLAB_SOURCE_DIR) / "tests" / "fixtures" / rel;
}

inline std::vector<std::int32_t> read_ids(const std::filesystem::path& p) {
  std::ifstream in(p);
  EXPECT_TRUE(in) << p;
  std::vector<std::int32_t> ids;
  long long v;
  while (in >> v) ids.push_back(static_cast<std::int32_t>(v));
  return ids;
}

inline std::vector<float> read_f32(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  EXPECT_TRUE(in) << p;
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<float> v(bytes.size() / 4);
  std::memcpy(v.data(), bytes.data(), v.size() * 4);
  return v;
}

// Relative error of a logit row: max_i |a_i - b_i| / max_i |b_i| (b is the reference row).
// Per row rather than per element, so logits near zero do not inflate it.
inline double row_rel_error(const float* a, const float* b, std::size_t n) {
  double diff = 0, scale = 0;
  for (std::size_t i = 0; i < n; ++i) {
    diff = std::max(diff, std::fabs(static_cast<double>(a[i]) - b[i]));
    scale = std::max(scale, std::fabs(static_cast<double>(b[i])));
  }
  return scale > 0 ? diff / scale : diff;
}

// The worst row_rel_error over [rows, n] matrices.
inline double max_row_rel_error(const std::vector<float>& a, const std::vector<float>& b, std::size_t n) {
  EXPECT_EQ(a.size(), b.size());
  double worst = 0;
  for (std::size_t r = 0; r * n < std::min(a.size(), b.size()); ++r)
    worst = std::max(worst, row_rel_error(a.data() + r * n, b.data() + r * n, n));
  return worst;
}

inline std::vector<std::string> model_fixtures() {
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(fixture("models")))
    if (std::filesystem::exists(e.path() / "logits.bin")) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace qlab::testing
