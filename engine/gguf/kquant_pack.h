#pragma once
// Bit packing shared by the k-quant codecs (internal to engine/gguf).
//   pack_2bit / low_2bit   Q2_K and Q3_K: codes of elements 128h + 32k + l (k = 0..3, l = 0..31)
//                          sit in bits 2k..2k+1 of qs[32h + l]
//   pack_scale_min_k4      Q4_K / Q5_K: eight 6-bit scale codes and eight 6-bit min codes in 12
//                          bytes (the first four of each whole, the rest split 4 + 2 bits)
#include <cstdint>

namespace qlab::gguf::detail {

inline void pack_2bit(const std::uint8_t* L, std::uint8_t* qs) {
  for (int h = 0; h < 2; ++h)
    for (int l = 0; l < 32; ++l) {
      const std::uint8_t* c = L + 128 * h + l;
      qs[32 * h + l] = static_cast<std::uint8_t>(c[0] | (c[32] << 2) | (c[64] << 4) | (c[96] << 6));
    }
}

// The 2-bit code of element e (0..255).
inline int low_2bit(const std::uint8_t* qs, int e) {
  return (qs[32 * (e / 128) + e % 32] >> (2 * ((e % 128) / 32))) & 3;
}

inline void pack_scale_min_k4(const std::uint8_t* ls, const std::uint8_t* lm, std::uint8_t* scales) {
  for (int j = 0; j < 8; ++j) {
    if (j < 4) {
      scales[j] = ls[j];
      scales[j + 4] = lm[j];
    } else {
      scales[j + 4] = static_cast<std::uint8_t>((ls[j] & 0xF) | ((lm[j] & 0xF) << 4));
      scales[j - 4] = static_cast<std::uint8_t>(scales[j - 4] | ((ls[j] >> 4) << 6));
      scales[j] = static_cast<std::uint8_t>(scales[j] | ((lm[j] >> 4) << 6));
    }
  }
}

}  // namespace qlab::gguf::detail
