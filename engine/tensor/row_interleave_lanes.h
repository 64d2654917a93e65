#pragma once
// The two arrangements of eight rows' bytes that every x8 layout (row_interleave.h) is built from,
// shared by the files that make the copies:
//   interleave_16  16 code bytes of each of eight rows -> 128 bytes, q4_0's x8 arrangement: bytes
//                  0 .. 63 hold bytes 0..3 of rows 0..7, then bytes 4..7 of rows 0..7; bytes
//                  64 .. 127 bytes 8..11, then 12..15
//   interleave_32  32 bytes of each of eight rows -> four 64-byte vectors, q8_0's: lane k (4 bytes)
//                  of vector t holds bytes 8t + 4 (k / 8) .. + 3 of row k % 8
// Row r's bytes are at src + r * stride.
#include <cstdint>
#include <cstring>

namespace qlab::tensor::detail {

inline void interleave_16(const std::uint8_t* src, std::int64_t stride, std::uint8_t* out) {
  for (int r = 0; r < 8; ++r)
    for (int quarter = 0; quarter < 4; ++quarter)  // bytes 4q .. 4q + 3 of row r
      std::memcpy(out + 32 * quarter + 4 * r, src + r * stride + 4 * quarter, 4);
}

inline void interleave_32(const std::uint8_t* src, std::int64_t stride, std::uint8_t* out) {
  for (int t = 0; t < 4; ++t)
    for (int h = 0; h < 2; ++h)
      for (int r = 0; r < 8; ++r) std::memcpy(out + 64 * t + 4 * (8 * h + r), src + r * stride + 8 * t + 4 * h, 4);
}

}  // namespace qlab::tensor::detail
