// Q4_K and Q5_K: 256 values as 8 sub-blocks of 32, each x ~ d * sc_s * q - dmin * m_s, with 6-bit
// scale and min codes (sc_s, m_s) packed in 12 bytes and q in 0..15 (Q4_K) or 0..31 (Q5_K).
// Element placement: chunk c = 0..3 covers elements 64c .. 64c+63; qs[32c + l] holds element
// 64c + l in its low nibble and 64c + 32 + l in its high nibble; Q5_K's 5th bits: element 64c + l
// -> bit 2c of qh[l], element 64c + 32 + l -> bit 2c + 1. After ggml-quants.c
// (quantize_row_q{4,5}_K_ref, quantize_row_q{4,5}_K_impl, dequantize_row_q{4,5}_K).
//   reference  each sub-block: asymmetric search with weights sqrt(mean x^2) + |x| (squared error);
//              codes = round(63 * scale_s / max scale) and likewise for mins, capped at 63.
//   weighted   each sub-block: weights imatrix * sqrt(sigma^2 + x^2), sigma^2 = 2 * mean x^2 of
//              the super-block, a finer grid of candidate scales; then weighted positive-code
//              searches for the 8 scales and the 8 mins.
// Both re-quantize every element against the stored scales (sub-blocks whose stored scale is 0
// keep their search codes).
#include <cmath>
#include <cstring>

#include "engine/gguf/half.h"
#include "engine/gguf/kquant_pack.h"
#include "engine/gguf/quant_k.h"
#include "engine/gguf/quant_search.h"

