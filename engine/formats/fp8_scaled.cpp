// Scaled FP8 (block-formats.md section 5) and int8 per channel (number-formats.md section 9).
//   fp8-tensor / fp8-channel: scale = amax / max_finite (448 for E4M3, 57344 for E5M2), per tensor
//     or per row; code = saturating FP8 encode(x / scale); w^ = FP8(code) * scale.
//   int8-ch: scale = amax / 127 per row; q = clamp(RNE(x / scale), -128, 127) as int8; w^ = q * scale.
//   An all-zero row (or tensor) gets scale 1, as ModelOpt's per-channel export does.
#include <algorithm>
#include <cmath>

#include "engine/formats/block_kernels.h"
#include "engine/formats/scalar.h"

namespace qlab::formats::detail {

namespace {

std::vector<float> row_amax(const BlockFormatSpec& spec, std::span<const float> x, std::int64_t rows,
                            std::int64_t cols, KernelPath path) {
  std::vector<float> m(static_cast<std::size_t>(rows));
  for_rows(rows, cols, path, [&](std::int64_t r0, std::int64_t r1) {
    for (std::int64_t r = r0; r < r1; ++r) {
      std::uint32_t b = amax_bits(x.data() + r * cols, cols);
      if (!bits_finite(b)) fail_non_finite(spec.name, x, r, cols);
      m[static_cast<std::size_t>(r)] = bits_f32(b);
    }
  });
  return m;
}

}  // namespace

void quantize_fp8(const BlockFormatSpec& spec, std::span<const float> x, QuantizedTensor& q, KernelPath path) {
  const std::int64_t rows = q.rows, cols = q.cols;
  const float max_finite = spec.e5m2 ? 57344.0f : 448.0f;
  std::vector<float> amax = row_amax(spec, x, rows, cols, path);
  std::vector<float> scale(static_cast<std::size_t>(rows));
  if (spec.kind == BlockKind::FP8Tensor) {
    float a = *std::max_element(amax.begin(), amax.end());
    float s = a > 0.0f ? a / max_finite : 1.0f;
    std::fill(scale.begin(), scale.end(), s);
    q.tensor_scales = {s};
  } else {
    for (std::size_t r = 0; r < scale.size(); ++r) scale[r] = amax[r] > 0.0f ? amax[r] / max_finite : 1.0f;
    q.scales.resize(scale.size() * 4);
    for (std::size_t r = 0; r < scale.size(); ++r) store_f32(q.scales.data() + r * 4, scale[r]);
  }
  q.data.assign(static_cast<std::size_t>(rows * cols), 0);
  for_rows(rows, cols, path, [&](std::int64_t r0, std::int64_t r1) {
    for (std::int64_t r = r0; r < r1; ++r) {
      const float s = scale[static_cast<std::size_t>(r)];
      const float* w = x.data() + r * cols;
      std::uint8_t* o = q.data.data() + r * cols;
      for (std::int64_t i = 0; i < cols; ++i)
        o[i] = spec.e5m2 ? f32_to_e5m2_sat(w[i] / s) : f32_to_e4m3_sat(w[i] / s);
    }
  });
}

void dequantize_fp8(const BlockFormatSpec& spec, const QuantizedTensor& q, std::span<float> out,
                    KernelPath path) {
  const std::int64_t cols = q.cols;
  float table[256];
  for (std::uint32_t c = 0; c < 256; ++c)
    table[c] = spec.e5m2 ? e5m2_to_f32(static_cast<std::uint8_t>(c)) : e4m3_to_f32(static_cast<std::uint8_t>(c));
  for_rows(q.rows, cols, path, [&](std::int64_t r0, std::int64_t r1) {
    for (std::int64_t r = r0; r < r1; ++r) {
      const float s = spec.kind == BlockKind::FP8Tensor ? q.tensor_scales[0] : load_f32(q.scales.data() + r * 4);
      const std::uint8_t* c = q.data.data() + r * cols;
      float* o = out.data() + r * cols;
      for (std::int64_t i = 0; i < cols; ++i) o[i] = table[c[i]] * s;
    }
  });
}

void quantize_int8_channel(std::span<const float> x, QuantizedTensor& q, KernelPath path) {
  const std::int64_t rows = q.rows, cols = q.cols;
  static const BlockFormatSpec spec = *block_format_from_name("int8-ch");
  std::vector<float> amax = row_amax(spec, x, rows, cols, path);
  q.data.assign(static_cast<std::size_t>(rows * cols), 0);
  q.scales.resize(static_cast<std::size_t>(rows) * 4);
  for_rows(rows, cols, path, [&](std::int64_t r0, std::int64_t r1) {
    for (std::int64_t r = r0; r < r1; ++r) {
      const float a = amax[static_cast<std::size_t>(r)];
      const float s = a > 0.0f ? a / 127.0f : 1.0f;
      store_f32(q.scales.data() + r * 4, s);
      const float* w = x.data() + r * cols;
      std::uint8_t* o = q.data.data() + r * cols;
      if (path == KernelPath::Reference) {
        for (std::int64_t i = 0; i < cols; ++i) {
          float v = std::clamp(std::nearbyint(w[i] / s), -128.0f, 127.0f);
          o[i] = static_cast<std::uint8_t>(static_cast<std::int8_t>(v));
        }
        continue;
      }
      // |x / s| <= 127 by construction; (v + 1.5 * 2^23) - 1.5 * 2^23 is RNE and vectorizes.
      constexpr float kMagic = 12582912.0f;
      for (std::int64_t i = 0; i < cols; ++i) {
        float v = w[i] / s;
        v = v < -128.0f ? -128.0f : v;
        v = v > 127.0f ? 127.0f : v;
        o[i] = static_cast<std::uint8_t>(static_cast<std::int32_t>((v + kMagic) - kMagic));
      }
    }
  });
}

void dequantize_int8_channel(const QuantizedTensor& q, std::span<float> out, KernelPath path) {
  const std::int64_t cols = q.cols;
  for_rows(q.rows, cols, path, [&](std::int64_t r0, std::int64_t r1) {
    for (std::int64_t r = r0; r < r1; ++r) {
      const float s = load_f32(q.scales.data() + r * 4);
      const std::uint8_t* c = q.data.data() + r * cols;
      float* o = out.data() + r * cols;
      for (std::int64_t i = 0; i < cols; ++i) o[i] = static_cast<float>(static_cast<std::int8_t>(c[i])) * s;
    }
  });
}

}  // namespace qlab::formats::detail
