// The property table of the scalar formats (what `qlab formats list` and the tutor's number-line
// chart show), CLI names, and the list of representable values.
// Numbers are the ones in the reference note's summary table; the unit tests check them against
// the codecs (max == largest decoded finite code, finite_count == number of distinct values, ...).
#include <algorithm>
#include <cmath>

#include "engine/core/error.h"
#include "engine/formats/scalar.h"

namespace qlab::formats {

namespace {

using SF = ScalarFormat;

const std::vector<ScalarProperties>& table() {
  static const std::vector<ScalarProperties> t = {
      // format, name, long name, bits, E, M, bias, float, inf, nan, signed,
      // max, min normal, min subnormal, epsilon, finite count
      {SF::F32, "f32", "FP32 (IEEE binary32)", 32, 8, 23, 127, true, true, true, true,
       3.4028234663852886e38, 0x1p-126, 0x1p-149, 0x1p-23, 4278190079ull},
      {SF::F16, "f16", "FP16 (IEEE binary16)", 16, 5, 10, 15, true, true, true, true,
       65504.0, 0x1p-14, 0x1p-24, 0x1p-10, 63487},
      {SF::BF16, "bf16", "BF16 (bfloat16: the top half of an FP32)", 16, 8, 7, 127, true, true, true, true,
       3.3895313892515355e38, 0x1p-126, 0x1p-133, 0x1p-7, 65279},
      {SF::E4M3, "e4m3", "FP8 E4M3 (fn: finite, NaN-only)", 8, 4, 3, 7, true, false, true, true,
       448.0, 0x1p-6, 0x1p-9, 0.125, 253},
      {SF::E5M2, "e5m2", "FP8 E5M2 (IEEE-style, has inf)", 8, 5, 2, 15, true, true, true, true,
       57344.0, 0x1p-14, 0x1p-16, 0.25, 247},
      {SF::E2M1, "e2m1", "FP4 E2M1 (NVFP4 / MXFP4 element)", 4, 2, 1, 1, true, false, false, true,
       6.0, 1.0, 0.5, 0.5, 15},
      {SF::E8M0, "e8m0", "E8M0 (MX block scale: a power of two)", 8, 8, 0, 127, true, false, true, false,
       0x1p127, 0x1p-127, 0x1p-127, 1.0, 255},
      {SF::UE4M3, "ue4m3", "UE4M3 (ggml NVFP4 scale: unsigned E4M3, rounds half up)", 8, 4, 3, 7, true, false,
       false, false, 448.0, 0x1p-6, 0x1p-9, 0.125, 127},
      {SF::INT8, "int8", "INT8 (two's complement)", 8, 0, 0, 0, false, false, false, true,
       127.0, 0.0, 1.0, 1.0, 256},
      {SF::INT4, "int4", "INT4 (two's complement)", 4, 0, 0, 0, false, false, false, true,
       7.0, 0.0, 1.0, 1.0, 16},
      {SF::NF4, "nf4", "NF4 (bitsandbytes NormalFloat levels, times the block absmax)", 4, 0, 0, 0, false, false,
       false, true, 1.0, 0.0, 0.07958029955625534, 0.0, 16},
  };
  return t;
}

}  // namespace

const std::vector<ScalarFormat>& all_scalar_formats() {
  static const std::vector<ScalarFormat> v = [] {
    std::vector<ScalarFormat> out;
    for (const auto& p : table()) out.push_back(p.format);
    return out;
  }();
  return v;
}

const ScalarProperties& properties(ScalarFormat f) {
  for (const auto& p : table())
    if (p.format == f) return p;
  fail("unknown scalar format id {}", static_cast<int>(f));
}

std::optional<ScalarFormat> scalar_format_from_name(std::string_view name) {
  for (const auto& p : table())
    if (p.name == name) return p.format;
  return std::nullopt;
}

std::string scalar_format_names() {
  std::string s;
  for (const auto& p : table()) {
    if (!s.empty()) s += ' ';
    s += p.name;
  }
  return s;
}

std::vector<double> representable_values(ScalarFormat f) {
  const ScalarProperties& p = properties(f);
  if (f == SF::F32) fail("representable_values: f32 has {} values, too many to list", p.finite_count);
  std::vector<double> v;
  // UE4M3 codes stop at 0x7E: bit 7 is unused and 0x7F reads as zero.
  const std::uint32_t n = f == SF::UE4M3 ? 0x7Fu : (1u << p.bits);
  v.reserve(n);
  for (std::uint32_t c = 0; c < n; ++c) {
    const float x = decode(f, c);
    if (std::isfinite(x)) v.push_back(x == 0.0f ? 0.0 : static_cast<double>(x));
  }
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
  return v;
}

}  // namespace qlab::formats
