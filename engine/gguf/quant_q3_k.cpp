// Q3_K: 256 values as 16 sub-blocks of 16, each x ~ d * (c_s - 32) * q with q in -4..3. The
// 3-bit codes L = q + 4 keep their low 2 bits in qs (as Q2_K) and their high bit in hmask: element
// e's bit is bit e/32 of hmask[e % 32], set when L >= 4. The 6-bit scale codes c_s: low 4 bits in
// the nibbles of scales[0..7] (s < 8 low nibble of scales[s], s >= 8 high nibble of scales[s-8]),
// top 2 bits in scales[8 + s % 4] at bit 2 * (s / 4). After ggml-quants.c (quantize_row_q3_K_ref,
// quantize_row_q3_K_impl, dequantize_row_q3_K).
//   reference  each sub-block: symmetric 3-bit search with weights x^2 and per-element refinement;
//              scale codes = round(-32 * scale_s / (the scale of largest magnitude)), clamped.
//   weighted   each sub-block: symmetric search with weights imatrix * sqrt(sigma^2 + x^2),
//              sigma^2 = 2 * mean x^2 of the super-block; the 16 scales themselves get a weighted
//              6-bit symmetric search (weights = each sub-block's total weight).
// Both then re-quantize every element against the stored scale (sub-blocks whose stored scale is
// 0 keep their search codes).
#include <cmath>
#include <cstring>

#include "engine/gguf/half.h"
#include "engine/gguf/kquant_pack.h"
#include "engine/gguf/quant_k.h"
#include "engine/gguf/quant_lanes.h"
#include "engine/gguf/quant_search.h"

namespace qlab::gguf {

using detail::nearest_int;

namespace {

constexpr int kSub = 16;

// Stores 6-bit code c (0..63) of sub-block s; scales must start zeroed.
void put_scale(std::uint8_t* scales, int s, int c) {
  if (s < 8)
    scales[s] = static_cast<std::uint8_t>(c & 0xF);
  else
    scales[s - 8] = static_cast<std::uint8_t>(scales[s - 8] | ((c & 0xF) << 4));
  scales[8 + s % 4] = static_cast<std::uint8_t>(scales[8 + s % 4] | ((c >> 4) << (2 * (s / 4))));
}

// Each element against its sub-block's stored scale: nearest_int(x / ds) clamped to -4..3, eight
// lanes at a time (the same division and rounding per element).
QLAB_SIMD_KERNEL
void requantize_and_pack(const float* x, std::int8_t* L, BlockQ3_K& out) {
  using namespace detail::lanes;
  const float d = fp16_to_fp32(out.d);
  for (int s = 0; s < kQK_K / kSub; ++s) {
    const float ds = d * static_cast<float>(static_cast<std::int8_t>(unpack_scale_q3_k(out.scales, s) - 32));
    if (ds == 0.0f) continue;
    for (int h = 0; h < kSub; h += 8) {
      f8 v;
      formats::simd::load8(x + kSub * s + h, v);
      const i8v l = clamp8(nearest8(v / splat(ds)), -4, 3) + 4;
      for (int i = 0; i < 8; ++i) L[kSub * s + h + i] = static_cast<std::int8_t>(l[i]);
    }
  }
  // Codes 0..7: bit 2 (L >= 4) to hmask, the low two bits to qs. Branch-free, so it vectorizes.
  for (int j = 0; j < 32; ++j) {
    unsigned m = 0;
    for (int k = 0; k < 8; ++k) m |= ((static_cast<unsigned>(L[32 * k + j]) >> 2) & 1u) << k;
    out.hmask[j] = static_cast<std::uint8_t>(m);
  }
  std::uint8_t low[kQK_K];
  for (int e = 0; e < kQK_K; ++e) low[e] = static_cast<std::uint8_t>(L[e] & 3);
  detail::pack_2bit(low, out.qs);
}

}  // namespace

int unpack_scale_q3_k(const std::uint8_t* scales, int s) {
  const int low = s < 8 ? (scales[s] & 0xF) : (scales[s - 8] >> 4);
  return low | (((scales[8 + s % 4] >> (2 * (s / 4))) & 3) << 4);
}

void quantize_q3_k_ref(const float* x, BlockQ3_K& out) {
  std::int8_t L[kQK_K];
  float scales[kQK_K / kSub];
  float max_scale = 0, amax = 0;  // the scale of largest magnitude, with its sign
  for (int h = 0; h < 2; ++h)  // sub-blocks 8h .. 8h + 7 side by side
    detail::search_q3_x8(kSub, 4, x + 8 * kSub * h, L + 8 * kSub * h, scales + 8 * h);
  for (int s = 0; s < kQK_K / kSub; ++s) {
    if (std::fabs(scales[s]) > amax) {
      amax = std::fabs(scales[s]);
      max_scale = scales[s];
    }
  }
  std::memset(out.scales, 0, sizeof out.scales);
  if (max_scale != 0.0f) {
    const float iscale = -32.f / max_scale;
    for (int s = 0; s < kQK_K / kSub; ++s) {
      int l = static_cast<std::int8_t>(nearest_int(iscale * scales[s]));  // an int8 first, as in ggml
      l = (l < -32 ? -32 : (l > 31 ? 31 : l)) + 32;
      put_scale(out.scales, s, l);
    }
    out.d = fp32_to_fp16(1 / iscale);
  } else {
    out.d = fp32_to_fp16(0.f);
  }
  requantize_and_pack(x, L, out);
}

void quantize_q3_k_weighted(const float* x, const float* qw, BlockQ3_K& out) {
  std::int8_t L[kQK_K];
  float scales[kQK_K / kSub], sw[kQK_K / kSub], w[kQK_K];
  float sumx2 = 0;
  for (int j = 0; j < kQK_K; ++j) sumx2 += x[j] * x[j];
  const float sigma2 = 2 * sumx2 / kQK_K;
  for (int s = 0; s < kQK_K / kSub; ++s) {
    float* ws = w + kSub * s;
    for (int i = 0; i < kSub; ++i) ws[i] = qw[kSub * s + i] * std::sqrt(sigma2 + x[kSub * s + i] * x[kSub * s + i]);
    float sumw = 0;
    for (int i = 0; i < kSub; ++i) sumw += ws[i];
    sw[s] = sumw;
  }
  for (int h = 0; h < 2; ++h)  // the 16 sub-blocks, eight side by side
    detail::search_symmetric_x8(kSub, 4, x + 8 * kSub * h, L + 8 * kSub * h, w + 8 * kSub * h, scales + 8 * h);
  std::memset(out.scales, 0, sizeof out.scales);
  std::int8_t Ls[kQK_K / kSub];
  const float d_block = detail::search_symmetric(kQK_K / kSub, 32, scales, Ls, sw);  // codes 0..63
  for (int s = 0; s < kQK_K / kSub; ++s) put_scale(out.scales, s, Ls[s]);
  out.d = fp32_to_fp16(d_block);
  requantize_and_pack(x, L, out);
}

void dequantize_q3_k(const BlockQ3_K& b, float* y) {
  const float d = fp16_to_fp32(b.d);
  for (int s = 0; s < kQK_K / kSub; ++s) {
    const float dl = d * static_cast<float>(unpack_scale_q3_k(b.scales, s) - 32);
    for (int i = 0; i < kSub; ++i) {
      const int e = kSub * s + i;
      const int high = (b.hmask[e % 32] >> (e / 32)) & 1;
      y[e] = dl * static_cast<float>(detail::low_2bit(b.qs, e) - (high ? 0 : 4));
    }
  }
}

}  // namespace qlab::gguf
