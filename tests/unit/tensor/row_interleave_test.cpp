// The x8 decode layouts of ggml q4_0, q8_0, Q4_K and Q6_K (engine/tensor/row_interleave.h) read back
// by their lane semantics. q4_0: lane k (4 bytes) of each 64-byte half holds codes of row k % 8; the
// first half's low nibbles are values 4 (k / 8) .. + 3, its high nibbles those plus 16, the second
// half's the same plus 8. q8_0: lane k of 64-byte vector t holds values 8t + 4 (k / 8) .. + 3 of row
// k % 8. Q4_K: in the 64 bytes (i, t), lane k's low nibbles are values 8t + 4 (k / 8) .. + 3 of
// sub-block 2i of row k % 8, its high nibbles the same of sub-block 2i + 1. Q6_K: q8_0's arrangement
// of each 32 bytes of ql and qh. The readers below decode every value that way and compare it with
// ggml's own order (q4_0: value j in the low nibble of qs[j], j + 16 in the high one; Q4_K: byte
// 32i + l holds value l of sub-blocks 2i and 2i + 1; Q6_K: ggml's dequantize_row_q6_K's indexing);
// the 6-bit scales and mins against values packed here by ggml's rule (the inverse of what the layout
// unpacks).
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "engine/tensor/row_interleave.h"

