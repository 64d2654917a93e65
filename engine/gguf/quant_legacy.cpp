// Legacy 32-element block codecs, after ggml-quants.c (quantize_row_q{4,5}_{0,1}_ref, q8_0_ref, the
// importance-weighted quantize_row_*_impl, dequantize_row_*). Element j and element j + 16 share a
// byte of qs (low and high nibble); Q5 types keep each code's 5th bit in qh, bit j of a
// little-endian u32 for element j.
//
// Reference rules, per block:
//   Q4_0 / Q5_0  d = (signed element of largest |x|) / -8 (or -16), q = trunc(x / d + 8.5 (16.5)),
//                capped at 15 (31): the extreme element decodes exactly to itself (before fp16).
//   Q4_1 / Q5_1  d = (max - min) / 15 (31), m = min, q = trunc((x - min) / d + 0.5).
//   Q8_0         d = amax / 127, q = roundf(x / d) (ties away from zero).
// In all of them q is computed with the float32 d, before d is rounded to fp16 for storage, and
// with x multiplied by 1/d (not divided by d). A zero block gets d = 0 and 1/d taken as 0.
#include "engine/gguf/quant_legacy.h"

#include <cfloat>
#include <cmath>
#include <cstring>

#include "engine/gguf/half.h"
#include "engine/gguf/quant_search.h"

