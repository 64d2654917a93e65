// Q2_K: 256 values as 16 sub-blocks of 16, each x ~ d_s * q - m_s with q in 0..3; the sub-block
// scale d_s and min m_s are 4-bit codes times the fp16 super-scales d and dmin
// (scales[s] = scale code | min code << 4). After ggml-quants.c (quantize_row_q2_K_ref,
// quantize_row_q2_K_impl, dequantize_row_q2_K).
//   reference  each sub-block: asymmetric search with weights |x| minimising the weighted absolute
//              error; codes are then the sub-block scale (min) over the largest one, times 15.
//   weighted   each sub-block: weights imatrix * sqrt(sigma^2 + x^2) (sigma^2 = mean x^2 of the
//              super-block), squared error; the 16 scales and 16 mins get their own weighted
//              positive-code searches.
// Both finish the same way: every element is re-quantized against the stored (fp16-rounded)
// scale and min; a sub-block whose stored scale is 0 keeps the codes of its search.
#include <cmath>

#include "engine/gguf/half.h"
#include "engine/gguf/kquant_pack.h"
#include "engine/gguf/quant_k.h"
#include "engine/gguf/quant_search.h"

namespace qlab::gguf {

using detail::nearest_int;

namespace {

constexpr int kSub = 16;  // elements per sub-block

// Codes against the stored scales; then pack.
void requantize_and_pack(const float* x, std::uint8_t* L, BlockQ2_K& out) {
  const float d = fp16_to_fp32(out.d), dmin = fp16_to_fp32(out.dmin);
  for (int s = 0; s < kQK_K / kSub; ++s) {
    const float ds = d * static_cast<float>(out.scales[s] & 0xF);
    if (ds == 0.0f) continue;
    const float ms = dmin * static_cast<float>(out.scales[s] >> 4);
    for (int i = 0; i < kSub; ++i) {
      const int l = nearest_int((x[kSub * s + i] + ms) / ds);
      L[kSub * s + i] = static_cast<std::uint8_t>(l < 0 ? 0 : (l > 3 ? 3 : l));
    }
  }
  detail::pack_2bit(L, out.qs);
}

}  // namespace

void quantize_q2_k_ref(const float* x, BlockQ2_K& out) {
  std::uint8_t L[kQK_K];
  float scales[kQK_K / kSub], mins[kQK_K / kSub], w[kQK_K];
  for (int j = 0; j < kQK_K; ++j) w[j] = std::fabs(x[j]);
  for (int h = 0; h < 2; ++h)  // the 16 sub-blocks, eight side by side
    detail::search_asymmetric_x8(kSub, 3, x + 8 * kSub * h, w + 8 * kSub * h, L + 8 * kSub * h, mins + 8 * h,
                                 scales + 8 * h, -0.5f, 0.1f, 15, true, false);
  float max_scale = 0, max_min = 0;  // scales and mins are never negative here
  for (int s = 0; s < kQK_K / kSub; ++s) {
    if (scales[s] > max_scale) max_scale = scales[s];
    if (mins[s] > max_min) max_min = mins[s];
  }
  if (max_scale > 0) {
    const float iscale = 15.f / max_scale;
    for (int s = 0; s < kQK_K / kSub; ++s) out.scales[s] = static_cast<std::uint8_t>(nearest_int(iscale * scales[s]));
    out.d = fp32_to_fp16(max_scale / 15.f);
  } else {
    for (int s = 0; s < kQK_K / kSub; ++s) out.scales[s] = 0;
    out.d = fp32_to_fp16(0.f);
  }
  if (max_min > 0) {
    const float iscale = 15.f / max_min;
    for (int s = 0; s < kQK_K / kSub; ++s)
      out.scales[s] = static_cast<std::uint8_t>(out.scales[s] | (nearest_int(iscale * mins[s]) << 4));
    out.dmin = fp32_to_fp16(max_min / 15.f);
  } else {
    out.dmin = fp32_to_fp16(0.f);
  }
  requantize_and_pack(x, L, out);
}

void quantize_q2_k_weighted(const float* x, const float* qw, BlockQ2_K& out) {
  std::uint8_t L[kQK_K];
  float scales[kQK_K / kSub], mins[kQK_K / kSub], sw[kQK_K / kSub], w[kQK_K];
  float sumx2 = 0;
  for (int j = 0; j < kQK_K; ++j) sumx2 += x[j] * x[j];
  const float sigma2 = sumx2 / kQK_K;
  for (int s = 0; s < kQK_K / kSub; ++s) {
    float* ws = w + kSub * s;
    for (int i = 0; i < kSub; ++i) ws[i] = qw[kSub * s + i] * std::sqrt(sigma2 + x[kSub * s + i] * x[kSub * s + i]);
    sw[s] = 0;
    for (int i = 0; i < kSub; ++i) sw[s] += ws[i];
  }
  for (int h = 0; h < 2; ++h)
    detail::search_asymmetric_x8(kSub, 3, x + 8 * kSub * h, w + 8 * kSub * h, L + 8 * kSub * h, mins + 8 * h,
                                 scales + 8 * h, -0.9f, 0.05f, 36, false, true);
  std::uint8_t Ls[kQK_K / kSub], Lm[kQK_K / kSub];
  const float dm = detail::search_positive(kQK_K / kSub, 15, scales, Ls, sw);
  const float mm = detail::search_positive(kQK_K / kSub, 15, mins, Lm, sw);
  out.d = fp32_to_fp16(dm);
  out.dmin = fp32_to_fp16(mm);
  for (int s = 0; s < kQK_K / kSub; ++s) out.scales[s] = static_cast<std::uint8_t>(Ls[s] | (Lm[s] << 4));
  requantize_and_pack(x, L, out);
}

void dequantize_q2_k(const BlockQ2_K& b, float* y) {
  const float d = fp16_to_fp32(b.d), dmin = fp16_to_fp32(b.dmin);
  for (int e = 0; e < kQK_K; ++e) {
    const std::uint8_t sc = b.scales[e / kSub];
    const float dl = d * static_cast<float>(sc & 0xF);
    const float ml = dmin * static_cast<float>(sc >> 4);
    y[e] = dl * static_cast<float>(detail::low_2bit(b.qs, e)) - ml;
  }
}

}  // namespace qlab::gguf
