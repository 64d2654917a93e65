// NVFP4 as NVIDIA Model Optimizer computes it (block-formats.md section 1):
//   s2  = amax(tensor) / 2688                      (weight_scale_2, fp32)
//   p_b = amax(block of 16) / (6 * s2); 0 -> 1.0   then s_b = E4M3_RNE(p_b)  (weight_scale)
//   e_b = float(s_b) * s2;   code = E2M1_RNE_saturating(w / e_b), sign bit where w < 0
//   w^ = (E2M1(code) * float(s_b)) * s2     (that order: the first product is exact)
// Two nibbles per byte, even element low. A tensor of zeros keeps s2 = 0, scales 1.0 and codes 0.
#include <algorithm>
#include <cmath>

#include "engine/formats/block_kernels.h"
#include "engine/formats/block_simd.h"
#include "engine/formats/scalar.h"

namespace qlab::formats::detail {

namespace {

constexpr std::int64_t kBlock = 16;

// Per-block scale from the block amax (shared by both paths: one call per 16 elements).
struct BlockScale {
  std::uint8_t code;
  float e;  // effective scale float(s_b) * s2
};
inline BlockScale block_scale(float amax, float s2) {
  float p = amax / (6.0f * s2);
  if (p == 0.0f || std::isnan(p)) p = 1.0f;
  std::uint8_t code = f32_to_e4m3_sat(p);
  return {code, e4m3_to_f32(code) * s2};
}

float tensor_amax(std::span<const float> x, std::int64_t rows, std::int64_t cols, KernelPath path) {
  std::vector<std::uint32_t> row_max(static_cast<std::size_t>(rows));
  for_rows(rows, cols, path, [&](std::int64_t r0, std::int64_t r1) {
    for (std::int64_t r = r0; r < r1; ++r) {
      std::uint32_t m = amax_bits(x.data() + r * cols, cols);
      if (!bits_finite(m)) fail_non_finite("nvfp4", x, r, cols);
      row_max[static_cast<std::size_t>(r)] = m;
    }
  });
  return bits_f32(*std::max_element(row_max.begin(), row_max.end()));
}

void quantize_rows_reference(const float* x, std::int64_t r0, std::int64_t r1, std::int64_t cols, float s2,
                             std::uint8_t* data, std::uint8_t* scales) {
  for (std::int64_t r = r0; r < r1; ++r) {
    for (std::int64_t b = 0; b < cols / kBlock; ++b) {
      const float* w = x + r * cols + b * kBlock;
      float amax = 0.0f;
      for (std::int64_t i = 0; i < kBlock; ++i) amax = std::max(amax, std::fabs(w[i]));
      BlockScale s = block_scale(amax, s2);
      scales[r * (cols / kBlock) + b] = s.code;
      std::uint8_t codes[kBlock];
      for (std::int64_t i = 0; i < kBlock; ++i) {
        const float v = s.e == 0.0f ? 0.0f : w[i] / s.e;
        // ModelOpt's sign bit is w < 0, so -0.0 codes 0x0 where the scalar cast would give 0x8
        codes[i] = static_cast<std::uint8_t>((f32_to_e2m1_sat(std::fabs(v)) & 7) | (w[i] < 0.0f ? 8 : 0));
      }
      std::uint8_t* out = data + (r * cols + b * kBlock) / 2;
      for (std::int64_t k = 0; k < kBlock / 2; ++k)
        out[k] = static_cast<std::uint8_t>(codes[2 * k] | (codes[2 * k + 1] << 4));
    }
  }
}

// The same arithmetic on four-lane vectors: amax as integer bits, one division per element (kept:
// a reciprocal multiply would move values across E2M1 boundaries), E2M1 by seven compares, sign
// from the input, codes packed without leaving the vector registers.
// Block amax of one row into amax[cols / 16]; returns the row's max |x| as bits (NaN / inf largest).
QLAB_SIMD_KERNEL
std::uint32_t block_amax_row(const float* row, std::int64_t cols, float* amax) {
  using namespace simd;
  std::uint32_t m = 0;
  for (std::int64_t b = 0; b < cols / kBlock; ++b) {
    f4 w[4];
    load_pairs16(row + b * kBlock, w);
    const std::uint32_t a = amax_bits16(w);
    m = a > m ? a : m;
    amax[b] = bits_f32(a);
  }
  return m;
}

// Codes of rows [r0, r1) given every block's amax (from the tensor-amax pass, so each row is
// read once more): block scales first, so the scalar scale arithmetic of neighbouring blocks
// overlaps, then the codes.
QLAB_SIMD_KERNEL
void quantize_rows_fast(const float* x, std::int64_t r0, std::int64_t r1, std::int64_t cols, float s2,
                        const float* block_amax, std::uint8_t* data, std::uint8_t* scales) {
  using namespace simd;
  const std::int64_t nb = cols / kBlock;
  std::vector<float> e(static_cast<std::size_t>(nb));
  for (std::int64_t r = r0; r < r1; ++r) {
    const float* row = x + r * cols;
    std::uint8_t* out = data + r * cols / 2;
    for (std::int64_t b = 0; b < nb; ++b) {
      BlockScale s = block_scale(block_amax[r * nb + b], s2);
      scales[r * nb + b] = s.code;
      e[static_cast<std::size_t>(b)] = s.e;
    }
    for (std::int64_t b = 0; b < nb; ++b) {
      f4 w[4];
      load_pairs16(row + b * kBlock, w);
      const float eb = e[static_cast<std::size_t>(b)];
      i4 c[4];
      if (eb == 0.0f) {  // only for a degenerate tensor (s2 == 0)
        for (auto& v : c) v = i4{0, 0, 0, 0};
      } else {
        const f4 ev = {eb, eb, eb, eb};
        for (int j = 0; j < 4; ++j) c[j] = e2m1_code4(abs4(w[j]) / ev) | ((w[j] < 0.0f) & 8);
      }
      pack_pairs16(c, out + b * kBlock / 2);
    }
  }
}

}  // namespace

void quantize_nvfp4(std::span<const float> x, QuantizedTensor& q, KernelPath path) {
  const std::int64_t rows = q.rows, cols = q.cols, nb = cols / kBlock;
  q.data.assign(static_cast<std::size_t>(rows * cols / 2), 0);
  q.scales.assign(static_cast<std::size_t>(rows * nb), 0);
  if (path == KernelPath::Reference) {
    const float s2 = tensor_amax(x, rows, cols, path) / 2688.0f;
    q.tensor_scales = {s2};
    quantize_rows_reference(x.data(), 0, rows, cols, s2, q.data.data(), q.scales.data());
    return;
  }
  std::vector<float> block_amax(static_cast<std::size_t>(rows * nb));
  std::vector<std::uint32_t> row_max(static_cast<std::size_t>(rows));
  for_rows(rows, cols, path, [&](std::int64_t r0, std::int64_t r1) {
    for (std::int64_t r = r0; r < r1; ++r) {
      row_max[static_cast<std::size_t>(r)] = block_amax_row(x.data() + r * cols, cols, block_amax.data() + r * nb);
      if (!bits_finite(row_max[static_cast<std::size_t>(r)])) fail_non_finite("nvfp4", x, r, cols);
    }
  });
  const float s2 = bits_f32(*std::max_element(row_max.begin(), row_max.end())) / 2688.0f;
  q.tensor_scales = {s2};
  for_rows(rows, cols, path, [&](std::int64_t r0, std::int64_t r1) {
    quantize_rows_fast(x.data(), r0, r1, cols, s2, block_amax.data(), q.data.data(), q.scales.data());
  });
}

void dequantize_nvfp4(const QuantizedTensor& q, std::span<float> out, KernelPath path) {
  const std::int64_t cols = q.cols, nb = cols / kBlock;
  const float s2 = q.tensor_scales[0];
  for_rows(q.rows, cols, path, [&](std::int64_t r0, std::int64_t r1) {
    for (std::int64_t r = r0; r < r1; ++r) {
      for (std::int64_t b = 0; b < nb; ++b) {
        const float sb = e4m3_to_f32(q.scales[static_cast<std::size_t>(r * nb + b)]);
        const std::uint8_t* in = q.data.data() + (r * cols + b * kBlock) / 2;
        float* o = out.data() + r * cols + b * kBlock;
        if (path == KernelPath::Reference) {
          for (std::int64_t i = 0; i < kBlock; ++i) {
            std::uint8_t code = (i % 2 == 0) ? (in[i / 2] & 0xF) : (in[i / 2] >> 4);
            o[i] = (e2m1_to_f32(code) * sb) * s2;
          }
        } else {
          float table[16];
          for (int c = 0; c < 16; ++c) table[c] = (kE2M1Values[c] * sb) * s2;
          for (int k = 0; k < kBlock / 2; ++k) {
            o[2 * k] = table[in[k] & 0xF];
            o[2 * k + 1] = table[in[k] >> 4];
          }
        }
      }
    }
  });
}

}  // namespace qlab::formats::detail