namespace qlab::gguf {

using detail::truncate_to_int;

namespace {

constexpr int kQK = 32;

float signed_absmax(const float* x) {
  float amax = 0, max = 0;
  for (int j = 0; j < kQK; ++j) {
    if (amax < std::fabs(x[j])) {
      amax = std::fabs(x[j]);
      max = x[j];
    }
  }
  return max;
}

// q = trunc(v + bias) as an 8-bit integer, capped at cap (ggml: MIN(cap, (int8_t)(v + bias))).
std::uint8_t code_capped(float v, float bias, int cap) {
  const int q = static_cast<std::int8_t>(truncate_to_int(v + bias));
  return static_cast<std::uint8_t>(q < cap ? q : cap);
}

void min_max(const float* x, float* mn, float* mx) {
  float lo = FLT_MAX, hi = -FLT_MAX;
  for (int j = 0; j < kQK; ++j) {
    if (x[j] < lo) lo = x[j];
    if (x[j] > hi) hi = x[j];
  }
  *mn = lo;
  *mx = hi;
}

}  // namespace

void pack_nibbles(const std::uint8_t* L, std::uint8_t* qs) {
  for (int j = 0; j < kQK / 2; ++j) qs[j] = static_cast<std::uint8_t>((L[j] & 0x0F) | ((L[j + kQK / 2] & 0x0F) << 4));
}

void pack_5bit(const std::uint8_t* L, std::uint8_t* qs, std::uint8_t* qh) {
  std::uint32_t h = 0;
  for (int j = 0; j < kQK / 2; ++j) {
    qs[j] = static_cast<std::uint8_t>((L[j] & 0x0F) | ((L[j + kQK / 2] & 0x0F) << 4));
    h |= static_cast<std::uint32_t>((L[j] & 0x10u) >> 4) << j;
    h |= static_cast<std::uint32_t>((L[j + kQK / 2] & 0x10u) >> 4) << (j + kQK / 2);
  }
  std::memcpy(qh, &h, sizeof h);
}

void importance_weights(const float* x, const float* qw, float sigma2, int n, float* w) {
  for (int j = 0; j < n; ++j) w[j] = qw[j] * std::sqrt(sigma2 + x[j] * x[j]);
}

float row_sigma2(const float* x, std::int64_t n) {
  float sum_x2 = 0;
  for (std::int64_t j = 0; j < n; ++j) sum_x2 += x[j] * x[j];
  return sum_x2 / static_cast<float>(n);
}

// ---- reference ----------------------------------------------------------------------------------

void quantize_q4_0_ref(const float* x, BlockQ4_0& out) {
  const float d = signed_absmax(x) / -8;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  out.d = fp32_to_fp16(d);
  std::uint8_t L[kQK];
  for (int j = 0; j < kQK; ++j) L[j] = code_capped(x[j] * id, 8.5f, 15);
  pack_nibbles(L, out.qs);
}

void quantize_q5_0_ref(const float* x, BlockQ5_0& out) {
  const float d = signed_absmax(x) / -16;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  out.d = fp32_to_fp16(d);
  std::uint8_t L[kQK];
  for (int j = 0; j < kQK; ++j) L[j] = code_capped(x[j] * id, 16.5f, 31);
  pack_5bit(L, out.qs, out.qh);
}

void quantize_q4_1_ref(const float* x, BlockQ4_1& out) {
  float mn, mx;
  min_max(x, &mn, &mx);
  const float d = (mx - mn) / 15;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  out.d = fp32_to_fp16(d);
  out.m = fp32_to_fp16(mn);
  std::uint8_t L[kQK];
  for (int j = 0; j < kQK; ++j) L[j] = code_capped((x[j] - mn) * id, 0.5f, 15);
  pack_nibbles(L, out.qs);
}

void quantize_q5_1_ref(const float* x, BlockQ5_1& out) {
  float mn, mx;
  min_max(x, &mn, &mx);
  const float d = (mx - mn) / 31;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  out.d = fp32_to_fp16(d);
  out.m = fp32_to_fp16(mn);
  std::uint8_t L[kQK];
  // No cap here (ggml has none): (x - min) / d + 0.5 stays below 32 for finite input.
  for (int j = 0; j < kQK; ++j) L[j] = static_cast<std::uint8_t>(truncate_to_int((x[j] - mn) * id + 0.5f));
  pack_5bit(L, out.qs, out.qh);
}

void quantize_q8_0_ref(const float* x, BlockQ8_0& out) {
  float amax = 0;
  for (int j = 0; j < kQK; ++j) {
    const float a = std::fabs(x[j]);
    amax = amax > a ? amax : a;
  }
  const float d = amax / 127;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  out.d = fp32_to_fp16(d);
  for (int j = 0; j < kQK; ++j) out.qs[j] = static_cast<std::int8_t>(truncate_to_int(std::round(x[j] * id)));
}

// ---- importance-weighted ------------------------------------------------------------------------

void quantize_q4_0_weighted(const float* x, const float* qw, float sigma2, BlockQ4_0& out) {
  float w[kQK];
  importance_weights(x, qw, sigma2, kQK, w);
  std::int8_t L[kQK];
  const float d = detail::search_symmetric(kQK, 8, x, L, w);  // codes 0..15 = l + 8
  out.d = fp32_to_fp16(d);
  for (int j = 0; j < kQK / 2; ++j) out.qs[j] = static_cast<std::uint8_t>(L[j] | (L[j + kQK / 2] << 4));
}

void quantize_q5_0_weighted(const float* x, const float* qw, float sigma2, BlockQ5_0& out) {
  float w[kQK];
  importance_weights(x, qw, sigma2, kQK, w);
  std::int8_t L[kQK];
  const float d = detail::search_symmetric(kQK, 16, x, L, w);  // codes 0..31 = l + 16
  out.d = fp32_to_fp16(d);
  std::uint8_t U[kQK];
  for (int j = 0; j < kQK; ++j) U[j] = static_cast<std::uint8_t>(L[j]);
  pack_5bit(U, out.qs, out.qh);
}

void quantize_q4_1_weighted(const float* x, const float* qw, float sigma2, BlockQ4_1& out) {
  float w[kQK];
  importance_weights(x, qw, sigma2, kQK, w);
  std::uint8_t L[kQK];
  float neg_min = 0;
  const float d = detail::search_asymmetric(kQK, 15, x, w, L, &neg_min, -0.9f, 0.05f, 36, false, true);
  out.d = fp32_to_fp16(d);
  out.m = fp32_to_fp16(-neg_min);
  for (int j = 0; j < kQK / 2; ++j) out.qs[j] = static_cast<std::uint8_t>(L[j] | (L[j + kQK / 2] << 4));
}

void quantize_q5_1_weighted(const float* x, const float* qw, float sigma2, BlockQ5_1& out) {
  float w[kQK];
  importance_weights(x, qw, sigma2, kQK, w);
  std::uint8_t L[kQK];
  float neg_min = 0;
  const float d = detail::search_asymmetric(kQK, 31, x, w, L, &neg_min, -0.9f, 0.05f, 36, false, true);
  out.d = fp32_to_fp16(d);
  out.m = fp32_to_fp16(-neg_min);
  pack_5bit(L, out.qs, out.qh);
}

// ---- dequantize -----------------------------------------------------------------------------------

void dequantize_q4_0(const BlockQ4_0& b, float* y) {
  const float d = fp16_to_fp32(b.d);
  for (int j = 0; j < kQK / 2; ++j) {
    y[j] = static_cast<float>((b.qs[j] & 0x0F) - 8) * d;
    y[j + kQK / 2] = static_cast<float>((b.qs[j] >> 4) - 8) * d;
  }
}

void dequantize_q4_1(const BlockQ4_1& b, float* y) {
  const float d = fp16_to_fp32(b.d), m = fp16_to_fp32(b.m);
  for (int j = 0; j < kQK / 2; ++j) {
    y[j] = static_cast<float>(b.qs[j] & 0x0F) * d + m;
    y[j + kQK / 2] = static_cast<float>(b.qs[j] >> 4) * d + m;
  }
}

void dequantize_q5_0(const BlockQ5_0& b, float* y) {
  const float d = fp16_to_fp32(b.d);
  std::uint32_t h;
  std::memcpy(&h, b.qh, sizeof h);
  for (int j = 0; j < kQK / 2; ++j) {
    const int hi0 = static_cast<int>((h >> j) & 1u) << 4;
    const int hi1 = static_cast<int>((h >> (j + kQK / 2)) & 1u) << 4;
    y[j] = static_cast<float>(((b.qs[j] & 0x0F) | hi0) - 16) * d;
    y[j + kQK / 2] = static_cast<float>(((b.qs[j] >> 4) | hi1) - 16) * d;
  }
}

void dequantize_q5_1(const BlockQ5_1& b, float* y) {
  const float d = fp16_to_fp32(b.d), m = fp16_to_fp32(b.m);
  std::uint32_t h;
  std::memcpy(&h, b.qh, sizeof h);
  for (int j = 0; j < kQK / 2; ++j) {
    const int hi0 = static_cast<int>((h >> j) & 1u) << 4;
    const int hi1 = static_cast<int>((h >> (j + kQK / 2)) & 1u) << 4;
    y[j] = static_cast<float>((b.qs[j] & 0x0F) | hi0) * d + m;
    y[j + kQK / 2] = static_cast<float>((b.qs[j] >> 4) | hi1) * d + m;
  }
}

void dequantize_q8_0(const BlockQ8_0& b, float* y) {
  const float d = fp16_to_fp32(b.d);
  for (int j = 0; j < kQK; ++j) y[j] = static_cast<float>(b.qs[j]) * d;
}

}  // namespace qlab::gguf
