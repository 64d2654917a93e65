#pragma once
// ggml tensor types as a GGUF file names them: the id stored in each tensor info, the number of
// elements one storage unit (block) holds, and that unit's size in bytes.
//   GgmlType            every id ggml has assigned and not withdrawn (ggml.h's enum)
//   GgmlTypeTraits      one row of the table: name, block size, bytes per block, what qlab can do
//   type_traits / find_type / type_from_name / type_name
//   row_bytes           bytes of one row of n elements (Error if n is not a whole number of blocks)
// Source: ggml's type table (ggml.c `type_traits`, ggml.h `enum ggml_type`); names are ggml's own
// spelling ("q4_K", "bf16"), matched case-insensitively like llama-quantize's --tensor-type parser.
// Ids 4, 5, 31-33 and 36-38 were removed from ggml and are unknown here, as they are to ggml.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace qlab::gguf {

enum class GgmlType : std::uint32_t {
  F32 = 0, F16 = 1, Q4_0 = 2, Q4_1 = 3, Q5_0 = 6, Q5_1 = 7, Q8_0 = 8, Q8_1 = 9,
  Q2_K = 10, Q3_K = 11, Q4_K = 12, Q5_K = 13, Q6_K = 14, Q8_K = 15,
  IQ2_XXS = 16, IQ2_XS = 17, IQ3_XXS = 18, IQ1_S = 19, IQ4_NL = 20, IQ3_S = 21, IQ2_S = 22,
  IQ4_XS = 23, I8 = 24, I16 = 25, I32 = 26, I64 = 27, F64 = 28, IQ1_M = 29, BF16 = 30,
  TQ1_0 = 34, TQ2_0 = 35, MXFP4 = 39, NVFP4 = 40, Q1_0 = 41, Q2_0 = 42,
};

struct GgmlTypeTraits {
  GgmlType type;
  std::string_view name;         // ggml_type_name: "f32", "q4_K", ...
  std::int64_t block_size;       // elements per block (1 for plain scalars)
  std::size_t bytes_per_block;   // bytes of one block
  bool quantized;                // ggml's is_quantized
  bool qlab_converts;            // qlab can write it from float32 (and read it back to float32)
  double bits_per_weight() const { return 8.0 * static_cast<double>(bytes_per_block) / static_cast<double>(block_size); }
};

// Every known type, in id order.
std::span<const GgmlTypeTraits> all_types();
// The row of a known id; nullptr for ids ggml does not define (removed or never assigned).
const GgmlTypeTraits* find_type(std::uint32_t id);
const GgmlTypeTraits& type_traits(GgmlType t);
std::string_view type_name(GgmlType t);
// "q4_k", "Q4_K", "bf16" -> the type (ASCII case-insensitive); nullopt if unknown.
std::optional<GgmlType> type_from_name(std::string_view name);
// "f32 f16 bf16 q4_0 ..." of the types qlab converts, for error messages.
std::string converted_type_names();

// Bytes of one row of n_per_row elements of type t; Error naming `what` if n_per_row is negative
// or not a multiple of the block size.
std::uint64_t row_bytes(GgmlType t, std::int64_t n_per_row, std::string_view what = "tensor");

}  // namespace qlab::gguf
