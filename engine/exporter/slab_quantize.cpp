// Slabs of a Linear weight quantized with a given per-tensor scale (slab_quantize.h).
#include "engine/exporter/slab_quantize.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "engine/core/error.h"
#include "engine/core/threads.h"
#include "engine/formats/block_params.h"
#include "engine/formats/format_lookup.h"
#include "engine/formats/scalar.h"

namespace qlab::exporter {

namespace {

constexpr std::int64_t kNvfp4Block = 16;

void quantize_nvfp4_rows(const float* x, std::int64_t r0, std::int64_t r1, std::int64_t cols, float s2,
                         std::uint8_t* data, std::uint8_t* scales) {
  const std::int64_t nb = cols / kNvfp4Block;
  for (std::int64_t r = r0; r < r1; ++r) {
    for (std::int64_t b = 0; b < nb; ++b) {
      const float* w = x + r * cols + b * kNvfp4Block;
      float amax = 0.0f;
      for (std::int64_t i = 0; i < kNvfp4Block; ++i) amax = std::max(amax, std::fabs(w[i]));
      const formats::Nvfp4BlockScale s = formats::nvfp4_block_scale(amax, s2);
      scales[r * nb + b] = s.code;
      std::uint8_t* out = data + (r * cols + b * kNvfp4Block) / 2;
      for (std::int64_t k = 0; k < kNvfp4Block / 2; ++k)  // even element in the low nibble
        out[k] = static_cast<std::uint8_t>(formats::nvfp4_encode(w[2 * k], s.e) |
                                           (formats::nvfp4_encode(w[2 * k + 1], s.e) << 4));
    }
  }
}

}  // namespace

float tensor_scale_for(const io::QuantScheme& s, float amax) {
  if (s.format == "nvfp4") {
    if (s.layout == io::QuantLayout::CompressedTensors) return amax > 0.0f ? 1.0f / (2688.0f / amax) : 1.0f;
    return formats::nvfp4_tensor_scale(amax);
  }
  if (s.format == "fp8-tensor") return formats::fp8_scale(amax, false);
  return 0.0f;
}

formats::QuantizedTensor quantize_slab(const formats::BlockFormatSpec& spec, std::span<const float> x,
                                       std::int64_t rows, std::int64_t cols, float tensor_scale) {
  if (spec.kind != formats::BlockKind::NVFP4 && spec.kind != formats::BlockKind::FP8Tensor)
    return formats::quantize(spec, x, rows, cols);
  formats::check_shape(spec, rows, cols);
  formats::QuantizedTensor q;
  q.format = spec.name;
  q.rows = rows;
  q.cols = cols;
  q.tensor_scales = {tensor_scale};
  const std::size_t grain = grain_for_work(static_cast<double>(cols) * 4);
  if (spec.kind == formats::BlockKind::NVFP4) {
    q.data.assign(static_cast<std::size_t>(rows * cols / 2), 0);
    q.scales.assign(static_cast<std::size_t>(rows * cols / kNvfp4Block), 0);
    parallel_for(static_cast<std::size_t>(rows), [&](std::size_t r0, std::size_t r1) {
      quantize_nvfp4_rows(x.data(), static_cast<std::int64_t>(r0), static_cast<std::int64_t>(r1), cols,
                          tensor_scale, q.data.data(), q.scales.data());
    }, grain);
  } else {
    q.data.assign(static_cast<std::size_t>(rows * cols), 0);
    parallel_for(static_cast<std::size_t>(rows * cols), [&](std::size_t i0, std::size_t i1) {
      for (std::size_t i = i0; i < i1; ++i) q.data[i] = formats::fp8_encode(x[i], tensor_scale, spec.e5m2);
    }, grain * static_cast<std::size_t>(cols));
  }
  return q;
}

void check_error_bound(const formats::QuantizedTensor& q, std::span<const float> source,
                       std::span<const float> dq, const std::string& tensor, std::int64_t row0) {
  const std::int64_t rows = q.rows, cols = q.cols;
  const formats::BlockFormatSpec& spec = formats::block_format(q.format);
  auto report = [&](std::int64_t r, std::int64_t c, double bound) {
    const std::size_t i = static_cast<std::size_t>(r * cols + c);
    fail("tensor '{}' row {} column {}: {} quantizes {} to {}, outside {}'s bound {:.3g}", tensor, row0 + r, c,
         q.format, source[i], dq[i], q.format, bound);
  };
  const bool fp4 = spec.kind == formats::BlockKind::NVFP4 || spec.kind == formats::BlockKind::MXFP4;
  if (fp4) {
    const std::int64_t block = spec.block_size, nb = cols / block;
    for (std::int64_t r = 0; r < rows; ++r) {
      for (std::int64_t b = 0; b < nb; ++b) {
        const std::uint8_t code = q.scales[static_cast<std::size_t>(r * nb + b)];
        const double e = spec.kind == formats::BlockKind::NVFP4
                             ? static_cast<double>(formats::e4m3_to_f32(code)) * q.tensor_scales[0]
                             : std::ldexp(1.0, static_cast<int>(code) - 127);
        double a = 0;
        for (std::int64_t c = b * block; c < (b + 1) * block; ++c)
          a = std::max(a, std::fabs(static_cast<double>(source[static_cast<std::size_t>(r * cols + c)])));
        const double bound = (e + std::max(0.0, a - 6 * e)) * (1 + 1e-6);
        for (std::int64_t c = b * block; c < (b + 1) * block; ++c) {
          const std::size_t i = static_cast<std::size_t>(r * cols + c);
          if (std::fabs(static_cast<double>(dq[i]) - source[i]) > bound) report(r, c, bound);
        }
      }
    }
    return;
  }
  for (std::int64_t r = 0; r < rows; ++r) {
    float e = 0;
    if (spec.kind == formats::BlockKind::FP8Tensor) {
      e = q.tensor_scales[0];
    } else {
      std::memcpy(&e, q.scales.data() + r * 4, sizeof e);
    }
    for (std::int64_t c = 0; c < cols; ++c) {
      const std::size_t i = static_cast<std::size_t>(r * cols + c);
      const double bound = std::max(std::fabs(static_cast<double>(source[i])) / 16, e / 1024.0) * (1 + 1e-6);
      if (std::fabs(static_cast<double>(dq[i]) - source[i]) > bound) report(r, c, bound);
    }
  }
}

std::uint64_t hash_values(std::span<const float> v, std::uint64_t h) {
  for (float x : v) {  // one 32-bit word per step (FNV-1a's step on words, not bytes)
    std::uint32_t u;
    std::memcpy(&u, &x, sizeof u);
    h = (h ^ u) * 0x100000001b3ull;
  }
  return h;
}

}  // namespace qlab::exporter
