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

constexpr std::int64_t kQ4_0Bytes = 18;  // ggml's block_q4_0: d (fp16) + 16 nibble bytes

}  // namespace

void interleave_q4_0(const std::uint8_t* src, std::int64_t rows, std::int64_t blocks, std::uint8_t* dst) {
  if (rows % kInterleaveRows != 0) fail("interleave_q4_0: {} rows are not whole groups of {}", rows, kInterleaveRows);
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

bool interleave_for_decode(Matrix& w) {
  if (w.type != ElemType::Packed || !w.round_input || !w.packed.spec || w.packed.spec->name != "ggml-q4_0") return false;
  if (w.rows % kInterleaveRows != 0 || w.packed.cols % 32 != 0) return false;
  const kernels::RowDotSet* set = row_dot_set();
  if (!set || !set->ggml_q4_0_x8) return false;
  const std::int64_t blocks = w.packed.cols / 32, groups = w.rows / kInterleaveRows;
  auto copy = std::make_shared<std::vector<std::uint8_t>>(w.packed.data.size());
  const std::uint8_t* src = w.packed.data.data();
  std::uint8_t* dst = copy->data();
  const std::int64_t group_bytes = kInterleaveRows * blocks * kQ4_0Bytes;
  parallel_for(
      static_cast<std::size_t>(groups),
      [&](std::size_t b, std::size_t e) {
        const auto g0 = static_cast<std::int64_t>(b);
        interleave_q4_0(src + g0 * group_bytes, static_cast<std::int64_t>(e - b) * kInterleaveRows, blocks,
                        dst + g0 * group_bytes);
      },
      16);
  w.interleaved = std::move(copy);
  return true;
}

}  // namespace qlab::tensor
