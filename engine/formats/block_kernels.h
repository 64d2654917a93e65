#pragma once
// Internals shared by the block-format files (not part of the public API).
//   codecs                    one BlockCodec per format family, defined in the family's .cpp file
//   for_rows                  parallel_for over rows with a chunk worth handing to a thread
//   abs_bits / amax helpers   block amax as integer bits (catches NaN / inf in the same pass)
//   nibble and bit packing    the row layouts the storage notes in block.h describe
#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>
#include <vector>

#include "engine/core/threads.h"
#include "engine/formats/block.h"

namespace qlab::formats::detail {

// The codec of each format family (block.h's BlockCodec), defined in the family's own file and
// named by the rows of the table in block.cpp.
extern const BlockCodec nvfp4_codec;         // nvfp4.cpp
extern const BlockCodec mxfp4_codec;         // mxfp4.cpp
extern const BlockCodec nf4_codec;           // nf4.cpp
extern const BlockCodec nf4_dq_codec;        // nf4.cpp
extern const BlockCodec int_group_codec;     // int_group.cpp (every intB-gG and intB-gG-sym)
extern const BlockCodec int8_channel_codec;  // fp8_scaled.cpp
extern const BlockCodec fp8_tensor_codec;    // fp8_scaled.cpp (E4M3 and E5M2: spec.e5m2)
extern const BlockCodec fp8_channel_codec;   // fp8_scaled.cpp

// Functions the codecs are made of that the files share.
void quantize_nvfp4(const BlockFormatSpec& spec, std::span<const float> x, QuantizedTensor& q, KernelPath path);
void quantize_mxfp4(const BlockFormatSpec& spec, std::span<const float> x, QuantizedTensor& q, KernelPath path);
void quantize_int_group(const BlockFormatSpec& spec, std::span<const float> x, QuantizedTensor& q,
                        KernelPath path);

inline std::uint64_t u64(std::int64_t v) { return static_cast<std::uint64_t>(v); }

// Runs body(row_begin, row_end) over [0, rows): spread over the pool on the fast path, in one
// piece on the reference path. Chunks hold at least ~64K elements so small tensors stay on one thread.
template <typename Body>
void for_rows(std::int64_t rows, std::int64_t cols, KernelPath path, Body&& body) {
  if (rows <= 0) return;
  if (path == KernelPath::Reference) {
    body(std::int64_t{0}, rows);
    return;
  }
  std::int64_t per_row = cols > 0 ? cols : 1;
  auto grain = static_cast<std::size_t>((65536 + per_row - 1) / per_row);
  parallel_for(
      static_cast<std::size_t>(rows),
      [&](std::size_t b, std::size_t e) { body(static_cast<std::int64_t>(b), static_cast<std::int64_t>(e)); },
      grain);
}

inline std::uint32_t f32_bits(float x) {
  std::uint32_t u;
  std::memcpy(&u, &x, 4);
  return u;
}
inline float bits_f32(std::uint32_t u) {
  float x;
  std::memcpy(&x, &u, 4);
  return x;
}

// Largest |x| over n floats, as the bits of a non-negative float. For non-negative floats the
// integer order of the bits is the numeric order, and NaN / inf have the largest bits of all,
// so one compare finds the amax and flags bad input (result >= 0x7F800000).
inline std::uint32_t amax_bits(const float* x, std::int64_t n) {
  std::int32_t m = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    std::int32_t u;
    std::memcpy(&u, x + i, 4);
    u &= 0x7FFFFFFF;
    m = u > m ? u : m;
  }
  return static_cast<std::uint32_t>(m);
}
inline bool bits_finite(std::uint32_t abs_bits) { return abs_bits < 0x7F800000u; }

// Throws the input-error message for a non-finite value somewhere in row r.
[[noreturn]] void fail_non_finite(std::string_view format, std::span<const float> x, std::int64_t row,
                                  std::int64_t cols);

// E2M1 code -> value, indexed by the 4-bit code.
inline constexpr float kE2M1Values[16] = {0.0f,  0.5f,  1.0f,  1.5f,  2.0f,  3.0f,  4.0f,  6.0f,
                                          -0.0f, -0.5f, -1.0f, -1.5f, -2.0f, -3.0f, -4.0f, -6.0f};

// Bits `bits` wide, LSB-first within a row of n codes; row_bytes = ceil(n * bits / 8).
inline std::int64_t packed_row_bytes(std::int64_t n, int bits) { return (n * bits + 7) / 8; }
void pack_bits(const std::uint8_t* codes, std::int64_t n, int bits, std::uint8_t* out);
void unpack_bits(const std::uint8_t* in, std::int64_t n, int bits, std::uint8_t* codes);

// float16 bytes (little-endian) in a byte vector.
inline void store_u16(std::uint8_t* p, std::uint16_t v) {
  p[0] = static_cast<std::uint8_t>(v & 0xFF);
  p[1] = static_cast<std::uint8_t>(v >> 8);
}
inline std::uint16_t load_u16(const std::uint8_t* p) {
  return static_cast<std::uint16_t>(p[0] | (p[1] << 8));
}
inline void store_f32(std::uint8_t* p, float v) {
  std::uint32_t u = f32_bits(v);
  for (int i = 0; i < 4; ++i) p[i] = static_cast<std::uint8_t>(u >> (8 * i));
}
inline float load_f32(const std::uint8_t* p) {
  std::uint32_t u = static_cast<std::uint32_t>(p[0]) | static_cast<std::uint32_t>(p[1]) << 8 |
                    static_cast<std::uint32_t>(p[2]) << 16 | static_cast<std::uint32_t>(p[3]) << 24;
  return bits_f32(u);
}

}  // namespace qlab::formats::detail
