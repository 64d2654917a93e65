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
// unpacks). qlab's nvfp4, mxfp4 and int groups: every part random bytes, each code read back through
// the same lanes (4-bit: q4_0's, 8-bit: q8_0's) against the format's own order (block.h: value 2k in
// the low nibble of byte k), each scale and zero point (unpacked to a byte) from its header.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "engine/formats/block.h"
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


// ---- qlab's formats: nvfp4, mxfp4, int4 and int8 groups ----------------------------------------------

// A tensor of `format` whose parts are random bytes (every code, scale and zero point a layout may meet).
formats::QuantizedTensor random_parts(const std::string& format, std::int64_t rows, std::int64_t cols, unsigned seed) {
  const formats::BlockFormatSpec spec = *formats::block_format_from_name(format);
  const formats::StorageSizes sizes = formats::storage_sizes(spec, rows, cols);
  formats::QuantizedTensor q;
  q.format = format;
  q.rows = rows;
  q.cols = cols;
  std::mt19937 rng(seed);
  for (auto [part, n] : {std::pair{&q.data, sizes.data}, {&q.scales, sizes.scales}, {&q.zeros, sizes.zeros}}) {
    part->resize(n);
    for (auto& v : *part) v = static_cast<std::uint8_t>(rng());
  }
  q.tensor_scales.assign(sizes.tensor_scales / 4, 1.0f);
  return q;
}

// Code j (0..31) of 32-block b of a row in qlab's packing (block.h): value 2k low in byte k, 2k + 1 high.
int qlab_code(const std::uint8_t* row, std::int64_t b, int j) {
  const int k = static_cast<int>(32 * b) + j;
  return (row[k / 2] >> (4 * (k % 2))) & 15;
}

// Value j of row r from an x8 block's 128 code bytes (4-bit formats: q4_0's lanes, ggml's nibble order).
int x8_code4(const std::uint8_t* codes, int r, int j) { return x8_code(codes - 16, r, j); }

TEST(RowInterleave, FP4CodesAndScalesLandInTheirLanes) {
  const std::int64_t rows = 24, cols = 96, blocks = cols / 32;
  for (auto [format, per_block, interleave] : {std::tuple{"nvfp4", 2, &interleave_nvfp4}, {"mxfp4", 1, &interleave_mxfp4}}) {
    const formats::QuantizedTensor q = random_parts(format, rows, cols, 9);
    const formats::BlockFormatSpec spec = *formats::block_format_from_name(format);
    std::vector<std::uint8_t> x8(static_cast<std::size_t>(rows / 8 * blocks * (8 * per_block + 128)));
    interleave(q.view(spec), 0, rows, x8.data());
    for (std::int64_t r = 0; r < rows; ++r) {
      const std::uint8_t* plain = q.data.data() + r * cols / 2;
      for (std::int64_t b = 0; b < blocks; ++b) {
        const std::uint8_t* block = x8.data() + ((r / 8) * blocks + b) * (8 * per_block + 128);
        const auto row = static_cast<int>(r % 8);
        for (int s = 0; s < per_block; ++s)
          ASSERT_EQ(block[8 * s + row], q.scales[static_cast<std::size_t>((r * blocks + b) * per_block + s)])
              << format << " scale " << s << " of row " << r << ", block " << b;
        for (int j = 0; j < 32; ++j)
          ASSERT_EQ(x8_code4(block + 8 * per_block, row, j), qlab_code(plain, b, j))
              << format << " row " << r << ", block " << b << ", value " << j;
      }
    }
  }
}

TEST(RowInterleave, IntGroupCodesScalesAndZerosLandInTheirLanes) {
  const std::int64_t rows = 16, cols = 256;
  for (const char* format : {"int4-g64", "int4-g32-sym", "int4-ch", "int8-g128", "int8-g32-sym"}) {
    const formats::QuantizedTensor q = random_parts(format, rows, cols, 11);
    const formats::BlockFormatSpec spec = *formats::block_format_from_name(format);
    const int bits = spec.bits;
    const std::int64_t group = spec.block_size > 0 ? spec.block_size : cols, groups = cols / group;
    const std::int64_t group_bytes = 24 + group * bits;  // row_interleave.h: header, then the blocks
    std::vector<std::uint8_t> x8(static_cast<std::size_t>(rows / 8 * groups * group_bytes));
    interleave_int_groups(q.view(spec), 0, rows, x8.data());
    for (std::int64_t r = 0; r < rows; ++r) {
      const auto row = static_cast<int>(r % 8);
      for (std::int64_t g = 0; g < groups; ++g) {
        const std::uint8_t* head = x8.data() + ((r / 8) * groups + g) * group_bytes;
        EXPECT_EQ(std::memcmp(head + 2 * row, q.scales.data() + (r * groups + g) * 2, 2), 0) << format << " scale";
        int zero = 1 << (bits - 1);
        if (!spec.symmetric) {
          const std::uint8_t* z = q.zeros.data() + r * ((groups * bits + 7) / 8);
          zero = bits == 8 ? z[g] : (z[g / 2] >> (4 * (g % 2))) & 15;
        }
        ASSERT_EQ(head[16 + row], zero) << format << " zero of row " << r << ", group " << g;
        for (std::int64_t k = 0; k < group; ++k) {  // value k of the group
          const std::int64_t b = (g * group + k) / 32;
          const int j = static_cast<int>(k % 32);
          int plain, x8v;
          if (bits == 4) {
            plain = qlab_code(q.data.data() + r * cols / 2, b, j);
            x8v = x8_code4(head + 24 + 128 * (k / 32), row, j);
          } else {
            plain = q.data[static_cast<std::size_t>(r * cols + 32 * b + j)];
            x8v = head[24 + 256 * (k / 32) + 64 * (j / 8) + 4 * (8 * ((j % 8) / 4) + row) + j % 4];  // q8_0's lanes
          }
          ASSERT_EQ(x8v, plain) << format << " row " << r << ", group " << g << ", value " << k;
        }
      }
    }
  }
}

}  // namespace
}  // namespace qlab::tensor
