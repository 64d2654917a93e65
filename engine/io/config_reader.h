#pragma once
// Typed, bounded access to the fields of a config.json object (internal to io/): every read checks
// the type and the range and names the file and the field when either is wrong. The config readers
// (model_config.cpp, model_config_families.cpp) read every field through it, so one field is read one
// way, with one message, whichever family the file describes.
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "engine/core/error.h"
#include "engine/io/model_config.h"

namespace qlab::io::config {

using json = nlohmann::json;

// Bounds of the shape fields: far past any published model, small enough that products of a few of
// them stay inside 64 bits (the whole model is bounded again by kMaxParameters).
constexpr long long kMaxDim = 1 << 20;     // hidden / intermediate / head_dim
constexpr long long kMaxCount = 1 << 14;   // layers, heads, experts
constexpr long long kMaxVocab = 1 << 24;
constexpr long long kMaxPositions = 1LL << 32;

class Reader {
 public:
  Reader(const json& j, std::string source) : j_(j), src_(std::move(source)) {}

  bool has(const char* key) const { return j_.contains(key) && !j_[key].is_null(); }
  const std::string& source() const { return src_; }
  const json& raw() const { return j_; }

  // A whole number in [lo, hi]; `fallback` when absent or null (required: Error instead).
  long long integer(const char* key, long long lo, long long hi, std::optional<long long> fallback,
                    const char* what = nullptr) const {
    if (!has(key)) {
      if (!fallback) fail("{}: required field \"{}\" is missing{}", src_, key, what ? fmt::format(" ({})", what) : "");
      return *fallback;
    }
    return integer_value(j_[key], key, lo, hi);
  }

  long long integer_value(const json& v, const std::string& key, long long lo, long long hi) const {
    long long x = 0;
    if (v.is_number_unsigned()) {
      auto u = v.get<std::uint64_t>();
      if (u > static_cast<std::uint64_t>(std::numeric_limits<long long>::max()))
        fail("{}: \"{}\" = {} is out of range ({} to {})", src_, key, v.dump(), lo, hi);
      x = static_cast<long long>(u);
    } else if (v.is_number_integer()) {
      x = v.get<long long>();
    } else {
      fail("{}: \"{}\" must be a whole number, got {}", src_, key, v.dump().substr(0, 60));
    }
    if (x < lo || x > hi) fail("{}: \"{}\" = {} is out of range ({} to {})", src_, key, x, lo, hi);
    return x;
  }

  double number(const json& obj, const char* key, double lo, double hi, std::optional<double> fallback,
                const std::string& where) const {
    if (!obj.contains(key) || obj[key].is_null()) {
      if (!fallback) fail("{}: required field \"{}\" is missing{}", src_, key, where);
      return *fallback;
    }
    const json& v = obj[key];
    if (!v.is_number()) fail("{}: \"{}\"{} must be a number, got {}", src_, key, where, v.dump().substr(0, 60));
    double x = v.get<double>();
    if (!std::isfinite(x) || x < lo || x > hi)
      fail("{}: \"{}\"{} = {} is out of range ({} to {})", src_, key, where, x, lo, hi);
    return x;
  }

  bool boolean(const char* key, bool fallback) const {
    if (!has(key)) return fallback;
    if (!j_[key].is_boolean()) fail("{}: \"{}\" must be true or false, got {}", src_, key, j_[key].dump().substr(0, 60));
    return j_[key].get<bool>();
  }

  std::string string(const char* key, const std::string& fallback) const {
    if (!has(key)) return fallback;
    if (!j_[key].is_string()) fail("{}: \"{}\" must be a string, got {}", src_, key, j_[key].dump().substr(0, 60));
    return j_[key].get<std::string>();
  }

  // Shape fields: sizes in [1, kMaxDim], counts in [1, kMaxCount].
  int dim(const char* key, std::optional<long long> fallback = {}) const {
    return static_cast<int>(integer(key, 1, kMaxDim, fallback));
  }
  int count(const char* key, std::optional<long long> fallback = {}) const {
    return static_cast<int>(integer(key, 1, kMaxCount, fallback));
  }

 private:
  const json& j_;
  std::string src_;
};

// The families the runtime does not run, read for their shapes (model_config_families.cpp).
void read_falcon(const Reader& r, ModelConfig& c);
void read_gpt_oss(const Reader& r, ModelConfig& c);

}  // namespace qlab::io::config
