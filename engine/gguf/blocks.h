#pragma once
// ggml's block layouts, byte for byte as GGUF stores them (little-endian; fp16 fields are IEEE
// half bit patterns). A row of n elements is n / block_size consecutive blocks.
//   Legacy, 32 elements:   BlockQ4_0 BlockQ4_1 BlockQ5_0 BlockQ5_1 BlockQ8_0 (d = scale, m = min)
//   K-quants, 256 elements (one super-block of 8 or 16 sub-blocks):
//                          BlockQ2_K BlockQ3_K BlockQ4_K BlockQ5_K BlockQ6_K
//   MXFP4, 32 elements:    BlockMXFP4 (E8M0 shared exponent + E2M1 codes)
// Source: ggml's ggml-common.h (the structs and their static size checks). Where each element's
// bits live inside a block is written beside each codec (quant_legacy.cpp, quant_q*_k.cpp).
#include <bit>
#include <cstddef>
#include <cstdint>

namespace qlab::gguf {

static_assert(std::endian::native == std::endian::little, "GGUF blocks are read and written in place: little-endian hosts only");

inline constexpr int kQK4_0 = 32, kQK4_1 = 32, kQK5_0 = 32, kQK5_1 = 32, kQK8_0 = 32, kQK_MXFP4 = 32;
inline constexpr int kQK_K = 256;        // elements per k-quant super-block
inline constexpr int kKScaleBytes = 12;  // packed 6-bit scales/mins of Q3_K, Q4_K, Q5_K

using Half = std::uint16_t;  // IEEE binary16 bit pattern

// ---- legacy 32-element blocks ----------------------------------------------------------------
struct BlockQ4_0 {
  Half d;                   // scale; value = (q - 8) * d
  std::uint8_t qs[16];      // element j in the low nibble of qs[j], element j+16 in the high nibble
};
struct BlockQ4_1 {
  Half d, m;                // value = q * d + m
  std::uint8_t qs[16];      // as Q4_0
};
struct BlockQ5_0 {
  Half d;                   // value = (q - 16) * d
  std::uint8_t qh[4];       // 5th bits: bit j of the little-endian u32 = element j
  std::uint8_t qs[16];      // low 4 bits as Q4_0
};
struct BlockQ5_1 {
  Half d, m;                // value = q * d + m
  std::uint8_t qh[4];
  std::uint8_t qs[16];
};
struct BlockQ8_0 {
  Half d;                   // value = q * d
  std::int8_t qs[32];
};

// ---- k-quant 256-element super-blocks ------------------------------------------------------------
struct BlockQ2_K {
  std::uint8_t scales[16];  // sub-block s (16 elements): low nibble scale code, high nibble min code
  std::uint8_t qs[64];      // 2-bit codes, four per byte
  Half d, dmin;             // super-scales of the scale and min codes
};
struct BlockQ3_K {
  std::uint8_t hmask[32];   // high (third) bit of each code
  std::uint8_t qs[64];      // low 2 bits, as Q2_K
  std::uint8_t scales[12];  // sixteen 6-bit scale codes (stored +32)
  Half d;
};
struct BlockQ4_K {
  Half d, dmin;
  std::uint8_t scales[kKScaleBytes];  // eight 6-bit scale codes and eight 6-bit min codes
  std::uint8_t qs[128];               // 4-bit codes
};
struct BlockQ5_K {
  Half d, dmin;
  std::uint8_t scales[kKScaleBytes];
  std::uint8_t qh[32];                // 5th bits
  std::uint8_t qs[128];               // low 4 bits, as Q4_K
};
struct BlockQ6_K {
  std::uint8_t ql[128];     // low 4 bits of the 6-bit codes
  std::uint8_t qh[64];      // high 2 bits
  std::int8_t scales[16];   // one signed 8-bit scale per 16-element sub-block
  Half d;
};

// ---- MXFP4 ---------------------------------------------------------------------------------------
struct BlockMXFP4 {
  std::uint8_t e;           // E8M0 shared exponent
  std::uint8_t qs[16];      // E2M1 codes: element j low nibble of qs[j], element j+16 high nibble
};

static_assert(sizeof(BlockQ4_0) == 18 && offsetof(BlockQ4_0, qs) == 2);
static_assert(sizeof(BlockQ4_1) == 20 && offsetof(BlockQ4_1, qs) == 4);
static_assert(sizeof(BlockQ5_0) == 22 && offsetof(BlockQ5_0, qh) == 2 && offsetof(BlockQ5_0, qs) == 6);
static_assert(sizeof(BlockQ5_1) == 24 && offsetof(BlockQ5_1, qh) == 4 && offsetof(BlockQ5_1, qs) == 8);
static_assert(sizeof(BlockQ8_0) == 34 && offsetof(BlockQ8_0, qs) == 2);
static_assert(sizeof(BlockQ2_K) == 84 && offsetof(BlockQ2_K, d) == 80);
static_assert(sizeof(BlockQ3_K) == 110 && offsetof(BlockQ3_K, scales) == 96 && offsetof(BlockQ3_K, d) == 108);
static_assert(sizeof(BlockQ4_K) == 144 && offsetof(BlockQ4_K, qs) == 16);
static_assert(sizeof(BlockQ5_K) == 176 && offsetof(BlockQ5_K, qh) == 16 && offsetof(BlockQ5_K, qs) == 48);
static_assert(sizeof(BlockQ6_K) == 210 && offsetof(BlockQ6_K, scales) == 192 && offsetof(BlockQ6_K, d) == 208);
static_assert(sizeof(BlockMXFP4) == 17);

}  // namespace qlab::gguf
