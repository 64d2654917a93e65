// The dtype table of the safetensors format: names as headers spell them, widths in bits.
#include <array>
#include <limits>

#include "engine/core/error.h"
#include "engine/io/safetensors.h"

namespace qlab::io {

namespace {

struct DTypeRow {
  DType dtype;
  std::string_view name;
  std::size_t bits;
};

constexpr std::array<DTypeRow, 20> kDTypes = {{
    {DType::F64, "F64", 64},         {DType::F32, "F32", 32},         {DType::F16, "F16", 16},
    {DType::BF16, "BF16", 16},       {DType::I64, "I64", 64},         {DType::I32, "I32", 32},
    {DType::I16, "I16", 16},         {DType::I8, "I8", 8},            {DType::U64, "U64", 64},
    {DType::U32, "U32", 32},         {DType::U16, "U16", 16},         {DType::U8, "U8", 8},
    {DType::BOOL, "BOOL", 8},        {DType::F8_E4M3, "F8_E4M3", 8},  {DType::F8_E5M2, "F8_E5M2", 8},
    {DType::F8_E8M0, "F8_E8M0", 8},  {DType::F4, "F4", 4},            {DType::F6_E2M3, "F6_E2M3", 6},
    {DType::F6_E3M2, "F6_E3M2", 6},  {DType::C64, "C64", 64},
}};

const DTypeRow& row(DType d) {
  for (const auto& r : kDTypes)
    if (r.dtype == d) return r;
  fail("unknown safetensors dtype code {}", static_cast<int>(d));
}

}  // namespace

std::string_view dtype_name(DType d) { return row(d).name; }
std::size_t dtype_bits(DType d) { return row(d).bits; }
std::size_t dtype_size(DType d) { return row(d).bits % 8 == 0 ? row(d).bits / 8 : 0; }

std::optional<DType> dtype_from_name(std::string_view name) {
  for (const auto& r : kDTypes)
    if (r.name == name) return r.dtype;
  return std::nullopt;
}

std::uint64_t dtype_byte_length(DType d, std::span<const std::int64_t> shape, std::string_view what) {
  // Every partial product must fit a signed 64-bit count (what numel() computes), even when a
  // later zero makes the total 0: the reference implementation rejects such shapes too.
  constexpr std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max();
  constexpr auto kMaxCount = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
  std::uint64_t n = 1;
  for (std::int64_t dim : shape) {
    if (dim < 0) fail("{}: negative dimension {} in shape", what, dim);
    auto u = static_cast<std::uint64_t>(dim);
    if (u != 0 && n > kMaxCount / u) fail("{}: shape overflows 64 bits", what);
    n *= u;
  }
  const std::uint64_t bits = dtype_bits(d);
  if (n > kMax / bits) fail("{}: shape x dtype overflows 64 bits", what);
  if ((n * bits) % 8 != 0)
    fail("{}: {} elements of {} ({} bits each) do not fill whole bytes", what, n, dtype_name(d), bits);
  return n * bits / 8;
}

std::int64_t TensorRef::numel() const {
  std::int64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

}  // namespace qlab::io
