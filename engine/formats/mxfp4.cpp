// MXFP4 by the OCP Microscaling v1.0 rule (block-formats.md section 2.1):
//   X = floor(log2 amax(block of 32)) - 2, clamped to [-127, 127] (amax 0 -> X = -127);
//   scale code = X + 127 (E8M0);   code = E2M1_RNE_saturating(w / 2^X), sign bit where w < 0;
//   w^ = E2M1(code) * 2^X
// Two nibbles per byte, even element low.
#include <algorithm>
#include <cmath>
#include <limits>

#include "engine/formats/block_kernels.h"
#include "engine/formats/block_params.h"
#include "engine/formats/block_simd.h"
#include "engine/formats/scalar.h"

namespace qlab::formats {

// The spec's formula through log2 (the reference path; the fast path reads the exponent field).
std::uint8_t mxfp4_scale_code(float block_amax) {
  double a = block_amax == 0.0f ? static_cast<double>(std::numeric_limits<float>::min()) : block_amax;
  int x = static_cast<int>(std::floor(std::log2(a))) - 2;
  x = std::clamp(x, -127, 127);
  return static_cast<std::uint8_t>(x + 127);
}

std::uint8_t mxfp4_encode(float w, std::uint8_t scale_code) {
  const float v = w / decode(ScalarFormat::E8M0, scale_code);
  return static_cast<std::uint8_t>((f32_to_e2m1_sat(std::fabs(v)) & 7) | (w < 0.0f ? 8 : 0));
}

float mxfp4_decode(std::uint8_t code, std::uint8_t scale_code) {
  return e2m1_to_f32(code) * decode(ScalarFormat::E8M0, scale_code);  // scale 0xFF (NaN) decodes to NaN
}

}  // namespace qlab::formats

namespace qlab::formats::detail {

namespace {

constexpr std::int64_t kBlock = 32;

// Fast: floor(log2 amax) is the biased exponent field E - 127 for a normal amax, so the code is
// E - 2, floored at 0 (subnormal and zero amax give X <= -129, clamped to -127).
inline std::uint32_t scale_code_fast(std::uint32_t amax_bits) {
  std::uint32_t e = amax_bits >> 23;
  return e >= 2 ? e - 2 : 0;
}

QLAB_SIMD_KERNEL
bool quantize_row_fast(const float* row, std::int64_t cols, std::uint8_t* out, std::uint8_t* scales) {
  using namespace simd;
  i8v row_max = {0, 0, 0, 0, 0, 0, 0, 0};
  for (std::int64_t b = 0; b < cols / kBlock; ++b) {
    f8 w[4];
    load_pairs32(row + b * kBlock, w);
    const i8v m = max8(max8(abs_bits8(w[0]), abs_bits8(w[1])), max8(abs_bits8(w[2]), abs_bits8(w[3])));
    row_max = max8(row_max, m);
    const std::uint32_t c = scale_code_fast(hmax8(m));
    scales[b] = static_cast<std::uint8_t>(c);
    const f8 inv = splat8(bits_f32((254u - c) << 23));
    i8v codes[4];
    for (int j = 0; j < 4; ++j) codes[j] = e2m1_mag8((f8)abs_bits8(w[j]) * inv) | ((w[j] < 0.0f) & 8);
    pack_pairs32(codes, out + b * kBlock / 2);
  }
  return bits_finite(hmax8(row_max));
}

}  // namespace

void quantize_mxfp4(const BlockFormatSpec&, std::span<const float> x, QuantizedTensor& q, KernelPath path) {
  const std::int64_t rows = q.rows, cols = q.cols, nb = cols / kBlock;
  q.data.assign(static_cast<std::size_t>(rows * cols / 2), 0);
  q.scales.assign(static_cast<std::size_t>(rows * nb), 0);
  for_rows(rows, cols, path, [&](std::int64_t r0, std::int64_t r1) {
    if (path == KernelPath::Fast) {
      for (std::int64_t r = r0; r < r1; ++r)
        if (!quantize_row_fast(x.data() + r * cols, cols, q.data.data() + r * cols / 2, q.scales.data() + r * nb))
          fail_non_finite("mxfp4", x, r, cols);
      return;
    }
    for (std::int64_t r = r0; r < r1; ++r) {
      const float* row = x.data() + r * cols;
      std::uint8_t* out = q.data.data() + r * cols / 2;
      if (!bits_finite(amax_bits(row, cols))) fail_non_finite("mxfp4", x, r, cols);
      for (std::int64_t b = 0; b < nb; ++b) {
        const float* w = row + b * kBlock;
        float amax = 0.0f;
        for (std::int64_t i = 0; i < kBlock; ++i) amax = std::max(amax, std::fabs(w[i]));
        const std::uint8_t sc = mxfp4_scale_code(amax);
        std::uint8_t codes[kBlock];
        for (std::int64_t i = 0; i < kBlock; ++i) codes[i] = mxfp4_encode(w[i], sc);
        q.scales[static_cast<std::size_t>(r * nb + b)] = sc;
        for (int k = 0; k < kBlock / 2; ++k)
          out[b * kBlock / 2 + k] = static_cast<std::uint8_t>(codes[2 * k] | (codes[2 * k + 1] << 4));
      }
    }
  });
}

static StorageSizes mxfp4_sizes(const BlockFormatSpec&, std::int64_t rows, std::int64_t cols) {
  StorageSizes s;
  s.data = u64(rows) * u64(cols) / 2;
  s.scales = u64(rows) * u64(cols) / 32;
  return s;
}

static void dequantize_mxfp4_rows(const BlockFormatSpec&, const QuantizedView& q, std::int64_t r0, std::int64_t n,
                           float* out, KernelPath path) {
  const std::int64_t cols = q.cols, nb = cols / kBlock;
  for (std::int64_t r = r0; r < r0 + n; ++r) {
    for (std::int64_t b = 0; b < nb; ++b) {
      const std::uint8_t sc = q.scales[static_cast<std::size_t>(r * nb + b)];
      const std::uint8_t* in = q.data.data() + (r * cols + b * kBlock) / 2;
      float* o = out + (r - r0) * cols + b * kBlock;
      if (path == KernelPath::Reference) {
        for (std::int64_t i = 0; i < kBlock; ++i) o[i] = mxfp4_decode(static_cast<std::uint8_t>(i % 2 == 0 ? in[i / 2] & 0xF : in[i / 2] >> 4), sc);
      } else {
        const float scale = decode(ScalarFormat::E8M0, sc);
        float table[16];
        for (int c = 0; c < 16; ++c) table[c] = kE2M1Values[c] * scale;
        for (int k = 0; k < kBlock / 2; ++k) {
          o[2 * k] = table[in[k] & 0xF];
          o[2 * k + 1] = table[in[k] >> 4];
        }
      }
    }
  }
}

const BlockCodec mxfp4_codec = {mxfp4_sizes, quantize_mxfp4, dequantize_mxfp4_rows};

}  // namespace qlab::formats::detail
