// Decode layouts of packed weights (see row_interleave.h).
#include "engine/tensor/row_interleave.h"

#include <cstring>
#include <memory>
#include <string_view>
#include <vector>

#include "engine/core/error.h"
#include "engine/core/threads.h"
#include "engine/tensor/row_dot_table.h"
#include "engine/tensor/row_interleave_lanes.h"

namespace qlab::tensor {

namespace {

constexpr std::int64_t kQ4_0Bytes = 18;   // ggml's block_q4_0: d (fp16) + 16 nibble bytes
constexpr std::int64_t kQ4_KBytes = 144;  // block_q4_K: d, dmin, 12 scale bytes, 128 nibble bytes
constexpr std::int64_t kQ4_KX8Bytes = 1184;
constexpr std::int64_t kQ8_0Bytes = 34;   // block_q8_0: d (fp16) + 32 int8 values
constexpr std::int64_t kQ6_KBytes = 210;  // block_q6_K: ql[128], qh[64], 16 int8 scales, d

using detail::interleave_16;
using detail::interleave_32;

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

// The formats with an x8 layout: which specs, the copy's bytes for eight rows, the rearrangement of
// rows [r0, r0 + rows), and the kernels that read it: on int8 activations, and on float ones (nullptr:
// ggml's types, whose products always take int8 activations).
struct X8Layout {
  bool (*serves)(const formats::BlockFormatSpec& spec);
  std::int64_t (*eight_rows)(const formats::QuantizedView& q);
  void (*interleave)(const formats::QuantizedView& q, std::int64_t r0, std::int64_t rows, std::uint8_t* dst);
  kernels::RowDot kernels::RowDotSet::*kernel;
  kernels::RowDot kernels::RowDotSet::*float_kernel;
};

// ggml's types: values and bytes of a block, bytes of eight rows' block in the copy.
template <int Values, int Plain, int X8,
          void (*Fn)(const std::uint8_t*, std::int64_t, std::int64_t, std::uint8_t*)>
struct GgmlX8 {
  static std::int64_t eight_rows(const formats::QuantizedView& q) { return q.cols / Values * X8; }
  static void interleave(const formats::QuantizedView& q, std::int64_t r0, std::int64_t rows, std::uint8_t* dst) {
    Fn(q.data.data() + r0 * (q.cols / Values * Plain), rows, q.cols / Values, dst);
  }
};
template <const char* Name, int Values>
bool ggml_serves(const formats::BlockFormatSpec& s) {
  return s.kind == formats::BlockKind::Ggml && s.name == Name && s.block_size == Values;
}
constexpr char kQ4_0[] = "ggml-q4_0", kQ8_0[] = "ggml-q8_0", kQ4_K[] = "ggml-q4_K", kQ6_K[] = "ggml-q6_K";
using Q4_0 = GgmlX8<32, kQ4_0Bytes, 8 * kQ4_0Bytes, interleave_q4_0>;
using Q8_0 = GgmlX8<32, kQ8_0Bytes, 8 * kQ8_0Bytes, interleave_q8_0>;
using Q4_K = GgmlX8<256, kQ4_KBytes, kQ4_KX8Bytes, interleave_q4_k>;
using Q6_K = GgmlX8<256, kQ6_KBytes, 8 * kQ6_KBytes, interleave_q6_k>;

// qlab's formats: a spec the row-dot table serves with a Native kernel (the table's own codec; for
// int groups, those of Bits bits).
template <formats::BlockKind Kind, int Bits = 0>
bool qlab_serves(const formats::BlockFormatSpec& s) {
  const RowDotKernel* k = row_dot_kernel_for(s);
  return s.kind == Kind && (Bits == 0 || s.bits == Bits) && k && k->native;
}
std::int64_t nvfp4_eight_rows(const formats::QuantizedView& q) { return q.cols / 32 * 144; }
std::int64_t mxfp4_eight_rows(const formats::QuantizedView& q) { return q.cols / 32 * 136; }
std::int64_t int_groups_eight_rows(const formats::QuantizedView& q) {
  const std::int64_t group = q.spec->block_size > 0 ? q.spec->block_size : q.cols;
  return q.cols / group * (24 + group * q.spec->bits);
}

using K = kernels::RowDotSet;
using Kind = formats::BlockKind;
constexpr X8Layout kLayouts[] = {
    {ggml_serves<kQ4_0, 32>, Q4_0::eight_rows, Q4_0::interleave, &K::ggml_q4_0_x8, nullptr},
    {ggml_serves<kQ8_0, 32>, Q8_0::eight_rows, Q8_0::interleave, &K::ggml_q8_0_x8, nullptr},
    {ggml_serves<kQ4_K, 256>, Q4_K::eight_rows, Q4_K::interleave, &K::ggml_q4_k_x8, nullptr},
    {ggml_serves<kQ6_K, 256>, Q6_K::eight_rows, Q6_K::interleave, &K::ggml_q6_k_x8, nullptr},
    {qlab_serves<Kind::NVFP4>, nvfp4_eight_rows, interleave_nvfp4, &K::nvfp4_x8, &K::nvfp4_float_x8},
    {qlab_serves<Kind::MXFP4>, mxfp4_eight_rows, interleave_mxfp4, &K::mxfp4_x8, &K::mxfp4_float_x8},
    {qlab_serves<Kind::IntGroup, 4>, int_groups_eight_rows, interleave_int_groups, &K::int4_x8, &K::int4_float_x8},
    {qlab_serves<Kind::IntGroup, 8>, int_groups_eight_rows, interleave_int_groups, &K::int8_x8, &K::int8_float_x8},
};

const X8Layout* layout_for(const formats::BlockFormatSpec& spec) {
  for (const X8Layout& l : kLayouts)
    if (l.serves(spec)) return &l;
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
      const std::uint8_t* blk = src + g * row_bytes + b * kQ4_0Bytes;
      for (std::int64_t r = 0; r < kInterleaveRows; ++r) std::memcpy(out + 2 * r, blk + r * row_bytes, 2);
      interleave_16(blk + 2, row_bytes, out + 16);
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

std::int64_t interleaved_bytes(const Matrix& w) {
  if (w.type != ElemType::Packed || !w.packed.spec) return 0;
  const X8Layout* layout = layout_for(*w.packed.spec);
  if (!layout || w.rows % kInterleaveRows != 0 || w.packed.cols % kernels::kRowDotChunk != 0) return 0;
  return w.rows / kInterleaveRows * layout->eight_rows(w.packed);
}

const std::uint8_t* InterleavedRows::rows(const Matrix& w) {
  std::call_once(once_, [&] {
    const std::int64_t bytes = interleaved_bytes(w);
    if (bytes == 0) return;
    const X8Layout& layout = *layout_for(*w.packed.spec);
    const std::int64_t groups = w.rows / kInterleaveRows, eight_rows = bytes / groups;
    bytes_.resize(static_cast<std::size_t>(bytes));
    std::uint8_t* dst = bytes_.data();
    parallel_for(
        static_cast<std::size_t>(groups),
        [&](std::size_t b, std::size_t e) {
          const auto g0 = static_cast<std::int64_t>(b);
          layout.interleave(w.packed, g0 * kInterleaveRows, static_cast<std::int64_t>(e - b) * kInterleaveRows,
                            dst + g0 * eight_rows);
        },
        16);
    source_ = w.packed.data.data();
    made_.store(true);
  });
  return made_.load() && source_ == w.packed.data.data() ? bytes_.data() : nullptr;
}

bool InterleavedRows::made() const { return made_.load(); }

std::size_t InterleavedRows::size() const { return made_.load() ? bytes_.size() : 0; }

bool interleave_for_decode(Matrix& w) {
  const kernels::RowDotSet* set = row_dot_set();
  if (!set || interleaved_bytes(w) == 0) return false;
  if (!w.interleaved) w.interleaved = std::make_shared<InterleavedRows>();
  const auto b = bind_row_dot(w, *set);  // makes the copy where it binds the kernel that reads it
  return b && b->row_group == kInterleaveRows;
}

kernels::RowDot kernels::RowDotSet::*interleaved_kernel(const formats::BlockFormatSpec& spec,
                                                         kernels::ActivationBlocks activations) {
  const X8Layout* layout = layout_for(spec);
  if (!layout) return nullptr;
  return activations == kernels::ActivationBlocks::Float ? layout->float_kernel : layout->kernel;
}

}  // namespace qlab::tensor
