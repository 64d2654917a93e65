// The x8 decode layout of ggml q4_0 (engine/tensor/row_interleave.h) read back by its lane semantics:
// lane k (4 bytes) of each 64-byte half holds codes of row k % 8; the first half's low nibbles are
// values 4 (k / 8) .. + 3, its high nibbles those plus 16, the second half's the same plus 8. The
// reader below decodes every value that way and compares it with ggml's own order (value j in the low
// nibble of qs[j], value j + 16 in the high one); the scales with the rows' d.
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
        ASSERT_EQ(x8_code(q, static_cast<int>(r % 8), j), plain_code(p, j)) << "row " << r << ", block " << b << ", value " << j;
    }
  }
  EXPECT_ANY_THROW(interleave_q4_0(plain.data(), 12, blocks * 4 / 3, x8.data()));  // 12 rows: not whole groups
}

}  // namespace
}  // namespace qlab::tensor