namespace qlab::tensor {
namespace {

// Value j (0..31) of a plain q4_0 block, as ggml's dequantize_row_q4_0 reads it (before the offset).
int plain_code(const std::uint8_t* block, int j) { return j < 16 ? block[2 + j] & 15 : block[2 + j - 16] >> 4; }

// Value j of row r (0..7) from an x8 block of eight rows, by the lane description.
int x8_code(const std::uint8_t* block, int r, int j) {
  const int half = (j % 16) / 8;        // values 0-7 and 16-23 in the first 64 bytes, 8-15 and 24-31 after
  const int lane_group = (j % 8) / 4;   // lanes 0-7: the first 4 of those 8 values, lanes 8-15: the next 4
  const int lane = 8 * lane_group + r;
  const std::uint8_t byte = block[16 + 64 * half + 4 * lane + j % 4];
  return j < 16 ? byte & 15 : byte >> 4;
}

TEST(RowInterleave, Q4_0CodesAndScalesLandInTheirLanes) {
  const std::int64_t rows = 16, blocks = 5;
  std::vector<std::uint8_t> plain(static_cast<std::size_t>(rows * blocks * 18));
  std::mt19937 rng(3);
  for (auto& v : plain) v = static_cast<std::uint8_t>(rng());
  std::vector<std::uint8_t> x8(plain.size());
  interleave_q4_0(plain.data(), rows, blocks, x8.data());
  for (std::int64_t r = 0; r < rows; ++r) {
    for (std::int64_t b = 0; b < blocks; ++b) {
      const std::uint8_t* p = plain.data() + (r * blocks + b) * 18;
      const std::uint8_t* q = x8.data() + ((r / 8) * 8 * blocks + b * 8) * 18;  // group r / 8, block b
      EXPECT_EQ(std::memcmp(q + 2 * (r % 8), p, 2), 0) << "scale of row " << r << ", block " << b;
      for (int j = 0; j < 32; ++j)
        ASSERT_EQ(x8_code(q, static_cast<int>(r % 8), j), plain_code(p, j))
            << "row " << r << ", block " << b << ", value " << j;
    }
  }
  EXPECT_ANY_THROW(interleave_q4_0(plain.data(), 12, blocks * 4 / 3, x8.data()));  // 12 rows: not whole groups
}

TEST(RowInterleave, Q8_0ValuesAndScalesLandInTheirLanes) {
  const std::int64_t rows = 16, blocks = 3;
  std::vector<std::uint8_t> plain(static_cast<std::size_t>(rows * blocks * 34));
  std::mt19937 rng(5);
  for (auto& v : plain) v = static_cast<std::uint8_t>(rng());
  std::vector<std::uint8_t> x8(plain.size());
  interleave_q8_0(plain.data(), rows, blocks, x8.data());
  for (std::int64_t r = 0; r < rows; ++r) {
    for (std::int64_t b = 0; b < blocks; ++b) {
      const std::uint8_t* p = plain.data() + (r * blocks + b) * 34;
      const std::uint8_t* q = x8.data() + ((r / 8) * 8 * blocks + b * 8) * 34;  // group r / 8, block b
      const auto row = static_cast<int>(r % 8);
      EXPECT_EQ(std::memcmp(q + 2 * row, p, 2), 0) << "scale of row " << r << ", block " << b;
      for (int j = 0; j < 32; ++j)
        ASSERT_EQ(q[16 + 64 * (j / 8) + 4 * (8 * ((j % 8) / 4) + row) + j % 4], p[2 + j])
            << "row " << r << ", block " << b << ", value " << j;
    }
  }
}

TEST(RowInterleave, Q6_KCodesAndScalesLandInTheirLanes) {
  const std::int64_t rows = 16, blocks = 2;
  std::vector<std::uint8_t> plain(static_cast<std::size_t>(rows * blocks * 210));
  std::mt19937 rng(6);
  for (auto& v : plain) v = static_cast<std::uint8_t>(rng());
  std::vector<std::uint8_t> x8(plain.size());
  interleave_q6_k(plain.data(), rows, blocks, x8.data());
  for (std::int64_t r = 0; r < rows; ++r) {
    for (std::int64_t b = 0; b < blocks; ++b) {
      const std::uint8_t* p = plain.data() + (r * blocks + b) * 210;
      const std::uint8_t* q = x8.data() + ((r / 8) * 8 * blocks + b * 8) * 210;  // group r / 8, block b
      const auto row = static_cast<int>(r % 8);
      EXPECT_EQ(std::memcmp(q + 2 * row, p + 208, 2), 0) << "d of row " << r;
      for (int sub = 0; sub < 16; ++sub) ASSERT_EQ(q[16 + 8 * sub + row], p[192 + sub]) << "scale " << sub;
      for (int v = 0; v < 256; ++v) {
        const int h = v / 128, k = (v % 128) / 32, l = v % 32;
        // ggml: ql[64h + l (+ 32 for runs 1, 3)], low nibble for runs 0, 1; bits 2k of qh[32h + l]
        const int plain_code =
            ((p[64 * h + l + 32 * (k % 2)] >> (4 * (k / 2))) & 15) | ((p[128 + 32 * h + l] >> (2 * k)) & 3) << 4;
        const std::uint8_t* half = q + 144 + 768 * h;
        const int at = 64 * (l / 8) + 4 * (8 * ((l % 8) / 4) + row) + l % 4;
        const int x8_code = ((half[256 * (k % 2) + at] >> (4 * (k / 2))) & 15) | ((half[512 + at] >> (2 * k)) & 3) << 4;
        ASSERT_EQ(x8_code, plain_code) << "row " << r << ", block " << b << ", value " << v;
      }
    }
  }
}

// Q4_K's 12 bytes from eight 6-bit scales and mins (ggml's quantize_row_q4_K packing).
void pack_scales(const int* sc, const int* m, std::uint8_t* q) {
  for (int j = 0; j < 4; ++j) {
    q[j] = static_cast<std::uint8_t>(sc[j] | (sc[j + 4] >> 4) << 6);
    q[j + 4] = static_cast<std::uint8_t>(m[j] | (m[j + 4] >> 4) << 6);
    q[j + 8] = static_cast<std::uint8_t>((sc[j + 4] & 15) | (m[j + 4] & 15) << 4);
  }
}

TEST(RowInterleave, Q4_KCodesScalesAndMinsLandInTheirLanes) {
  const std::int64_t rows = 16, blocks = 3;
  std::vector<std::uint8_t> plain(static_cast<std::size_t>(rows * blocks * 144));
  std::mt19937 rng(4);
  for (auto& v : plain) v = static_cast<std::uint8_t>(rng());
  std::vector<int> sc(static_cast<std::size_t>(rows * blocks * 8)), m(sc.size());
  for (std::size_t k = 0; k < sc.size(); ++k) {
    sc[k] = static_cast<int>(rng() % 64);
    m[k] = static_cast<int>(rng() % 64);
  }
  for (std::int64_t rb = 0; rb < rows * blocks; ++rb)
    pack_scales(&sc[static_cast<std::size_t>(8 * rb)], &m[static_cast<std::size_t>(8 * rb)],
                plain.data() + 144 * rb + 4);
  std::vector<std::uint8_t> x8(static_cast<std::size_t>(rows / 8 * blocks * 1184));
  interleave_q4_k(plain.data(), rows, blocks, x8.data());
  for (std::int64_t r = 0; r < rows; ++r) {
    for (std::int64_t b = 0; b < blocks; ++b) {
      const std::uint8_t* p = plain.data() + (r * blocks + b) * 144;
      const std::uint8_t* q = x8.data() + ((r / 8) * blocks + b) * 1184;
      const auto row = static_cast<int>(r % 8);
      EXPECT_EQ(std::memcmp(q + 2 * row, p, 2), 0) << "d of row " << r;
      EXPECT_EQ(std::memcmp(q + 16 + 2 * row, p + 2, 2), 0) << "dmin of row " << r;
      for (int j = 0; j < 8; ++j) {
        const auto k = static_cast<std::size_t>((r * blocks + b) * 8 + j);
        ASSERT_EQ(q[32 + 8 * j + row], sc[k]) << "scale " << j << " of row " << r << ", block " << b;
        ASSERT_EQ(q[96 + 8 * j + row], m[k]) << "min " << j << " of row " << r << ", block " << b;
      }
      for (int v = 0; v < 256; ++v) {
        const int i = v / 64, high = (v / 32) % 2, l = v % 32;  // sub-block 2i + high, value l
        const int plain_code = (p[16 + 32 * i + l] >> (4 * high)) & 15;
        const int t = l / 8, lane = 8 * ((l % 8) / 4) + row;
        const int x8_code = (q[160 + 256 * i + 64 * t + 4 * lane + l % 4] >> (4 * high)) & 15;
        ASSERT_EQ(x8_code, plain_code) << "row " << r << ", block " << b << ", value " << v;
      }
    }
  }
}

}  // namespace
}  // namespace qlab::tensor
