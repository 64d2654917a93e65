// Q6_K: 256 values as 16 sub-blocks of 16, each x ~ d * scales[s] * q with q in -32..31 and a
// signed 8-bit scale per sub-block. The 6-bit codes L = q + 32: for half h (elements 128h ..) and
// l = 0..31, ql[64h + l] holds the low 4 bits of elements 128h + l (low nibble) and 128h + 64 + l
// (high nibble), ql[64h + 32 + l] those of 128h + 32 + l and 128h + 96 + l, and qh[32h + l] the
// high 2 bits of 128h + l, +32, +64, +96 at bit 0, 2, 4, 6. After ggml-quants.c
// (quantize_row_q6_K_ref, quantize_row_q6_K_impl, dequantize_row_q6_K).
//   reference  each sub-block: symmetric 6-bit search with weights x^2; the sub-block scales are
//              coded as round(-128 * scale_s / (the scale of largest magnitude)), capped at 127.
//   weighted   the same with the raw importance weights in the search.
// A super-block whose scales are all (near) zero is stored as 210 zero bytes.
#include <cmath>
#include <cstring>

#include "engine/gguf/half.h"
#include "engine/gguf/quant_k.h"
#include "engine/gguf/quant_search.h"

namespace qlab::gguf {

using detail::nearest_int;

namespace {

constexpr int kSub = 16;

void quantize(const float* x, const float* qw, BlockQ6_K& out) {
  std::int8_t L[kQK_K];
  float scales[kQK_K / kSub];
  float max_scale = 0, max_abs_scale = 0;
  for (int h = 0; h < 2; ++h)  // the 16 sub-blocks, eight side by side
    detail::search_symmetric_x8(kSub, 32, x + 8 * kSub * h, L + 8 * kSub * h, qw ? qw + 8 * kSub * h : nullptr,
                                scales + 8 * h);
  for (int s = 0; s < kQK_K / kSub; ++s) {
    if (std::fabs(scales[s]) > max_abs_scale) {
      max_abs_scale = std::fabs(scales[s]);
      max_scale = scales[s];
    }
  }
  if (max_abs_scale < detail::kGroupMaxEps) {
    std::memset(&out, 0, sizeof out);
    return;
  }
  const float iscale = -128.f / max_scale;
  out.d = fp32_to_fp16(1 / iscale);
  for (int s = 0; s < kQK_K / kSub; ++s) {
    const int c = nearest_int(iscale * scales[s]);
    out.scales[s] = static_cast<std::int8_t>(c < 127 ? c : 127);
  }
  // Re-quantize against the stored scales.
  for (int s = 0; s < kQK_K / kSub; ++s) {
    const float d = fp16_to_fp32(out.d) * static_cast<float>(out.scales[s]);
    if (d == 0.0f) continue;
    for (int i = 0; i < kSub; ++i) {
      const int l = nearest_int(x[kSub * s + i] / d);
      L[kSub * s + i] = static_cast<std::int8_t>((l < -32 ? -32 : (l > 31 ? 31 : l)) + 32);
    }
  }
  for (int h = 0; h < 2; ++h)
    for (int l = 0; l < 32; ++l) {
      const std::int8_t* c = L + 128 * h + l;
      out.ql[64 * h + l] = static_cast<std::uint8_t>((c[0] & 0xF) | ((c[64] & 0xF) << 4));
      out.ql[64 * h + 32 + l] = static_cast<std::uint8_t>((c[32] & 0xF) | ((c[96] & 0xF) << 4));
      out.qh[32 * h + l] =
          static_cast<std::uint8_t>((c[0] >> 4) | ((c[32] >> 4) << 2) | ((c[64] >> 4) << 4) | ((c[96] >> 4) << 6));
    }
}

}  // namespace

void quantize_q6_k_ref(const float* x, BlockQ6_K& out) { quantize(x, nullptr, out); }
void quantize_q6_k_weighted(const float* x, const float* qw, BlockQ6_K& out) { quantize(x, qw, out); }

void dequantize_q6_k(const BlockQ6_K& b, float* y) {
  const float d = fp16_to_fp32(b.d);
  for (int h = 0; h < 2; ++h)
    for (int l = 0; l < 32; ++l) {
      const std::uint8_t lo0 = b.ql[64 * h + l], lo1 = b.ql[64 * h + 32 + l], hi = b.qh[32 * h + l];
      const int q[4] = {((lo0 & 0xF) | (((hi >> 0) & 3) << 4)) - 32, ((lo1 & 0xF) | (((hi >> 2) & 3) << 4)) - 32,
                        ((lo0 >> 4) | (((hi >> 4) & 3) << 4)) - 32, ((lo1 >> 4) | (((hi >> 6) & 3) << 4)) - 32};
      for (int k = 0; k < 4; ++k) {
        const int e = 128 * h + 32 * k + l;
        y[e] = d * static_cast<float>(b.scales[e / kSub]) * static_cast<float>(q[k]);
      }
    }
}

}  // namespace qlab::gguf
