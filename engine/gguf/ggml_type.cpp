// The ggml type table. Block sizes and bytes per block are ggml's (ggml-common.h block structs);
// the ones qlab converts are checked against its own block structs in blocks.h.
#include "engine/gguf/ggml_type.h"

#include <algorithm>
#include <array>

#include "engine/core/error.h"
#include "engine/gguf/blocks.h"

namespace qlab::gguf {

namespace {

using T = GgmlType;

// name, block size, bytes per block, quantized, converted by qlab
constexpr std::array kTypes = {
    GgmlTypeTraits{T::F32, "f32", 1, 4, false, true},
    GgmlTypeTraits{T::F16, "f16", 1, 2, false, true},
    GgmlTypeTraits{T::Q4_0, "q4_0", kQK4_0, sizeof(BlockQ4_0), true, true},
    GgmlTypeTraits{T::Q4_1, "q4_1", kQK4_1, sizeof(BlockQ4_1), true, true},
    GgmlTypeTraits{T::Q5_0, "q5_0", kQK5_0, sizeof(BlockQ5_0), true, true},
    GgmlTypeTraits{T::Q5_1, "q5_1", kQK5_1, sizeof(BlockQ5_1), true, true},
    GgmlTypeTraits{T::Q8_0, "q8_0", kQK8_0, sizeof(BlockQ8_0), true, true},
    GgmlTypeTraits{T::Q8_1, "q8_1", 32, 36, true, false},
    GgmlTypeTraits{T::Q2_K, "q2_K", kQK_K, sizeof(BlockQ2_K), true, true},
    GgmlTypeTraits{T::Q3_K, "q3_K", kQK_K, sizeof(BlockQ3_K), true, true},
    GgmlTypeTraits{T::Q4_K, "q4_K", kQK_K, sizeof(BlockQ4_K), true, true},
    GgmlTypeTraits{T::Q5_K, "q5_K", kQK_K, sizeof(BlockQ5_K), true, true},
    GgmlTypeTraits{T::Q6_K, "q6_K", kQK_K, sizeof(BlockQ6_K), true, true},
    GgmlTypeTraits{T::Q8_K, "q8_K", 256, 292, true, false},
    GgmlTypeTraits{T::IQ2_XXS, "iq2_xxs", 256, 66, true, false},
    GgmlTypeTraits{T::IQ2_XS, "iq2_xs", 256, 74, true, false},
    GgmlTypeTraits{T::IQ3_XXS, "iq3_xxs", 256, 98, true, false},
    GgmlTypeTraits{T::IQ1_S, "iq1_s", 256, 50, true, false},
    GgmlTypeTraits{T::IQ4_NL, "iq4_nl", 32, 18, true, false},
    GgmlTypeTraits{T::IQ3_S, "iq3_s", 256, 110, true, false},
    GgmlTypeTraits{T::IQ2_S, "iq2_s", 256, 82, true, false},
    GgmlTypeTraits{T::IQ4_XS, "iq4_xs", 256, 136, true, false},
    GgmlTypeTraits{T::I8, "i8", 1, 1, false, false},
    GgmlTypeTraits{T::I16, "i16", 1, 2, false, false},
    GgmlTypeTraits{T::I32, "i32", 1, 4, false, false},
    GgmlTypeTraits{T::I64, "i64", 1, 8, false, false},
    GgmlTypeTraits{T::F64, "f64", 1, 8, false, false},
    GgmlTypeTraits{T::IQ1_M, "iq1_m", 256, 56, true, false},
    GgmlTypeTraits{T::BF16, "bf16", 1, 2, false, true},
    GgmlTypeTraits{T::TQ1_0, "tq1_0", 256, 54, true, false},
    GgmlTypeTraits{T::TQ2_0, "tq2_0", 256, 66, true, false},
    GgmlTypeTraits{T::MXFP4, "mxfp4", kQK_MXFP4, sizeof(BlockMXFP4), true, true},
    GgmlTypeTraits{T::NVFP4, "nvfp4", 64, 36, true, false},
    GgmlTypeTraits{T::Q1_0, "q1_0", 128, 18, true, false},
    GgmlTypeTraits{T::Q2_0, "q2_0", 64, 18, true, false},
};

constexpr bool ids_ascending() {
  for (std::size_t i = 1; i < kTypes.size(); ++i)
    if (static_cast<std::uint32_t>(kTypes[i - 1].type) >= static_cast<std::uint32_t>(kTypes[i].type)) return false;
  return true;
}
static_assert(ids_ascending(), "type table must be sorted by id");

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

}  // namespace

std::span<const GgmlTypeTraits> all_types() { return kTypes; }

const GgmlTypeTraits* find_type(std::uint32_t id) {
  auto it = std::lower_bound(kTypes.begin(), kTypes.end(), id, [](const GgmlTypeTraits& t, std::uint32_t v) {
    return static_cast<std::uint32_t>(t.type) < v;
  });
  return it != kTypes.end() && static_cast<std::uint32_t>(it->type) == id ? &*it : nullptr;
}

const GgmlTypeTraits& type_traits(GgmlType t) {
  const GgmlTypeTraits* p = find_type(static_cast<std::uint32_t>(t));
  if (!p) fail("ggml type id {} is not a type ggml defines", static_cast<std::uint32_t>(t));
  return *p;
}

std::string_view type_name(GgmlType t) { return type_traits(t).name; }

std::optional<GgmlType> type_from_name(std::string_view name) {
  for (const auto& t : kTypes)
    if (iequals(t.name, name)) return t.type;
  return std::nullopt;
}

std::string converted_type_names() {
  std::string out;
  for (const auto& t : kTypes) {
    if (!t.qlab_converts) continue;
    if (!out.empty()) out += ' ';
    out += t.name;
  }
  return out;
}

std::uint64_t row_bytes(GgmlType t, std::int64_t n_per_row, std::string_view what) {
  const GgmlTypeTraits& tr = type_traits(t);
  if (n_per_row < 0 || n_per_row % tr.block_size != 0)
    fail("{}: a row of {} elements is not a whole number of {} blocks ({} elements each)", what, n_per_row, tr.name,
         tr.block_size);
  return static_cast<std::uint64_t>(n_per_row / tr.block_size) * tr.bytes_per_block;
}

}  // namespace qlab::gguf
