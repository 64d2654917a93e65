// MXFP4 block codec after ggml-quants.c (quantize_row_mxfp4_ref, dequantize_row_mxfp4). The shared
// exponent is e = floor(log2(amax)) - 2 + 127 (0 for an all-zero block), so the largest value maps
// into [4, 8) and 6 is the largest code: values above 6 * 2^(e-127) clip to +-6. Each value then
// takes the code whose value is nearest (the first of equals wins, so +0 over -0). This follows
// ggml, not the OCP spec's round-to-nearest-even, and its floor(log2f(amax)) uses the C library's
// log2f: glibc's is correctly rounded, so an amax just under 2^k can count as 2^k there, and qlab
// calls the same function to keep the same exponent.
#include "engine/gguf/quant_mxfp4.h"

#include <bit>
#include <cmath>

#include "engine/gguf/quant_search.h"

namespace qlab::gguf {

namespace {

int nearest_code(float x, float d) {
  int best = 0;
  float best_err = std::fabs(static_cast<float>(kMxfp4Doubled[0]) * d - x);
  for (int i = 1; i < 16; ++i) {
    const float err = std::fabs(static_cast<float>(kMxfp4Doubled[i]) * d - x);
    if (err < best_err) {
      best = i;
      best_err = err;
    }
  }
  return best;
}

}  // namespace

float e8m0_half(std::uint8_t e) {
  // 2^(e-128): e = 0 and 1 are float32 subnormals (2^-128, 2^-127).
  const std::uint32_t bits = e < 2 ? (0x00200000u << e) : (static_cast<std::uint32_t>(e - 1) << 23);
  return std::bit_cast<float>(bits);
}

std::uint8_t mxfp4_exponent(float amax) {
  // ggml converts this float expression to uint8 directly; below 2^-125 it is negative and wraps
  // (as x86 truncation then taking the low byte gives), which truncate_to_int reproduces.
  return amax > 0.0f ? static_cast<std::uint8_t>(detail::truncate_to_int(std::floor(std::log2(amax)) - 2 + 127)) : 0;
}

void quantize_mxfp4(const float* x, BlockMXFP4& out) {
  float amax = 0;
  for (int j = 0; j < kQK_MXFP4; ++j)
    if (amax < std::fabs(x[j])) amax = std::fabs(x[j]);
  out.e = mxfp4_exponent(amax);
  const float d = e8m0_half(out.e);
  for (int j = 0; j < kQK_MXFP4 / 2; ++j)
    out.qs[j] = static_cast<std::uint8_t>(nearest_code(x[j], d) | (nearest_code(x[j + kQK_MXFP4 / 2], d) << 4));
}

void dequantize_mxfp4(const BlockMXFP4& b, float* y) {
  const float d = e8m0_half(b.e);
  for (int j = 0; j < kQK_MXFP4 / 2; ++j) {
    y[j] = static_cast<float>(kMxfp4Doubled[b.qs[j] & 0x0F]) * d;
    y[j + kQK_MXFP4 / 2] = static_cast<float>(kMxfp4Doubled[b.qs[j] >> 4]) * d;
  }
}

}  // namespace qlab::gguf
