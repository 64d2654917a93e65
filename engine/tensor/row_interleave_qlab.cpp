// The x8 decode layouts of qlab's own formats, nvfp4, mxfp4 and the int groups (see row_interleave.h;
// their plain storage: formats/block.h). Each reads the format's parts (codes, scales, zeros) and
// writes eight rows' groups into one buffer; the 4-bit codes are put in ggml's nibble order on the way,
// so one arrangement (and one kernel loop) serves q4_0 and all three 4-bit formats.
#include <cstdint>
#include <cstring>

#include "engine/core/error.h"
#include "engine/tensor/row_interleave.h"
#include "engine/tensor/row_interleave_lanes.h"

namespace qlab::tensor {

namespace {

void check_rows(const formats::QuantizedView& q, std::int64_t r0, std::int64_t rows) {
  if (r0 % kInterleaveRows != 0 || rows % kInterleaveRows != 0 || r0 + rows > q.rows || q.cols % 32 != 0)
    fail("interleave {}: rows [{}, {}) of [{}, {}] are not whole groups of {} rows and 32 columns", q.spec->name, r0,
         r0 + rows, q.rows, q.cols, kInterleaveRows);
}

// Code j (0 .. 31) of a 32-value block in qlab's packing: value 2k low in byte k, 2k + 1 high.
int code_at(const std::uint8_t* block, int j) { return (block[j / 2] >> (4 * (j % 2))) & 15; }

// Block b (32 values) of eight rows' 4-bit codes (row r at src + r * row_bytes) -> 128 bytes at out:
// each row's 16 bytes in ggml's order (value j low, j + 16 high), then q4_0's x8 arrangement.
void codes4(const std::uint8_t* src, std::int64_t row_bytes, std::int64_t b, std::uint8_t* out) {
  std::uint8_t ggml[8 * 16];
  for (int r = 0; r < 8; ++r) {
    const std::uint8_t* block = src + r * row_bytes + 16 * b;
    for (int j = 0; j < 16; ++j)
      ggml[16 * r + j] = static_cast<std::uint8_t>(code_at(block, j) | code_at(block, j + 16) << 4);
  }
  detail::interleave_16(ggml, 16, out);
}

// The FP4 formats: per block, `per_block` scale bytes of each row (one per `per_block`-th of the
// block), scale s of rows 0..7 at out[8s .. 8s + 7], then the codes.
void interleave_fp4(const formats::QuantizedView& q, std::int64_t r0, std::int64_t rows, int per_block,
                    std::uint8_t* dst) {
  check_rows(q, r0, rows);
  const std::int64_t blocks = q.cols / 32, row_bytes = q.cols / 2, scale_row_bytes = blocks * per_block;
  std::uint8_t* out = dst;
  for (std::int64_t g = r0; g < r0 + rows; g += kInterleaveRows) {
    const std::uint8_t* codes = q.data.data() + g * row_bytes;
    const std::uint8_t* scales = q.scales.data() + g * scale_row_bytes;
    for (std::int64_t b = 0; b < blocks; ++b) {
      for (int s = 0; s < per_block; ++s)
        for (int r = 0; r < 8; ++r) *out++ = scales[r * scale_row_bytes + per_block * b + s];
      codes4(codes, row_bytes, b, out);
      out += 128;
    }
  }
}

}  // namespace

void interleave_nvfp4(const formats::QuantizedView& q, std::int64_t r0, std::int64_t rows, std::uint8_t* dst) {
  interleave_fp4(q, r0, rows, 2, dst);  // an E4M3 scale per 16 values
}

void interleave_mxfp4(const formats::QuantizedView& q, std::int64_t r0, std::int64_t rows, std::uint8_t* dst) {
  interleave_fp4(q, r0, rows, 1, dst);  // an E8M0 scale per 32 values
}

void interleave_int_groups(const formats::QuantizedView& q, std::int64_t r0, std::int64_t rows, std::uint8_t* dst) {
  check_rows(q, r0, rows);
  const int bits = q.spec->bits;
  if (bits != 4 && bits != 8) fail("interleave {}: only 4- and 8-bit int groups have an x8 layout", q.spec->name);
  const std::int64_t group = q.spec->block_size > 0 ? q.spec->block_size : q.cols;
  const std::int64_t groups = q.cols / group, row_bytes = q.cols * bits / 8, zero_row_bytes = (groups * bits + 7) / 8;
  std::uint8_t* out = dst;
  for (std::int64_t g = r0; g < r0 + rows; g += kInterleaveRows) {
    const std::uint8_t* codes = q.data.data() + g * row_bytes;
    for (std::int64_t j = 0; j < groups; ++j) {
      for (std::int64_t r = 0; r < 8; ++r) {
        std::memcpy(out + 2 * r, q.scales.data() + ((g + r) * groups + j) * 2, 2);
        int zero = 1 << (bits - 1);  // symmetric: the codes' offset
        if (!q.spec->symmetric) {
          const std::uint8_t* z = q.zeros.data() + (g + r) * zero_row_bytes;
          zero = bits == 8 ? z[j] : (z[j / 2] >> (4 * (j % 2))) & 15;
        }
        out[16 + r] = static_cast<std::uint8_t>(zero);
      }
      out += 24;
      for (std::int64_t b = j * group / 32; b < (j + 1) * group / 32; ++b) {
        if (bits == 4) {
          codes4(codes, row_bytes, b, out);
          out += 128;
        } else {
          detail::interleave_32(codes + 32 * b, row_bytes, out);
          out += 256;
        }
      }
    }
  }
}

}  // namespace qlab::tensor
