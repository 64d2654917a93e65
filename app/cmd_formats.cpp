// qlab formats list | encode: the number formats' properties, and single values pushed through a
// scalar format (bits and the value they decode to).
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <iostream>
#include <limits>
#include <string>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "app/cli.h"
#include "engine/core/error.h"
#include "engine/formats/block.h"
#include "engine/formats/format_lookup.h"
#include "engine/formats/scalar.h"

namespace qlab::app {
namespace {

using formats::ScalarFormat;
using formats::ScalarProperties;

// ---- formats list -------------------------------------------------------------------------------

// Bits per weight of a block format, from its storage sizes (formats::bits_per_weight) for a 16 x 4096
// tensor: rows as wide as a real layer's, so per-row parts (int-ch scales) weigh what they do in a
// model, and per-tensor scalars are already below the printed precision (NVFP4 4.50049 here, 4.50000
// at 4096 x 4096).
constexpr std::int64_t kRows = 16, kCols = 4096;

// A property that does not apply (0 in the table) prints as "-".
std::string num(double v) { return v == 0.0 ? "-" : fmt::format("{:g}", v); }

nlohmann::json scalar_json(const ScalarProperties& p) {
  return {{"name", p.name},
          {"kind", "scalar"},
          {"long_name", p.long_name},
          {"bits", p.bits},
          {"exponent_bits", p.exponent_bits},
          {"mantissa_bits", p.mantissa_bits},
          {"bias", p.bias},
          {"is_float", p.is_float},
          {"has_inf", p.has_inf},
          {"has_nan", p.has_nan},
          {"is_signed", p.is_signed},
          {"max_finite", p.max_finite},
          {"min_normal", p.min_normal},
          {"min_subnormal", p.min_subnormal},
          {"epsilon", p.epsilon},
          {"finite_count", p.finite_count}};
}

int run_list(const Args& a) {
  const auto& blocks = formats::all_block_formats();
  if (a.json()) {
    nlohmann::json out = nlohmann::json::array();
    for (ScalarFormat f : formats::all_scalar_formats()) out.push_back(scalar_json(formats::properties(f)));
    for (const auto& b : blocks)
      out.push_back({{"name", b.name},
                     {"kind", "block"},
                     {"description", b.description},
                     {"block_size", b.block_size},
                     {"element_bits", b.bits},
                     {"bits_per_weight", formats::bits_per_weight(b, kRows, kCols)}});
    print_json(out.dump(2));
    return 0;
  }
  fmt::print("scalar formats\n");
  fmt::print("{:<6} {:>4} {:>2} {:>2} {:>4} {:>12} {:>12} {:>12} {:>11} {:>10}  {}\n", "name", "bits", "E", "M",
             "bias", "max", "min normal", "min subnorm", "epsilon", "values", "description");
  for (ScalarFormat f : formats::all_scalar_formats()) {
    const ScalarProperties& p = formats::properties(f);
    const bool fl = p.is_float;
    fmt::print("{:<6} {:>4} {:>2} {:>2} {:>4} {:>12} {:>12} {:>12} {:>11} {:>10}  {}\n", p.name, p.bits,
               fl ? std::to_string(p.exponent_bits) : "-", fl ? std::to_string(p.mantissa_bits) : "-",
               fl ? std::to_string(p.bias) : "-", num(p.max_finite), num(p.min_normal), num(p.min_subnormal),
               num(p.epsilon), p.finite_count, p.long_name);
  }
  if (!blocks.empty()) {
    fmt::print("\nblock formats (bits per weight from the bytes a {}x{} tensor stores: codes, scales, zero points)\n",
               kRows, kCols);
    fmt::print("{:<18} {:>11} {:>6}  {}\n", "name", "bits/weight", "block", "description");
    for (const auto& b : blocks) {
      const std::string block = b.block_size > 0 ? std::to_string(b.block_size)
                                : b.block_size == 0 ? "row"
                                                    : "tensor";
      fmt::print("{:<18} {:>11.4g} {:>6}  {}\n", b.name, formats::bits_per_weight(b, kRows, kCols), block, b.description);
    }
  }
  return 0;
}

// ---- formats encode -----------------------------------------------------------------------------

ScalarFormat parse_format(const std::string& name) {
  try {
    return formats::scalar_format(name);
  } catch (const formats::UnknownFormat& e) {
    throw UsageError(e.what());
  }
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

// One number per line: decimal or hex float ("0x1p-9"), inf, nan; rounded once, straight to float32.
// Magnitudes beyond float32 become +-inf (or +-0 below it), as a cast from a wider type would.
float parse_number(std::string_view text, std::size_t line) {
  std::string_view s = text;
  bool neg = false;
  if (!s.empty() && (s.front() == '+' || s.front() == '-')) {
    neg = s.front() == '-';
    s.remove_prefix(1);
  }
  auto fmt_kind = std::chars_format::general;
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
    s.remove_prefix(2);
    fmt_kind = std::chars_format::hex;
  }
  float v = 0.0f;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v, fmt_kind);
  if (s.empty() || end != s.data() + s.size() || (s.front() == '+' || s.front() == '-') ||
      (ec != std::errc() && ec != std::errc::result_out_of_range))
    fail("stdin line {}: '{}' is not a number (one decimal or hex float per line, or inf / nan)", line, text);
  if (ec == std::errc::result_out_of_range) {
    // beyond float32: strtod (which reads the same syntax) says whether too large or too small
    const double d = std::strtod(std::string(text).c_str(), nullptr);
    v = std::fabs(d) >= 1.0 ? std::numeric_limits<float>::infinity() : 0.0f;
  }
  return neg ? -v : v;
}

// Shortest text that reads back as the same float32 / float64; nan and inf spelled out.
std::string show(double v, bool as_float) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  return as_float ? fmt::format("{}", static_cast<float>(v)) : fmt::format("{}", v);
}

