// NF4 blockwise as bitsandbytes stores it (block-formats.md section 3), with and without double
// quantization of the block absmax.
//   level 1: flattened tensor, blocks of 64 (a short last block keeps its own absmax);
//            code = NF4 encode(x * (1 / absmax)) — bnb's kernel multiplies by the reciprocal;
//            two codes per byte, first element in the HIGH nibble. An all-zero block codes 7 (0.0).
//   level 2 (nf4-dq): offset = mean(absmax) (torch's float32 sum order); c = absmax - offset in
//            blocks of 256, each with its own
//            fp32 absmax2; code = bnb_dynamic_encode(c * (1 / absmax2)).
//   dequant: absmax^ = DYN[code] * absmax2 + offset (nf4-dq) ; w^ = NF4[code] * absmax
#include <algorithm>
#include <cmath>

#include "engine/formats/block_dynamic_map.h"
#include "engine/formats/block_kernels.h"
#include "engine/formats/scalar.h"

namespace qlab::formats::detail {

namespace {

constexpr std::int64_t kBlock = 64;
constexpr std::int64_t kBlock2 = 256;

std::uint8_t nf4_code(float scaled, KernelPath path) {
  scaled = std::clamp(scaled, -1.0f, 1.0f);
  return path == KernelPath::Reference ? static_cast<std::uint8_t>(encode(ScalarFormat::NF4, scaled))
                                       : f32_to_nf4(scaled);
}

// Codes of block b (n elements) into `codes`, returns the block absmax.
float quantize_block(const float* w, std::int64_t n, std::uint8_t* codes, KernelPath path) {
  float amax;
  if (path == KernelPath::Reference) {
    amax = 0.0f;
    for (std::int64_t i = 0; i < n; ++i) amax = std::max(amax, std::fabs(w[i]));
  } else {
    amax = bits_f32(amax_bits(w, n));
  }
  if (amax == 0.0f) {
    std::fill_n(codes, n, std::uint8_t{7});
    return amax;
  }
  const float recip = 1.0f / amax;
  for (std::int64_t i = 0; i < n; ++i) codes[i] = nf4_code(w[i] * recip, path);
  return amax;
}

// torch.sum of a contiguous float32 vector on the CPU (ATen SumKernel.cpp, vectorized_inner_sum):
// float accumulators, 8-lane vectors, 4 vector accumulators (row_sum's ilp factor) fed by a
// cascade of 4 levels of 16 rows, the scalar tail first, then the lanes in order. The order fixes
// the rounding, so bnb's double-quant offset comes out bit for bit (checked against the fixtures).
float torch_cpu_sum(const float* x, std::int64_t n) {
  constexpr int kLanes = 8, kIlp = 4, kLevels = 4;
  const std::int64_t vec_size = n / kLanes, rows = vec_size / kIlp;
  float acc[kLevels][kIlp][kLanes] = {};
  auto add_row = [&](std::int64_t row) {
    for (int k = 0; k < kIlp; ++k)
      for (int l = 0; l < kLanes; ++l) acc[0][k][l] += x[(row * kIlp + k) * kLanes + l];
  };
  int ceil_log2 = 1;
  while ((std::int64_t{1} << ceil_log2) < rows) ++ceil_log2;
  const int level_power = std::max(4, ceil_log2 / kLevels);
  const std::int64_t level_step = std::int64_t{1} << level_power, level_mask = level_step - 1;
  std::int64_t i = 0;
  while (i + level_step <= rows) {
    for (std::int64_t j = 0; j < level_step; ++j, ++i) add_row(i);
    for (int j = 1; j < kLevels; ++j) {
      for (int k = 0; k < kIlp; ++k)
        for (int l = 0; l < kLanes; ++l) {
          acc[j][k][l] += acc[j - 1][k][l];
          acc[j - 1][k][l] = 0.0f;
        }
      if ((i & (level_mask << (j * level_power))) != 0) break;
    }
  }
  for (; i < rows; ++i) add_row(i);
  for (int j = 1; j < kLevels; ++j)
    for (int k = 0; k < kIlp; ++k)
      for (int l = 0; l < kLanes; ++l) acc[0][k][l] += acc[j][k][l];
  for (std::int64_t v = rows * kIlp; v < vec_size; ++v)
    for (int l = 0; l < kLanes; ++l) acc[0][0][l] += x[v * kLanes + l];
  for (int k = 1; k < kIlp; ++k)
    for (int l = 0; l < kLanes; ++l) acc[0][0][l] += acc[0][k][l];
  float total = 0.0f;
  for (std::int64_t k = vec_size * kLanes; k < n; ++k) total += x[k];
  for (int l = 0; l < kLanes; ++l) total += acc[0][0][l];
  return total;
}

void quantize_nf4(std::span<const float> x, QuantizedTensor& q, bool double_quant, KernelPath path) {
  const std::int64_t n = q.rows * q.cols;
  const std::int64_t blocks = (n + kBlock - 1) / kBlock;
  // Rows only to name where a non-finite value sits; the blocks run over the flattened tensor.
  for_rows(q.rows, q.cols, path, [&](std::int64_t r0, std::int64_t r1) {
    for (std::int64_t r = r0; r < r1; ++r)
      if (!bits_finite(amax_bits(x.data() + r * q.cols, q.cols))) fail_non_finite(q.format, x, r, q.cols);
  });
  std::vector<float> absmax(static_cast<std::size_t>(blocks));
  q.data.assign(static_cast<std::size_t>((n + 1) / 2), 0);
  for_rows(blocks, kBlock, path, [&](std::int64_t b0, std::int64_t b1) {
    std::uint8_t codes[kBlock];
    for (std::int64_t b = b0; b < b1; ++b) {
      const std::int64_t len = std::min(kBlock, n - b * kBlock);
      absmax[static_cast<std::size_t>(b)] = quantize_block(x.data() + b * kBlock, len, codes, path);
      if (len % 2) codes[len] = 0;
      std::uint8_t* out = q.data.data() + b * kBlock / 2;
      for (std::int64_t k = 0; k < (len + 1) / 2; ++k)
        out[k] = static_cast<std::uint8_t>((codes[2 * k] << 4) | (codes[2 * k + 1] & 0xF));
    }
  });
  if (!double_quant) {
    q.scales.resize(static_cast<std::size_t>(blocks) * 4);
    for (std::int64_t b = 0; b < blocks; ++b) store_f32(q.scales.data() + b * 4, absmax[static_cast<std::size_t>(b)]);
    return;
  }
  // Level 2. offset = absmax.mean() as torch computes it on the CPU (sum, then divide).
  const float offset = torch_cpu_sum(absmax.data(), blocks) / static_cast<float>(blocks);
  const std::int64_t blocks2 = (blocks + kBlock2 - 1) / kBlock2;
  const auto& map = bnb_dynamic_map();
  q.scales.assign(static_cast<std::size_t>(blocks), 0);
  q.aux.resize(static_cast<std::size_t>(blocks2) * 4);
  q.tensor_scales = {offset};
  for (std::int64_t b2 = 0; b2 < blocks2; ++b2) {
    const std::int64_t first = b2 * kBlock2, len = std::min(kBlock2, blocks - first);
    float c[kBlock2];
    float amax2 = 0.0f;
    for (std::int64_t i = 0; i < len; ++i) {
      c[i] = absmax[static_cast<std::size_t>(first + i)] - offset;
      amax2 = std::max(amax2, std::fabs(c[i]));
    }
    store_f32(q.aux.data() + b2 * 4, amax2);
    const float recip = amax2 == 0.0f ? 0.0f : 1.0f / amax2;
    for (std::int64_t i = 0; i < len; ++i)
      q.scales[static_cast<std::size_t>(first + i)] = bnb_dynamic_encode(map, c[i] * recip);
  }
}

// Elements [r0 * cols, (r0 + n) * cols) of the flattened tensor: a block of 64 may straddle rows, and
// element i sits in byte i / 2 (blocks start at even elements), high nibble when i is even.
void dequantize_nf4_rows(const QuantizedView& q, std::int64_t r0, std::int64_t n, float* out, bool double_quant,
                         KernelPath path) {
  const std::int64_t first = r0 * q.cols, end = (r0 + n) * q.cols;
  const auto& map = bnb_dynamic_map();
  for (std::int64_t i = first; i < end;) {
    const std::int64_t b = i / kBlock, block_end = std::min(end, (b + 1) * kBlock);
    float absmax;
    if (double_quant) {
      const float amax2 = load_f32(q.aux.data() + (b / kBlock2) * 4);
      absmax = map[q.scales[static_cast<std::size_t>(b)]] * amax2;
      absmax = absmax + q.tensor_scales[0];
    } else {
      absmax = load_f32(q.scales.data() + b * 4);
    }
    for (; i < block_end; ++i) {
      const std::uint8_t byte = q.data[static_cast<std::size_t>(i / 2)];
      const std::uint8_t code = i % 2 == 0 ? byte >> 4 : byte & 0xF;
      out[i - first] = (path == KernelPath::Reference ? decode(ScalarFormat::NF4, code) : nf4_to_f32(code)) * absmax;
    }
  }
}

StorageSizes nf4_sizes(const BlockFormatSpec&, std::int64_t rows, std::int64_t cols) {
  const std::uint64_t n = u64(rows) * u64(cols), blocks = (n + 63) / 64;
  StorageSizes s;
  s.data = (n + 1) / 2;
  s.scales = 4 * blocks;
  return s;
}

StorageSizes nf4_dq_sizes(const BlockFormatSpec&, std::int64_t rows, std::int64_t cols) {
  const std::uint64_t n = u64(rows) * u64(cols), blocks = (n + 63) / 64;
  StorageSizes s;
  s.data = (n + 1) / 2;
  s.scales = blocks;
  s.aux = 4 * ((blocks + 255) / 256);
  s.tensor_scales = 4;
  return s;
}

}  // namespace

const BlockCodec nf4_codec = {
    nf4_sizes,
    [](const BlockFormatSpec&, std::span<const float> x, QuantizedTensor& q, KernelPath path) {
      quantize_nf4(x, q, false, path);
    },
    [](const BlockFormatSpec&, const QuantizedView& q, std::int64_t r0, std::int64_t n, float* out, KernelPath path) {
      dequantize_nf4_rows(q, r0, n, out, false, path);
    }};

const BlockCodec nf4_dq_codec = {
    nf4_dq_sizes,
    [](const BlockFormatSpec&, std::span<const float> x, QuantizedTensor& q, KernelPath path) {
      quantize_nf4(x, q, true, path);
    },
    [](const BlockFormatSpec&, const QuantizedView& q, std::int64_t r0, std::int64_t n, float* out, KernelPath path) {
      dequantize_nf4_rows(q, r0, n, out, true, path);
    }};

}  // namespace qlab::formats::detail
