// Scaled FP8 (block-formats.md section 5) and int8 per channel (number-formats.md section 9).
//   fp8-tensor / fp8-channel: scale = amax / max_finite (448 for E4M3, 57344 for E5M2), per tensor
//     or per row; code = saturating FP8 encode(x / scale); w^ = FP8(code) * scale.
//   int8-ch: scale = amax / 127 per row; q = clamp(RNE(x / scale), -128, 127) as int8; w^ = q * scale.
//   An all-zero row (or tensor) gets scale 1, as ModelOpt's per-channel export does.
#include <algorithm>
#include <cmath>

#include "engine/formats/block_kernels.h"
#include "engine/formats/block_params.h"
#include "engine/formats/scalar.h"

namespace qlab::formats {

float fp8_scale(float amax, bool e5m2) { return amax > 0.0f ? amax / (e5m2 ? 57344.0f : 448.0f) : 1.0f; }

std::uint8_t fp8_encode(float w, float scale, bool e5m2) {
  return e5m2 ? f32_to_e5m2_sat(w / scale) : f32_to_e4m3_sat(w / scale);
}

float fp8_decode(std::uint8_t code, float scale, bool e5m2) { return (e5m2 ? e5m2_to_f32(code) : e4m3_to_f32(code)) * scale; }

float int8_channel_scale(float amax) { return amax > 0.0f ? amax / 127.0f : 1.0f; }

std::uint8_t int8_channel_encode(float w, float scale) {
  const float v = std::clamp(std::nearbyint(w / scale), -128.0f, 127.0f);
  return static_cast<std::uint8_t>(static_cast<std::int8_t>(v));
}

}  // namespace qlab::formats

namespace qlab::formats::detail {

namespace {

// Per-row amax, with the finite check naming the row and column.
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

// Scale per tensor (tensor_scales) or per row (scales, float32).
void quantize_fp8(const BlockFormatSpec& spec, std::span<const float> x, QuantizedTensor& q, KernelPath path,
                  bool per_tensor) {
  const std::int64_t rows = q.rows, cols = q.cols;
  std::vector<float> amax = row_amax(spec, x, rows, cols, path);
  std::vector<float> scale(static_cast<std::size_t>(rows));
  if (per_tensor) {
    const float s = fp8_scale(*std::max_element(amax.begin(), amax.end()), spec.e5m2);
    std::fill(scale.begin(), scale.end(), s);
    q.tensor_scales = {s};
  } else {
    for (std::size_t r = 0; r < scale.size(); ++r) scale[r] = fp8_scale(amax[r], spec.e5m2);
    q.scales.resize(scale.size() * 4);
    for (std::size_t r = 0; r < scale.size(); ++r) store_f32(q.scales.data() + r * 4, scale[r]);
  }
  q.data.assign(static_cast<std::size_t>(rows * cols), 0);
  for_rows(rows, cols, path, [&](std::int64_t r0, std::int64_t r1) {
    for (std::int64_t r = r0; r < r1; ++r) {
      const float s = scale[static_cast<std::size_t>(r)];
      const float* w = x.data() + r * cols;
      std::uint8_t* o = q.data.data() + r * cols;
      for (std::int64_t i = 0; i < cols; ++i) o[i] = fp8_encode(w[i], s, spec.e5m2);
    }
  });
}

void dequantize_fp8_rows(const BlockFormatSpec& spec, const QuantizedView& q, std::int64_t r0, std::int64_t n,
                         float* out, bool per_tensor) {
  const std::int64_t cols = q.cols;
  const float* table = spec.e5m2 ? kE5M2ToF32.data() : kE4M3ToF32.data();
  for (std::int64_t r = r0; r < r0 + n; ++r) {
    const float s = per_tensor ? q.tensor_scales[0] : load_f32(q.scales.data() + r * 4);
    const std::uint8_t* c = q.data.data() + r * cols;
    float* o = out + (r - r0) * cols;
    for (std::int64_t i = 0; i < cols; ++i) o[i] = table[c[i]] * s;
  }
}

StorageSizes fp8_tensor_sizes(const BlockFormatSpec&, std::int64_t rows, std::int64_t cols) {
  StorageSizes s;
  s.data = u64(rows) * u64(cols);
  s.tensor_scales = 4;
  return s;
}

// fp8-channel and int8-ch: a byte per element, a float32 scale per row.
StorageSizes per_row_sizes(const BlockFormatSpec&, std::int64_t rows, std::int64_t cols) {
  StorageSizes s;
  s.data = u64(rows) * u64(cols);
  s.scales = 4 * u64(rows);
  return s;
}

void quantize_int8_channel(const BlockFormatSpec& spec, std::span<const float> x, QuantizedTensor& q,
                           KernelPath path) {
  const std::int64_t rows = q.rows, cols = q.cols;
  std::vector<float> amax = row_amax(spec, x, rows, cols, path);
  q.data.assign(static_cast<std::size_t>(rows * cols), 0);
  q.scales.resize(static_cast<std::size_t>(rows) * 4);
  for_rows(rows, cols, path, [&](std::int64_t r0, std::int64_t r1) {
    for (std::int64_t r = r0; r < r1; ++r) {
      const float s = int8_channel_scale(amax[static_cast<std::size_t>(r)]);
      store_f32(q.scales.data() + r * 4, s);
      const float* w = x.data() + r * cols;
      std::uint8_t* o = q.data.data() + r * cols;
      if (path == KernelPath::Reference) {
        for (std::int64_t i = 0; i < cols; ++i) o[i] = int8_channel_encode(w[i], s);
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

void dequantize_int8_channel_rows(const BlockFormatSpec&, const QuantizedView& q, std::int64_t r0, std::int64_t n,
                                  float* out, KernelPath) {
  const std::int64_t cols = q.cols;
  for (std::int64_t r = r0; r < r0 + n; ++r) {
    const float s = load_f32(q.scales.data() + r * 4);
    const std::uint8_t* c = q.data.data() + r * cols;
    float* o = out + (r - r0) * cols;
    for (std::int64_t i = 0; i < cols; ++i) o[i] = int8_channel_decode(c[i], s);
  }
}

}  // namespace

const BlockCodec fp8_tensor_codec = {
    fp8_tensor_sizes,
    [](const BlockFormatSpec& spec, std::span<const float> x, QuantizedTensor& q, KernelPath path) {
      quantize_fp8(spec, x, q, path, true);
    },
    [](const BlockFormatSpec& spec, const QuantizedView& q, std::int64_t r0, std::int64_t n, float* out, KernelPath) {
      dequantize_fp8_rows(spec, q, r0, n, out, true);
    }};

const BlockCodec fp8_channel_codec = {
    per_row_sizes,
    [](const BlockFormatSpec& spec, std::span<const float> x, QuantizedTensor& q, KernelPath path) {
      quantize_fp8(spec, x, q, path, false);
    },
    [](const BlockFormatSpec& spec, const QuantizedView& q, std::int64_t r0, std::int64_t n, float* out, KernelPath) {
      dequantize_fp8_rows(spec, q, r0, n, out, false);
    }};

const BlockCodec int8_channel_codec = {per_row_sizes, quantize_int8_channel, dequantize_int8_channel_rows};

}  // namespace qlab::formats::detail
