// Row-level dispatch over the block codecs, and the tensor-level entry points. Rows are quantized
// independently (ggml's weighted paths work per row; its reference paths per block), so any split
// of rows across threads gives the same bytes. Blocks are copied in and out with memcpy: the
// bytes may live in a file mapping at any alignment.
#include "engine/gguf/quantize.h"

#include <cmath>
#include <cstring>

#include "engine/core/error.h"
#include "engine/core/threads.h"
#include "engine/gguf/half.h"
#include "engine/gguf/quant_k.h"
#include "engine/gguf/quant_legacy.h"
#include "engine/gguf/quant_mxfp4.h"
#include "engine/gguf/quant_rows32.h"

namespace qlab::gguf {

namespace {

// ---- per-type row codecs ----------------------------------------------------------------------

template <typename Block>
using RefFn = void (*)(const float*, Block&);
template <typename Block>
using KWeightedFn = void (*)(const float*, const float*, Block&);
template <typename Block>
using DequantFn = void (*)(const Block&, float*);

template <typename Block, int QK>
void rows_ref(RefFn<Block> fn, const float* src, std::int64_t rows, std::int64_t cols, std::byte* dst) {
  Block b;
  const std::int64_t n = rows * cols;
  for (std::int64_t i = 0; i < n; i += QK) {
    fn(src + i, b);
    std::memcpy(dst, &b, sizeof b);
    dst += sizeof b;
  }
}

// Legacy weighted types, a row at a time (the row's mean square enters every block's weights).
void rows_weighted(void (*row)(const float*, const float*, std::int64_t, std::byte*), const float* src,
                   std::int64_t rows, std::int64_t cols, const float* imatrix, std::byte* dst, std::size_t block_bytes) {
  const auto row_bytes = static_cast<std::size_t>(cols / 32) * block_bytes;
  for (std::int64_t r = 0; r < rows; ++r) row(src + r * cols, imatrix, cols, dst + static_cast<std::size_t>(r) * row_bytes);
}

template <typename Block>
void rows_k_weighted(KWeightedFn<Block> fn, const float* src, std::int64_t rows, std::int64_t cols,
                     const float* imatrix, std::byte* dst) {
  Block b;
  for (std::int64_t r = 0; r < rows; ++r) {
    const float* x = src + r * cols;
    for (std::int64_t i = 0; i < cols; i += kQK_K) {
      fn(x + i, imatrix + i, b);
      std::memcpy(dst, &b, sizeof b);
      dst += sizeof b;
    }
  }
}

template <typename Block, int QK>
void rows_dequant(DequantFn<Block> fn, const std::byte* src, std::int64_t n, float* dst) {
  Block b;
  for (std::int64_t i = 0; i < n; i += QK) {
    std::memcpy(&b, src, sizeof b);
    src += sizeof b;
    fn(b, dst + i);
  }
}

void quantize_rows_unchecked(GgmlType t, const float* src, std::int64_t rows, std::int64_t cols, const float* imatrix,
                             std::byte* dst) {
  const bool w = imatrix != nullptr;
  const std::int64_t n = rows * cols;
  switch (t) {
    case GgmlType::F32:
      std::memcpy(dst, src, static_cast<std::size_t>(n) * sizeof(float));
      return;
    case GgmlType::F16:
      return fp32_to_fp16_row(src, n, dst);
    case GgmlType::BF16:
      for (std::int64_t i = 0; i < n; ++i) {
        const std::uint16_t h = fp32_to_bf16(src[i]);
        std::memcpy(dst + 2 * i, &h, 2);
      }
      return;
    case GgmlType::Q4_0:
      return w ? rows_weighted(quantize_q4_0_weighted_row, src, rows, cols, imatrix, dst, sizeof(BlockQ4_0))
               : quantize_q4_0_ref_blocks(src, n / kQK4_0, dst);
    case GgmlType::Q4_1:
      return w ? rows_weighted(quantize_q4_1_weighted_row, src, rows, cols, imatrix, dst, sizeof(BlockQ4_1))
               : quantize_q4_1_ref_blocks(src, n / kQK4_1, dst);
    case GgmlType::Q5_0:
      return w ? rows_weighted(quantize_q5_0_weighted_row, src, rows, cols, imatrix, dst, sizeof(BlockQ5_0))
               : quantize_q5_0_ref_blocks(src, n / kQK5_0, dst);
    case GgmlType::Q5_1:
      return w ? rows_weighted(quantize_q5_1_weighted_row, src, rows, cols, imatrix, dst, sizeof(BlockQ5_1))
               : quantize_q5_1_ref_blocks(src, n / kQK5_1, dst);
    case GgmlType::Q8_0:
      return quantize_q8_0_ref_blocks(src, n / kQK8_0, dst);
    case GgmlType::MXFP4:
      return quantize_mxfp4_blocks(src, n / kQK_MXFP4, dst);
    case GgmlType::Q2_K:
      return w ? rows_k_weighted<BlockQ2_K>(quantize_q2_k_weighted, src, rows, cols, imatrix, dst)
               : rows_ref<BlockQ2_K, kQK_K>(quantize_q2_k_ref, src, rows, cols, dst);
    case GgmlType::Q3_K:
      return w ? rows_k_weighted<BlockQ3_K>(quantize_q3_k_weighted, src, rows, cols, imatrix, dst)
               : rows_ref<BlockQ3_K, kQK_K>(quantize_q3_k_ref, src, rows, cols, dst);
    case GgmlType::Q4_K:
      return w ? rows_k_weighted<BlockQ4_K>(quantize_q4_k_weighted, src, rows, cols, imatrix, dst)
               : rows_ref<BlockQ4_K, kQK_K>(quantize_q4_k_ref, src, rows, cols, dst);
    case GgmlType::Q5_K:
      return w ? rows_k_weighted<BlockQ5_K>(quantize_q5_k_weighted, src, rows, cols, imatrix, dst)
               : rows_ref<BlockQ5_K, kQK_K>(quantize_q5_k_ref, src, rows, cols, dst);
    case GgmlType::Q6_K:
      return w ? rows_k_weighted<BlockQ6_K>(quantize_q6_k_weighted, src, rows, cols, imatrix, dst)
               : rows_ref<BlockQ6_K, kQK_K>(quantize_q6_k_ref, src, rows, cols, dst);
    default:
      fail("qlab does not write ggml type {} (it writes {})", type_name(t), converted_type_names());
  }
}

// ---- checks ---------------------------------------------------------------------------------------

std::uint64_t checked_bytes(GgmlType t, std::int64_t rows, std::int64_t cols, std::string_view name) {
  const GgmlTypeTraits& tr = type_traits(t);
  if (!tr.qlab_converts) fail("{}: qlab cannot convert ggml type {} (it converts {})", name, tr.name, converted_type_names());
  if (rows < 0 || cols <= 0) fail("{}: bad shape {} x {}", name, rows, cols);
  const std::uint64_t rb = row_bytes(t, cols, name);
  if (rows > 0 && rb > UINT64_MAX / static_cast<std::uint64_t>(rows)) fail("{}: {} x {} is too large", name, rows, cols);
  return rb * static_cast<std::uint64_t>(rows);
}

// A value is not finite when its exponent bits are all ones. Runs of 64 are tested without a branch
// per value (the scan is as long as the fastest quantizer's own work); the loop after them finds the
// first bad value for the message, or checks the tail.
void check_finite(const float* v, std::int64_t n, std::int64_t cols, std::string_view name, std::string_view what) {
  constexpr std::int64_t kRun = 64;
  std::int64_t i = 0;
  for (; i + kRun <= n; i += kRun) {
    std::uint32_t bad = 0;
    for (std::int64_t j = 0; j < kRun; ++j) {
      std::uint32_t u;
      std::memcpy(&u, v + i + j, 4);
      bad |= static_cast<std::uint32_t>((u & 0x7F800000u) == 0x7F800000u);
    }
    if (bad) break;
  }
  for (; i < n; ++i)
    if (!std::isfinite(v[i]))
      fail("{}: {} has a non-finite value ({}) at row {}, column {}", name, what, v[i], i / cols, i % cols);
}

bool half_finite(std::uint16_t h) { return (h & 0x7C00u) != 0x7C00u; }

template <typename Block>
void check_scales(std::span<const std::byte> data, std::string_view name, std::string_view type) {
  const std::size_t nb = data.size() / sizeof(Block);
  Block b;
  for (std::size_t i = 0; i < nb; ++i) {
    std::memcpy(&b, data.data() + i * sizeof b, sizeof b);
    bool ok = half_finite(b.d);
    if constexpr (requires { b.m; }) ok = ok && half_finite(b.m);
    if constexpr (requires { b.dmin; }) ok = ok && half_finite(b.dmin);
    if (!ok)
      fail("{}: {} block {} has a non-finite fp16 scale (values too large for the type's fp16 scale)", name, type, i);
  }
}

}  // namespace

bool uses_imatrix(GgmlType t) {
  switch (t) {
    case GgmlType::Q4_0: case GgmlType::Q4_1: case GgmlType::Q5_0: case GgmlType::Q5_1:
    case GgmlType::Q2_K: case GgmlType::Q3_K: case GgmlType::Q4_K: case GgmlType::Q5_K: case GgmlType::Q6_K:
      return true;
    default:
      return false;
  }
}

void validate_tensor_data(GgmlType t, std::span<const std::byte> data, std::string_view name) {
  const GgmlTypeTraits& tr = type_traits(t);
  if (data.size() % tr.bytes_per_block != 0)
    fail("{}: {} bytes is not a whole number of {} blocks ({} bytes each)", name, data.size(), tr.name, tr.bytes_per_block);
  switch (t) {
    case GgmlType::F32: {
      for (std::size_t i = 0; i < data.size() / 4; ++i) {
        float v;
        std::memcpy(&v, data.data() + 4 * i, 4);
        if (!std::isfinite(v)) fail("{}: f32 value {} is {}", name, i, v);
      }
      return;
    }
    case GgmlType::F16:
    case GgmlType::BF16: {
      const std::uint16_t exp_mask = t == GgmlType::F16 ? 0x7C00u : 0x7F80u;
      for (std::size_t i = 0; i < data.size() / 2; ++i) {
        std::uint16_t h;
        std::memcpy(&h, data.data() + 2 * i, 2);
        if ((h & exp_mask) == exp_mask) fail("{}: {} value {} is not finite (too large for the type?)", name, tr.name, i);
      }
      return;
    }
    case GgmlType::Q4_0: return check_scales<BlockQ4_0>(data, name, tr.name);
    case GgmlType::Q4_1: return check_scales<BlockQ4_1>(data, name, tr.name);
    case GgmlType::Q5_0: return check_scales<BlockQ5_0>(data, name, tr.name);
    case GgmlType::Q5_1: return check_scales<BlockQ5_1>(data, name, tr.name);
    case GgmlType::Q8_0: return check_scales<BlockQ8_0>(data, name, tr.name);
    case GgmlType::Q2_K: return check_scales<BlockQ2_K>(data, name, tr.name);
    case GgmlType::Q3_K: return check_scales<BlockQ3_K>(data, name, tr.name);
    case GgmlType::Q4_K: return check_scales<BlockQ4_K>(data, name, tr.name);
    case GgmlType::Q5_K: return check_scales<BlockQ5_K>(data, name, tr.name);
    case GgmlType::Q6_K: return check_scales<BlockQ6_K>(data, name, tr.name);
    case GgmlType::MXFP4:
      for (std::size_t i = 0; i < data.size() / sizeof(BlockMXFP4); ++i)
        if (std::to_integer<std::uint8_t>(data[i * sizeof(BlockMXFP4)]) == 0xFF)
          fail("{}: mxfp4 block {} has the invalid exponent 0xFF", name, i);
      return;
    default:
      return;  // types qlab does not convert: nothing it can check
  }
}

void quantize_rows(GgmlType t, const float* src, std::int64_t rows, std::int64_t cols, const float* imatrix,
                   std::span<std::byte> dst, std::string_view name) {
  const std::uint64_t bytes = checked_bytes(t, rows, cols, name);
  if (dst.size() != bytes) fail("{}: output buffer of {} bytes, {} needed", name, dst.size(), bytes);
  check_finite(src, rows * cols, cols, name, "the input");
  if (imatrix) check_finite(imatrix, cols, cols, name, "the importance matrix");
  quantize_rows_unchecked(t, src, rows, cols, uses_imatrix(t) ? imatrix : nullptr, dst.data());
  validate_tensor_data(t, dst, name);
}

std::vector<std::byte> quantize_tensor(GgmlType t, const float* src, std::int64_t rows, std::int64_t cols,
                                       const float* imatrix, std::string_view name) {
  const std::uint64_t bytes = checked_bytes(t, rows, cols, name);
  const std::uint64_t rb = bytes / static_cast<std::uint64_t>(rows > 0 ? rows : 1);
  std::vector<std::byte> out(static_cast<std::size_t>(bytes));
  // Rows in parallel. The k-quant searches cost on the order of a hundred operations per value
  // (the legacy types far fewer); 50 per value keeps chunks worth a thread for every type.
  const std::size_t grain = grain_for_work(50.0 * static_cast<double>(cols));
  parallel_for(static_cast<std::size_t>(rows), [&](std::size_t begin, std::size_t end) {
    const auto b = static_cast<std::int64_t>(begin), n = static_cast<std::int64_t>(end - begin);
    quantize_rows(t, src + b * cols, n, cols, imatrix, std::span<std::byte>(out).subspan(begin * rb, (end - begin) * rb), name);
  }, grain);
  return out;
}

void dequantize_rows(GgmlType t, std::span<const std::byte> src, std::int64_t cols, std::span<float> dst,
                     std::string_view name) {
  const GgmlTypeTraits& tr = type_traits(t);
  if (!tr.qlab_converts) fail("{}: qlab cannot read ggml type {} (it reads {})", name, tr.name, converted_type_names());
  const std::uint64_t rb = row_bytes(t, cols, name);
  if (cols <= 0 || src.size() % rb != 0) fail("{}: {} bytes is not a whole number of {}-element {} rows", name, src.size(), cols, tr.name);
  const auto n = static_cast<std::int64_t>(src.size() / rb) * cols;
  if (dst.size() != static_cast<std::size_t>(n)) fail("{}: output of {} values, {} needed", name, dst.size(), n);
  const std::byte* s = src.data();
  float* y = dst.data();
  switch (t) {
    case GgmlType::F32: std::memcpy(y, s, src.size()); return;
    case GgmlType::F16:
      for (std::int64_t i = 0; i < n; ++i) {
        std::uint16_t h;
        std::memcpy(&h, s + 2 * i, 2);
        y[i] = fp16_to_fp32(h);
      }
      return;
    case GgmlType::BF16:
      for (std::int64_t i = 0; i < n; ++i) {
        std::uint16_t h;
        std::memcpy(&h, s + 2 * i, 2);
        y[i] = bf16_to_fp32(h);
      }
      return;
    case GgmlType::Q4_0: return rows_dequant<BlockQ4_0, kQK4_0>(dequantize_q4_0, s, n, y);
    case GgmlType::Q4_1: return rows_dequant<BlockQ4_1, kQK4_1>(dequantize_q4_1, s, n, y);
    case GgmlType::Q5_0: return rows_dequant<BlockQ5_0, kQK5_0>(dequantize_q5_0, s, n, y);
    case GgmlType::Q5_1: return rows_dequant<BlockQ5_1, kQK5_1>(dequantize_q5_1, s, n, y);
    case GgmlType::Q8_0: return rows_dequant<BlockQ8_0, kQK8_0>(dequantize_q8_0, s, n, y);
    case GgmlType::MXFP4: return rows_dequant<BlockMXFP4, kQK_MXFP4>(dequantize_mxfp4, s, n, y);
    case GgmlType::Q2_K: return rows_dequant<BlockQ2_K, kQK_K>(dequantize_q2_k, s, n, y);
    case GgmlType::Q3_K: return rows_dequant<BlockQ3_K, kQK_K>(dequantize_q3_k, s, n, y);
    case GgmlType::Q4_K: return rows_dequant<BlockQ4_K, kQK_K>(dequantize_q4_k, s, n, y);
    case GgmlType::Q5_K: return rows_dequant<BlockQ5_K, kQK_K>(dequantize_q5_k, s, n, y);
    case GgmlType::Q6_K: return rows_dequant<BlockQ6_K, kQK_K>(dequantize_q6_k, s, n, y);
    default: fail("{}: qlab cannot read ggml type {}", name, tr.name);
  }
}

}  // namespace qlab::gguf
