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
constexpr std::int64_t kQ8_0Bytes = 34;   // block_q8_0: d (fp16) + 32 int8 values
constexpr std::int64_t kQ6_KBytes = 210;  // block_q6_K: ql[128], qh[64], 16 int8 scales, d

// 32 bytes of each of eight rows (row r at src + r * stride) as four 64-byte vectors: lane k (4 bytes)
// of vector t holds bytes 8t + 4 (k / 8) .. + 3 of row k % 8.
void interleave_32(const std::uint8_t* src, std::int64_t stride, std::uint8_t* out) {
  for (int t = 0; t < 4; ++t)
    for (int h = 0; h < 2; ++h)
      for (int r = 0; r < 8; ++r) std::memcpy(out + 64 * t + 4 * (8 * h + r), src + r * stride + 8 * t + 4 * h, 4);
}

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
    {"ggml-q8_0", 32, kQ8_0Bytes, 8 * kQ8_0Bytes, interleave_q8_0, &kernels::RowDotSet::ggml_q8_0_x8},
    {"ggml-q4_K", 256, kQ4_KBytes, kQ4_KX8Bytes, interleave_q4_k, &kernels::RowDotSet::ggml_q4_k_x8},
    {"ggml-q6_K", 256, kQ6_KBytes, 8 * kQ6_KBytes, interleave_q6_k, &kernels::RowDotSet::ggml_q6_k_x8},
};

const X8Layout* layout_for(const formats::BlockFormatSpec& spec) {
  for (const X8Layout& l : kLayouts)
    if (spec.name == l.format && spec.block_size == l.values) return &l;
  return nullptr;
}

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

void interleave_q8_0(const std::uint8_t* src, std::int64_t rows, std::int64_t blocks, std::uint8_t* dst) {
  check_groups(rows);
  const std::int64_t row_bytes = blocks * kQ8_0Bytes;
  for (std::int64_t g = 0; g < rows; g += kInterleaveRows) {
    std::uint8_t* out = dst + g * row_bytes;
    for (std::int64_t b = 0; b < blocks; ++b, out += kInterleaveRows * kQ8_0Bytes) {
      const std::uint8_t* blk = src + g * row_bytes + b * kQ8_0Bytes;
      for (std::int64_t r = 0; r < kInterleaveRows; ++r) std::memcpy(out + 2 * r, blk + r * row_bytes, 2);
      interleave_32(blk + 2, row_bytes, out + 16);
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
      }
      const std::uint8_t* qs = src + g * row_bytes + b * kQ4_KBytes + 16;
      for (int i = 0; i < 4; ++i) interleave_32(qs + 32 * i, row_bytes, out + 160 + 256 * i);
    }
  }
}

void interleave_q6_k(const std::uint8_t* src, std::int64_t rows, std::int64_t blocks, std::uint8_t* dst) {
  check_groups(rows);
  const std::int64_t row_bytes = blocks * kQ6_KBytes;
  for (std::int64_t g = 0; g < rows; g += kInterleaveRows) {
    std::uint8_t* out = dst + g * row_bytes;
    for (std::int64_t b = 0; b < blocks; ++b, out += kInterleaveRows * kQ6_KBytes) {
      const std::uint8_t* blk = src + g * row_bytes + b * kQ6_KBytes;
      for (std::int64_t r = 0; r < kInterleaveRows; ++r) {
        std::memcpy(out + 2 * r, blk + r * row_bytes + 208, 2);                                 // d
        for (int s = 0; s < 16; ++s) out[16 + 8 * s + r] = blk[r * row_bytes + 192 + s];  // scales
      }
      for (int h = 0; h < 2; ++h) {
        std::uint8_t* half = out + 144 + 768 * h;
        interleave_32(blk + 64 * h, row_bytes, half);             // ql[64h .. 64h + 31]
        interleave_32(blk + 64 * h + 32, row_bytes, half + 256);  // ql[64h + 32 .. 64h + 63]
        interleave_32(blk + 128 + 32 * h, row_bytes, half + 512);  // qh[32h .. 32h + 31]
      }
    }
  }
}

bool interleave_for_decode(Matrix& w) {
  if (w.type != ElemType::Packed || !w.round_input || !w.packed.spec) return false;
  const X8Layout* layout = layout_for(*w.packed.spec);
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

kernels::RowDot kernels::RowDotSet::*interleaved_kernel(const formats::BlockFormatSpec& spec) {
  const X8Layout* layout = layout_for(spec);
  return layout ? layout->kernel : nullptr;
}

}  // namespace qlab::tensor