namespace qlab::gguf {

using detail::nearest_int;

namespace {

constexpr int kSub = 32;
constexpr int kNSub = kQK_K / kSub;

struct Search {
  int nmax;  // 15 or 31
  float rmin, rdelta;
  int nstep;
};
constexpr Search kRefQ4{15, -1.f, 0.1f, 20}, kRefQ5{31, -0.5f, 0.1f, 15};

// Scales and mins of the reference path: each sub-block searched on its own.
void search_ref(const float* x, const Search& sp, std::uint8_t* L, std::uint8_t* scales_out, Half* d, Half* dmin) {
  float scales[kNSub], mins[kNSub], w[kQK_K];
  for (int s = 0; s < kNSub; ++s) {
    const float* xs = x + kSub * s;
    float sum_x2 = 0;
    for (int i = 0; i < kSub; ++i) sum_x2 += xs[i] * xs[i];
    const float av_x = std::sqrt(sum_x2 / kSub);
    for (int i = 0; i < kSub; ++i) w[kSub * s + i] = av_x + std::fabs(xs[i]);
  }
  static_assert(kNSub == 8, "one eight-lane search covers the super-block");
  detail::search_asymmetric_x8(kSub, sp.nmax, x, w, L, mins, scales, sp.rmin, sp.rdelta, sp.nstep, false, false);
  float max_scale = 0, max_min = 0;
  for (int s = 0; s < kNSub; ++s) {
    if (scales[s] > max_scale) max_scale = scales[s];
    if (mins[s] > max_min) max_min = mins[s];
  }
  const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
  const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
  std::uint8_t ls[kNSub], lm[kNSub];
  for (int s = 0; s < kNSub; ++s) {
    // Stored as uint8 first (a negative code wraps), then capped at 63, as in ggml.
    const auto a = static_cast<std::uint8_t>(nearest_int(inv_scale * scales[s]));
    const auto b = static_cast<std::uint8_t>(nearest_int(inv_min * mins[s]));
    ls[s] = a < 63 ? a : 63;
    lm[s] = b < 63 ? b : 63;
  }
  detail::pack_scale_min_k4(ls, lm, scales_out);
  *d = fp32_to_fp16(max_scale / 63.f);
  *dmin = fp32_to_fp16(max_min / 63.f);
}

// Scales and mins of the weighted path. cap63: Q5_K caps the codes at 63, Q4_K does not.
void search_weighted(const float* x, const float* qw, int nmax, bool cap63, std::uint8_t* L, std::uint8_t* scales_out,
                     Half* d, Half* dmin) {
  float sum_x2 = 0;
  for (int i = 0; i < kQK_K; ++i) sum_x2 += x[i] * x[i];
  const float sigma2 = 2 * sum_x2 / kQK_K;
  float scales[kNSub], mins[kNSub], sw[kNSub], w[kQK_K];
  for (int s = 0; s < kNSub; ++s) {
    const float* xs = x + kSub * s;
    float* ws = w + kSub * s;
    for (int i = 0; i < kSub; ++i) ws[i] = qw[kSub * s + i] * std::sqrt(sigma2 + xs[i] * xs[i]);
    float sumw = 0;
    for (int i = 0; i < kSub; ++i) sumw += ws[i];
    sw[s] = sumw;
  }
  detail::search_asymmetric_x8(kSub, nmax, x, w, L, mins, scales, -0.9f, 0.05f, 36, false, true);
  std::uint8_t ls[kNSub], lm[kNSub];
  const float d_block = detail::search_positive(kNSub, 63, scales, ls, sw);
  const float m_block = detail::search_positive(kNSub, 63, mins, lm, sw);
  if (cap63)
    for (int s = 0; s < kNSub; ++s) {
      ls[s] = ls[s] < 63 ? ls[s] : 63;
      lm[s] = lm[s] < 63 ? lm[s] : 63;
    }
  detail::pack_scale_min_k4(ls, lm, scales_out);
  *d = fp32_to_fp16(d_block);
  *dmin = fp32_to_fp16(m_block);
}

void requantize(const float* x, int nmax, const std::uint8_t* scales, Half d16, Half dmin16, std::uint8_t* L) {
  for (int s = 0; s < kNSub; ++s) {
    std::uint8_t sc, m;
    unpack_scale_min_k4(scales, s, &sc, &m);
    const float d = fp16_to_fp32(d16) * static_cast<float>(sc);
    if (d == 0.0f) continue;
    const float dm = fp16_to_fp32(dmin16) * static_cast<float>(m);
    for (int i = 0; i < kSub; ++i) {
      const int l = nearest_int((x[kSub * s + i] + dm) / d);
      L[kSub * s + i] = static_cast<std::uint8_t>(l < 0 ? 0 : (l > nmax ? nmax : l));
    }
  }
}

void pack_q4(const std::uint8_t* L, std::uint8_t* qs) {
  for (int c = 0; c < 4; ++c)
    for (int l = 0; l < 32; ++l)
      qs[32 * c + l] = static_cast<std::uint8_t>(L[64 * c + l] | (L[64 * c + 32 + l] << 4));
}

void pack_q5(const std::uint8_t* L, std::uint8_t* qs, std::uint8_t* qh) {
  std::memset(qh, 0, 32);
  for (int c = 0; c < 4; ++c)
    for (int l = 0; l < 32; ++l) {
      int lo = L[64 * c + l], hi = L[64 * c + 32 + l];
      if (lo > 15) {
        lo -= 16;
        qh[l] = static_cast<std::uint8_t>(qh[l] | (1u << (2 * c)));
      }
      if (hi > 15) {
        hi -= 16;
        qh[l] = static_cast<std::uint8_t>(qh[l] | (1u << (2 * c + 1)));
      }
      qs[32 * c + l] = static_cast<std::uint8_t>(lo | (hi << 4));
    }
}

}  // namespace

void unpack_scale_min_k4(const std::uint8_t* q, int s, std::uint8_t* sc, std::uint8_t* m) {
  if (s < 4) {
    *sc = q[s] & 63;
    *m = q[s + 4] & 63;
  } else {
    *sc = static_cast<std::uint8_t>((q[s + 4] & 0xF) | ((q[s - 4] >> 6) << 4));
    *m = static_cast<std::uint8_t>((q[s + 4] >> 4) | ((q[s] >> 6) << 4));
  }
}

void quantize_q4_k_ref(const float* x, BlockQ4_K& out) {
  std::uint8_t L[kQK_K];
  search_ref(x, kRefQ4, L, out.scales, &out.d, &out.dmin);
  requantize(x, 15, out.scales, out.d, out.dmin, L);
  pack_q4(L, out.qs);
}

void quantize_q5_k_ref(const float* x, BlockQ5_K& out) {
  std::uint8_t L[kQK_K];
  search_ref(x, kRefQ5, L, out.scales, &out.d, &out.dmin);
  requantize(x, 31, out.scales, out.d, out.dmin, L);
  pack_q5(L, out.qs, out.qh);
}

void quantize_q4_k_weighted(const float* x, const float* qw, BlockQ4_K& out) {
  std::uint8_t L[kQK_K];
  search_weighted(x, qw, 15, false, L, out.scales, &out.d, &out.dmin);
  requantize(x, 15, out.scales, out.d, out.dmin, L);
  pack_q4(L, out.qs);
}

void quantize_q5_k_weighted(const float* x, const float* qw, BlockQ5_K& out) {
  std::uint8_t L[kQK_K];
  search_weighted(x, qw, 31, true, L, out.scales, &out.d, &out.dmin);
  requantize(x, 31, out.scales, out.d, out.dmin, L);
  pack_q5(L, out.qs, out.qh);
}

void dequantize_q4_k(const BlockQ4_K& b, float* y) {
  const float d = fp16_to_fp32(b.d), dmin = fp16_to_fp32(b.dmin);
  for (int c = 0; c < 4; ++c) {
    std::uint8_t sc, m;
    unpack_scale_min_k4(b.scales, 2 * c, &sc, &m);
    const float d1 = d * static_cast<float>(sc), m1 = dmin * static_cast<float>(m);
    unpack_scale_min_k4(b.scales, 2 * c + 1, &sc, &m);
    const float d2 = d * static_cast<float>(sc), m2 = dmin * static_cast<float>(m);
    for (int l = 0; l < 32; ++l) {
      y[64 * c + l] = d1 * static_cast<float>(b.qs[32 * c + l] & 0xF) - m1;
      y[64 * c + 32 + l] = d2 * static_cast<float>(b.qs[32 * c + l] >> 4) - m2;
    }
  }
}

void dequantize_q5_k(const BlockQ5_K& b, float* y) {
  const float d = fp16_to_fp32(b.d), dmin = fp16_to_fp32(b.dmin);
  for (int c = 0; c < 4; ++c) {
    std::uint8_t sc, m;
    unpack_scale_min_k4(b.scales, 2 * c, &sc, &m);
    const float d1 = d * static_cast<float>(sc), m1 = dmin * static_cast<float>(m);
    unpack_scale_min_k4(b.scales, 2 * c + 1, &sc, &m);
    const float d2 = d * static_cast<float>(sc), m2 = dmin * static_cast<float>(m);
    for (int l = 0; l < 32; ++l) {
      const int lo = (b.qs[32 * c + l] & 0xF) + ((b.qh[l] >> (2 * c)) & 1 ? 16 : 0);
      const int hi = (b.qs[32 * c + l] >> 4) + ((b.qh[l] >> (2 * c + 1)) & 1 ? 16 : 0);
      y[64 * c + l] = d1 * static_cast<float>(lo) - m1;
      y[64 * c + 32 + l] = d2 * static_cast<float>(hi) - m2;
    }
  }
}

}  // namespace qlab::gguf
