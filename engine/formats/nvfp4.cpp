// NVFP4 as NVIDIA Model Optimizer computes it (block-formats.md section 1):
//   s2  = amax(tensor) / 2688                      (weight_scale_2, fp32)
//   p_b = amax(block of 16) / (6 * s2); 0 -> 1.0   then s_b = E4M3_RNE(p_b)  (weight_scale)
//   e_b = float(s_b) * s2;   code = E2M1_RNE_saturating(w / e_b), sign bit where w < 0
//   w^ = (E2M1(code) * float(s_b)) * s2     (that order: the first product is exact)
// Two nibbles per byte, even element low. A tensor of zeros keeps s2 = 0, scales 1.0 and codes 0.
#include <algorithm>
#include <atomic>
#include <cmath>

#include "engine/formats/block_kernels.h"
#include "engine/formats/block_params.h"
#include "engine/formats/block_simd.h"
#include "engine/formats/scalar.h"

namespace qlab::formats {

float nvfp4_tensor_scale(float tensor_amax) { return tensor_amax / 2688.0f; }

// The reference path's block scale (scale_codes_rows below is the same arithmetic as a loop the
// compiler vectorizes).
Nvfp4BlockScale nvfp4_block_scale(float block_amax, float s2) {
  float p = block_amax / (6.0f * s2);
  if (p == 0.0f || std::isnan(p)) p = 1.0f;
  const std::uint8_t code = f32_to_e4m3_sat(p);
  return {code, e4m3_to_f32(code) * s2};
}

std::uint8_t nvfp4_encode(float w, float e) {
  const float v = e == 0.0f ? 0.0f : w / e;
  // ModelOpt's sign bit is w < 0, so -0.0 codes 0x0 where the scalar cast would give 0x8
  return static_cast<std::uint8_t>((f32_to_e2m1_sat(std::fabs(v)) & 7) | (w < 0.0f ? 8 : 0));
}

float nvfp4_decode(std::uint8_t code, std::uint8_t scale_code, float s2) {
  return (e2m1_to_f32(code) * e4m3_to_f32(scale_code)) * s2;
}

}  // namespace qlab::formats

namespace qlab::formats::detail {

namespace {

constexpr std::int64_t kBlock = 16;

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
      const Nvfp4BlockScale s = nvfp4_block_scale(amax, s2);
      scales[r * (cols / kBlock) + b] = s.code;
      std::uint8_t codes[kBlock];
      for (std::int64_t i = 0; i < kBlock; ++i) codes[i] = nvfp4_encode(w[i], s.e);
      std::uint8_t* out = data + (r * cols + b * kBlock) / 2;
      for (std::int64_t k = 0; k < kBlock / 2; ++k)
        out[k] = static_cast<std::uint8_t>(codes[2 * k] | (codes[2 * k + 1] << 4));
    }
  }
}

// ---- fast path ----------------------------------------------------------------------------------
// No division per element. For one effective scale e, the reference code of |w| is
// E2M1(fl(|w| / e)), a non-decreasing function of |w| (a correctly rounded quotient and a
// round-to-nearest-even grid are both monotone), so each magnitude code k = 1..7 starts at one
// float T_k: code(|w|) = #{k : |w| >= T_k}. T_k is found once per scale code by searching the
// float bit patterns with the reference arithmetic itself (the predicate IS the reference), so the
// compares reproduce every rounding, tie and saturation of the division path bit for bit. e only
// takes the values float(E4M3 code) * s2 of the scale codes that occur (127 at most), so the
// table costs a few hundred divisions per tensor instead of one per element.
// Passes: block amax and tensor amax (reads x), block scales and the table (small), codes (reads
// x again; the tensor amax must be known before any code).

// Thresholds of one scale: lanes hold T_k - 1 (as float bits), each repeated over four lanes so a
// 16-byte load gives a half-vector of it.
struct ScaleThresholds {
  alignas(16) std::int32_t above[7][4];
};

constexpr float kE2M1Boundaries[7] = {0.25f, 0.75f, 1.25f, 1.75f, 2.5f, 3.5f, 5.0f};

// First |w| (as float bits) whose reference code is >= k, for e > 0; 0x7F800000 (never, for a
// finite |w|) where there is none.
std::uint32_t first_bits_of_code(float e, int k) {
  auto reaches = [&](std::uint32_t u) { return (f32_to_e2m1_sat(bits_f32(u) / e) & 7) >= k; };
  std::uint32_t lo = 0, hi = 0x7F800000u;  // invariant: !reaches(lo), reaches(hi) (or none at all)
  if (!reaches(hi)) return hi;
  // Start from a bracket around the rounded boundary; fall back to the whole range.
  const double guess = static_cast<double>(kE2M1Boundaries[k - 1]) * static_cast<double>(e);
  const std::uint32_t c = f32_bits(static_cast<float>(guess));
  if (c < 0x7F800000u) {
    const std::uint32_t l = c > 8 ? c - 8 : 0, h = c + 8 < 0x7F800000u ? c + 8 : 0x7F800000u;
    if (!reaches(l) && reaches(h)) lo = l, hi = h;
  }
  while (hi - lo > 1) {
    const std::uint32_t mid = lo + (hi - lo) / 2;
    (reaches(mid) ? hi : lo) = mid;
  }
  return hi;
}

