// Decode layouts of packed weights (see row_interleave.h).
#include "engine/tensor/row_interleave.h"

#include <cstring>
#include <memory>
#include <string_view>
#include <vector>

#include "engine/core/error.h"
#include "engine/core/threads.h"
#include "engine/tensor/row_dot_table.h"

namespace qlab::tensor {

namespace {

constexpr std::int64_t kQ4_0Bytes = 18;   // ggml's block_q4_0: d (fp16) + 16 nibble bytes
constexpr std::int64_t kQ4_KBytes = 144;  // block_q4_K: d, dmin, 12 scale bytes, 128 nibble bytes
constexpr std::int64_t kQ4_KX8Bytes = 1184;

// Sub-block j's 6-bit scale and min from Q4_K's 12 bytes (ggml's get_scale_min_k4).
void scale_min_k4(const std::uint8_t* q, int j, std::uint8_t& sc, std::uint8_t& m) {
  if (j < 4) {
    sc = q[j] & 63;
    m = q[j + 4] & 63;
  } else {
    sc = static_cast<std::uint8_t>((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
    m = static_cast<std::uint8_t>((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
  }
}

// The formats with an x8 layout: bytes of a plain block, of eight rows' block in the copy, the
// rearrangement, and the kernel that reads it.
struct X8Layout {
  std::string_view format;
  std::int64_t values, plain_bytes, x8_bytes;
  void (*interleave)(const std::uint8_t* src, std::int64_t rows, std::int64_t blocks, std::uint8_t* dst);
  kernels::RowDot kernels::RowDotSet::*kernel;
};
constexpr X8Layout kLayouts[] = {
    {"ggml-q4_0", 32, kQ4_0Bytes, 8 * kQ4_0Bytes, interleave_q4_0, &kernels::RowDotSet::ggml_q4_0_x8},
    {"ggml-q4_K", 256, kQ4_KBytes, kQ4_KX8Bytes, interleave_q4_k, &kernels::RowDotSet::ggml_q4_k_x8},
};

void check_groups(std::int64_t rows) {
  if (rows % kInterleaveRows != 0) fail("interleave: {} rows are not whole groups of {}", rows, kInterleaveRows);
}

}  // namespace

void interleave_q4_0(const std::uint8_t* src, std::int64_t rows, std::int64_t blocks, std::uint8_t* dst) {
  check_groups(rows);
  const std::int64_t row_bytes = blocks * kQ4_0Bytes;
  for (std::int64_t g = 0; g < rows; g += kInterleaveRows) {
    std::uint8_t* out = dst + g * row_bytes;
    for (std::int64_t b = 0; b < blocks; ++b, out += kInterleaveRows * kQ4_0Bytes) {
      for (std::int64_t r = 0; r < kInterleaveRows; ++r) {
        const std::uint8_t* blk = src + (g + r) * row_bytes + b * kQ4_0Bytes;
        std::memcpy(out + 2 * r, blk, 2);
        for (int quarter = 0; quarter < 4; ++quarter)  // qs[4q .. 4q + 3] of row r
          std::memcpy(out + 16 + 32 * quarter + 4 * r, blk + 2 + 4 * quarter, 4);
      }
    }
  }
}

void interleave_q4_k(const std::uint8_t* src, std::int64_t rows, std::int64_t blocks, std::uint8_t* dst) {
  check_groups(rows);
  const std::int64_t row_bytes = blocks * kQ4_KBytes;
  for (std::int64_t g = 0; g < rows; g += kInterleaveRows) {
    for (std::int64_t b = 0; b < blocks; ++b) {
      std::uint8_t* out = dst + (g / kInterleaveRows * blocks + b) * kQ4_KX8Bytes;
      for (std::int64_t r = 0; r < kInterleaveRows; ++r) {
        const std::uint8_t* blk = src + (g + r) * row_bytes + b * kQ4_KBytes;
        std::memcpy(out + 2 * r, blk, 2);           // d
        std::memcpy(out + 16 + 2 * r, blk + 2, 2);  // dmin
        for (int j = 0; j < 8; ++j) scale_min_k4(blk + 4, j, out[32 + 8 * j + r], out[96 + 8 * j + r]);
        for (int i = 0; i < 4; ++i)
          for (int t = 0; t < 4; ++t)
            for (int h = 0; h < 2; ++h)  // lane 8h + r of the 64 bytes (i, t)
              std::memcpy(out + 160 + 256 * i + 64 * t + 4 * (8 * h + r), blk + 16 + 32 * i + 8 * t + 4 * h, 4);
      }
    }
  }
}

bool interleave_for_decode(Matrix& w) {
  if (w.type != ElemType::Packed || !w.round_input || !w.packed.spec) return false;
  const X8Layout* layout = nullptr;
  for (const X8Layout& l : kLayouts)
    if (w.packed.spec->name == l.format && w.packed.spec->block_size == l.values) layout = &l;
  if (!layout || w.rows % kInterleaveRows != 0 || w.packed.cols % layout->values != 0) return false;
  const kernels::RowDotSet* set = row_dot_set();
  if (!set || !(set->*(layout->kernel))) return false;
  const std::int64_t blocks = w.packed.cols / layout->values, groups = w.rows / kInterleaveRows;
  const std::int64_t plain_group = kInterleaveRows * blocks * layout->plain_bytes, x8_group = blocks * layout->x8_bytes;
  auto copy = std::make_shared<std::vector<std::uint8_t>>(static_cast<std::size_t>(groups * x8_group));
  const std::uint8_t* src = w.packed.data.data();
  std::uint8_t* dst = copy->data();
  parallel_for(
      static_cast<std::size_t>(groups),
      [&](std::size_t b, std::size_t e) {
        const auto g0 = static_cast<std::int64_t>(b);
        layout->interleave(src + g0 * plain_group, static_cast<std::int64_t>(e - b) * kInterleaveRows, blocks,
                           dst + g0 * x8_group);
      },
      16);
  w.interleaved = std::move(copy);
  return true;
}

}  // namespace qlab::tensor