nlohmann::json json_number(double v) {
  if (std::isfinite(v)) return v;
  return show(v, false);
}

int run_encode(const Args& a) {
  const ScalarFormat f = parse_format(a.require("format"));
  const ScalarProperties& p = formats::properties(f);
  const auto sat = a.has("no-saturate") ? formats::Saturation::NoSaturate : formats::Saturation::Saturate;
  const int hex_digits = (p.bits + 3) / 4;

  struct Row {
    float input;
    std::uint32_t code;
    float decoded;
  };
  std::vector<Row> rows;
  std::string line;
  for (std::size_t n = 1; std::getline(std::cin, line); ++n) {
    const std::string_view t = trim(line);
    if (t.empty()) continue;
    const float x = parse_number(t, n);
    const std::uint32_t code = formats::encode(f, x, sat);
    rows.push_back({x, code, formats::decode(f, code)});
  }

  auto error_of = [](const Row& r) {
    if (r.decoded == r.input) return 0.0;  // also inf == inf
    return static_cast<double>(r.decoded) - static_cast<double>(r.input);
  };
  auto bits_text = [&](std::uint32_t code) { return fmt::format("0x{:0{}X}", code, hex_digits); };

  if (a.json()) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& r : rows)
      out.push_back({{"input", json_number(r.input)},
                     {"bits", bits_text(r.code)},
                     {"code", r.code},
                     {"decoded", json_number(r.decoded)},
                     {"error", json_number(error_of(r))}});
    print_json(out.dump(2));
    return 0;
  }
  fmt::print("{} — {}, {}\n", p.name, p.long_name,
             sat == formats::Saturation::Saturate ? "saturating" : "not saturating (ml_dtypes cast)");
  fmt::print("{:>16} {:>12} {:>24} {:>14}\n", "input", "bits", "decoded", "error");
  for (const auto& r : rows)
    fmt::print("{:>16} {:>12} {:>24} {:>14}\n", show(r.input, true), bits_text(r.code), show(r.decoded, false),
               std::isnan(error_of(r)) ? std::string("nan") : fmt::format("{:.6g}", error_of(r)));
  return 0;
}

const Registrar list_reg({
    "formats list",
    "properties of every number format (scalar and block)",
    "[--json]",
    {},
    "Scalar formats: bits, exponent/mantissa bits, bias, largest finite value, smallest normal and\n"
    "subnormal, machine epsilon, and how many distinct finite values the format has. Block formats: bits\n"
    "per weight counted from the bytes of a real quantized tensor (scales and zero points included).",
    0,
    0,
    run_list,
});

const Registrar encode_reg({
    "formats encode",
    "push numbers (stdin, one per line) through a scalar format: bits and decoded value",
    "--format F [--no-saturate] < numbers.txt",
    {
        {"format", "F", "scalar format: f32 f16 bf16 e4m3 e5m2 e2m1 e8m0 ue4m3 int8 int4 nf4"},
        {"no-saturate", "", "out-of-range values become inf / NaN as in ml_dtypes, instead of +-max"},
    },
    "Rounds to nearest, ties to even. Saturating (the default, what quantizers do) clamps to the largest\n"
    "finite value first. --no-saturate matches ml_dtypes' cast: e4m3 and e8m0 give NaN past their range,\n"
    "e5m2/f16/bf16 give inf, e2m1 gives +-6. nf4 takes values already divided by the block absmax.\n"
    "Input: decimal or hex floats (0x1p-9), inf, nan; blank lines are skipped.",
    0,
    0,
    run_encode,
});

}  // namespace
}  // namespace qlab::app