// Thresholds of the scale codes marked in `used` (a 128-bit set); the rest stay unset.
std::vector<ScaleThresholds> threshold_table(float s2, const std::uint64_t used[2]) {
  std::vector<ScaleThresholds> t(128);
  for (int code = 0; code < 128; ++code) {
    if (!((used[code >> 6] >> (code & 63)) & 1)) continue;
    const float e = e4m3_to_f32(static_cast<std::uint8_t>(code)) * s2;
    for (int k = 1; k <= 7; ++k) {
      // e == 0 (s2 underflowed): the reference codes every element as a magnitude 0
      const std::uint32_t first = e > 0.0f ? first_bits_of_code(e, k) : 0x7F800000u;
      for (auto& lane : t[static_cast<std::size_t>(code)].above[k - 1]) lane = static_cast<std::int32_t>(first - 1);
    }
  }
  return t;
}

// block_scale() for every block of rows [r0, r1), as a loop the compiler vectorizes; marks the
// codes that occur in used[2].
QLAB_SIMD_KERNEL
void scale_codes_rows(const float* block_amax, std::int64_t r0, std::int64_t r1, std::int64_t nb, float s2,
                      std::uint8_t* scales, std::uint64_t used[2]) {
  const float d = 6.0f * s2;
  const std::int64_t b0 = r0 * nb, b1 = r1 * nb;
  for (std::int64_t b = b0; b < b1; ++b) {
    const std::uint32_t p = f32_bits(block_amax[b] / d);
    const bool zero_or_nan = p == 0 || p > 0x7F800000u;  // p >= 0: amax >= 0, d > 0 or 0 / 0
    scales[b] = f32_to_e4m3_sat(bits_f32(select(zero_or_nan, 0x3F800000u, p)));
  }
  std::uint64_t u[2] = {0, 0};
  for (std::int64_t b = b0; b < b1; ++b) u[(scales[b] >> 6) & 1] |= std::uint64_t{1} << (scales[b] & 63);
  used[0] = u[0];
  used[1] = u[1];
}

// Block amax of one row into amax[cols / 16]; returns the row's max |x| as bits (NaN / inf largest).
QLAB_SIMD_KERNEL
std::uint32_t block_amax_row(const float* row, std::int64_t cols, float* amax) {
  using namespace simd;
  i8v m = {0, 0, 0, 0, 0, 0, 0, 0};
  for (std::int64_t b = 0; b < cols / kBlock; ++b) {
    f8 lo, hi;
    load8(row + b * kBlock, lo);
    load8(row + b * kBlock + 8, hi);
    const i8v a = max8(abs_bits8(lo), abs_bits8(hi));
    m = max8(m, a);
    amax[b] = bits_f32(hmax8(a));
  }
  return hmax8(m);
}

// Codes of rows [r0, r1) given every block's scale code: two blocks at a time on eight lanes,
// each half with its own thresholds.
QLAB_SIMD_KERNEL
void quantize_rows_fast(const float* x, std::int64_t r0, std::int64_t r1, std::int64_t cols,
                        const ScaleThresholds* table, std::uint8_t* data, const std::uint8_t* scales) {
  using namespace simd;
  using i4x = std::int32_t __attribute__((vector_size(16)));
  const std::int64_t nb = cols / kBlock;
  for (std::int64_t r = r0; r < r1; ++r) {
    const float* row = x + r * cols;
    const std::uint8_t* sc = scales + r * nb;
    std::uint8_t* out = data + r * cols / 2;
    std::int64_t b = 0;
    for (; b + 2 <= nb; b += 2) {
      const ScaleThresholds& ta = table[sc[b] & 0x7F];
      const ScaleThresholds& tb = table[sc[b + 1] & 0x7F];
      i8v above[7];
      for (int k = 0; k < 7; ++k) {
        i4x ha, hb;
        std::memcpy(&ha, ta.above[k], 16);
        std::memcpy(&hb, tb.above[k], 16);
        above[k] = __builtin_shufflevector(ha, hb, 0, 1, 2, 3, 4, 5, 6, 7);
      }
      f8 w[4];
      load_pairs32(row + b * kBlock, w);
      i8v c[4];
      for (int j = 0; j < 4; ++j) c[j] = e2m1_code8_from(abs_bits8(w[j]), above) | ((w[j] < 0.0f) & 8);
      pack_pairs32(c, out + b * kBlock / 2);
    }
    if (b < nb) {  // an odd block count: the last block on four lanes
      const ScaleThresholds& t = table[sc[b] & 0x7F];
      f4 w[4];
      load_pairs16(row + b * kBlock, w);
      i4 c[4];
      for (int j = 0; j < 4; ++j) {
        const i4 a = abs_bits(w[j]);
        i4 n = {0, 0, 0, 0};
        for (int k = 0; k < 7; ++k) {
          i4 th;
          std::memcpy(&th, t.above[k], 16);
          n += a > th;
        }
        c[j] = -n | ((w[j] < 0.0f) & 8);
      }
      pack_pairs16(c, out + b * kBlock / 2);
    }
  }
}

}  // namespace

void quantize_nvfp4(const BlockFormatSpec&, std::span<const float> x, QuantizedTensor& q, KernelPath path) {
  const std::int64_t rows = q.rows, cols = q.cols, nb = cols / kBlock;
  q.data.assign(static_cast<std::size_t>(rows * cols / 2), 0);
  q.scales.assign(static_cast<std::size_t>(rows * nb), 0);
  if (path == KernelPath::Reference) {
    const float s2 = nvfp4_tensor_scale(tensor_amax(x, rows, cols, path));
    q.tensor_scales = {s2};
    quantize_rows_reference(x.data(), 0, rows, cols, s2, q.data.data(), q.scales.data());
    return;
  }
  // Pass 1: every block's amax and the tensor amax (with the finite check); pass 2: the codes.
  std::vector<float> block_amax(static_cast<std::size_t>(rows * nb));
  std::vector<std::uint32_t> row_max(static_cast<std::size_t>(rows));
  for_rows(rows, cols, path, [&](std::int64_t r0, std::int64_t r1) {
    for (std::int64_t r = r0; r < r1; ++r) {
      row_max[static_cast<std::size_t>(r)] = block_amax_row(x.data() + r * cols, cols, block_amax.data() + r * nb);
      if (!bits_finite(row_max[static_cast<std::size_t>(r)])) fail_non_finite("nvfp4", x, r, cols);
    }
  });
  const float s2 = nvfp4_tensor_scale(bits_f32(*std::max_element(row_max.begin(), row_max.end())));
  q.tensor_scales = {s2};
  // Pass 2: the block scales, and the thresholds of the scale codes that occur; pass 3: the codes.
  std::atomic<std::uint64_t> used[2] = {0, 0};
  for_rows(rows, nb, path, [&](std::int64_t r0, std::int64_t r1) {
    std::uint64_t u[2];
    scale_codes_rows(block_amax.data(), r0, r1, nb, s2, q.scales.data(), u);
    used[0].fetch_or(u[0], std::memory_order_relaxed);
    used[1].fetch_or(u[1], std::memory_order_relaxed);
  });
  const std::uint64_t used_codes[2] = {used[0].load(), used[1].load()};
  const std::vector<ScaleThresholds> table = threshold_table(s2, used_codes);
  for_rows(rows, cols, path, [&](std::int64_t r0, std::int64_t r1) {
    quantize_rows_fast(x.data(), r0, r1, cols, table.data(), q.data.data(), q.scales.data());
  });
}

static StorageSizes nvfp4_sizes(const BlockFormatSpec&, std::int64_t rows, std::int64_t cols) {
  StorageSizes s;
  s.data = u64(rows) * u64(cols) / 2;
  s.scales = u64(rows) * u64(cols) / 16;
  s.tensor_scales = 4;
  return s;
}

static void dequantize_nvfp4_rows(const BlockFormatSpec&, const QuantizedView& q, std::int64_t r0, std::int64_t n,
                           float* out, KernelPath path) {
  const std::int64_t cols = q.cols, nb = cols / kBlock;
  const float s2 = q.tensor_scales[0];
  for (std::int64_t r = r0; r < r0 + n; ++r) {
    for (std::int64_t b = 0; b < nb; ++b) {
      const std::uint8_t sc = q.scales[static_cast<std::size_t>(r * nb + b)];
      const std::uint8_t* in = q.data.data() + (r * cols + b * kBlock) / 2;
      float* o = out + (r - r0) * cols + b * kBlock;
      if (path == KernelPath::Reference) {
        for (std::int64_t i = 0; i < kBlock; ++i) o[i] = nvfp4_decode(static_cast<std::uint8_t>(i % 2 == 0 ? in[i / 2] & 0xF : in[i / 2] >> 4), sc, s2);
      } else {
        const float sb = e4m3_to_f32(sc);
        float table[16];
        for (int c = 0; c < 16; ++c) table[c] = (kE2M1Values[c] * sb) * s2;
        for (int k = 0; k < kBlock / 2; ++k) {
          o[2 * k] = table[in[k] & 0xF];
          o[2 * k + 1] = table[in[k] >> 4];
        }
      }
    }
  }
}

const BlockCodec nvfp4_codec = {nvfp4_sizes, quantize_nvfp4, dequantize_nvfp4_rows};

}  // namespace qlab::formats::detail
