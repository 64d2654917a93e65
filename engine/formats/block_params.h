#pragma once
// The per-block parameter rules and element encoders of the block formats, one value at a time:
// the code the formats' reference paths run (their fast paths are tested bit for bit against it),
// public so that calibrated quantizers (GPTQ, AWQ) quantize a group exactly as round-to-nearest does.
// GPTQ fixes a group's parameters from the group's columns when it reaches the group's first column,
// then encodes column after column (each already updated by the error feedback): hence "parameters
// from a set of values" and "encode a value with given parameters" are separate functions.
//
//   int groups   int_group_params (GPTQ asymmetric rule / ModelOpt symmetric rule, float16 scale),
//                int_group_encode, int_group_decode          (block-formats.md 4, number-formats.md 9)
//   NVFP4        nvfp4_tensor_scale (amax / 2688), nvfp4_block_scale, nvfp4_encode, nvfp4_decode
//   MXFP4        mxfp4_scale_code (floor(log2 amax) - 2 as E8M0), mxfp4_encode, mxfp4_decode
//   FP8 scaled   fp8_scale (amax / max finite, 1 for 0), fp8_encode, fp8_decode
//   int8-ch      int8_channel_scale (amax / 127, 1 for 0), int8_channel_encode, int8_channel_decode
// Inputs are finite (the tensor-level quantize() checks that and names the row and column).
#include <cstdint>
#include <span>

namespace qlab::formats {

// ---- integer groups: intB-gG (asymmetric, zero point) and intB-gG-sym -------------------------------
//   asymmetric (GPTQ Quantizer.find_params): xmin = min(min x, 0), xmax = max(max x, 0), both 0 -> -1, +1;
//     scale = f16((xmax - xmin) / (2^B - 1)); zero = RNE(-xmin / scale); code = clamp(RNE(x / scale) + zero, 0, 2^B - 1)
//   symmetric (ModelOpt): scale = f16(amax / (2^(B-1) - 1)), 1 for an all-zero group;
//     code = clamp(RNE(x / scale), -2^(B-1), 2^(B-1) - 1) + 2^(B-1)
//   The scale is rounded to float16 first and codes are computed with that stored value, so
//   decode = scale * (code - zero) is what a checkpoint loader computes. A range so small that its
//   float16 scale is 0 codes every element as the zero point.
struct IntGroupParams {
  std::uint16_t scale_f16 = 0;  // the stored float16 scale
  float scale = 0;              // its value (0: degenerate group)
  float zero = 0;               // the code of 0.0: the stored zero point (asym) or 2^(B-1) (sym)
  float lo = 0, hi = 0;         // clamp range of RNE(x / scale) before `zero` is added
  bool overflow = false;        // the float16 scale overflowed: the group reaches past 65504 * qmax
  float group_max = 0;          // the largest value (asym) or amax (sym), for the overflow message
};
// From the group's range: xmin <= 0 <= xmax (asymmetric) and amax (symmetric).
IntGroupParams int_group_params_from_range(int bits, bool symmetric, float xmin, float xmax, float amax);
// From the group's values.
IntGroupParams int_group_params(int bits, bool symmetric, std::span<const float> values);
std::uint8_t int_group_encode(float x, const IntGroupParams& p);
inline float int_group_decode(std::uint8_t code, const IntGroupParams& p) {
  return p.scale * (static_cast<float>(code) - p.zero);
}
// A whole Linear [rows, cols] in groups as GPTQ, AWQ and compressed-tensors store it: out[r][c] =
// scales[r][g] * (codes[r][c] - zeros[r][g]) with g = g_idx[c] (act-order permutations included);
// scales and zeros are [rows, groups].
template <class Zero>
void int_groups_decode(const std::uint8_t* codes, const float* scales, const Zero* zeros, const std::int32_t* g_idx,
                       std::int64_t rows, std::int64_t cols, std::int64_t groups, float* out) {
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t c = 0; c < cols; ++c) {
      const std::int64_t k = r * groups + g_idx[c];
      out[r * cols + c] = scales[k] * (static_cast<float>(codes[r * cols + c]) - static_cast<float>(zeros[k]));
    }
}

// ---- NVFP4 (NVIDIA Model Optimizer) ----------------------------------------------------------------------
//   s2 = amax(tensor) / 2688; p = amax(block of 16) / (6 * s2), 0 or NaN -> 1; s_b = E4M3_RNE(p);
//   e = float(s_b) * s2; code = E2M1_RNE_saturating(|w| / e) | sign bit where w < 0 (-0.0 codes +0);
//   w^ = (E2M1(code) * float(s_b)) * s2, in that order (the first product is exact)
float nvfp4_tensor_scale(float tensor_amax);
struct Nvfp4BlockScale {
  std::uint8_t code = 0;  // E4M3 code of s_b
  float e = 0;            // effective scale float(s_b) * s2
};
Nvfp4BlockScale nvfp4_block_scale(float block_amax, float s2);
std::uint8_t nvfp4_encode(float w, float e);
float nvfp4_decode(std::uint8_t code, std::uint8_t scale_code, float s2);

// ---- MXFP4 (OCP Microscaling v1.0) ----------------------------------------------------------------------
//   X = floor(log2 amax(block of 32)) - 2, clamped to [-127, 127] (amax 0 -> -127); scale code X + 127;
//   code = E2M1_RNE_saturating(|w| / 2^X) | sign bit where w < 0; w^ = E2M1(code) * 2^X
std::uint8_t mxfp4_scale_code(float block_amax);
std::uint8_t mxfp4_encode(float w, std::uint8_t scale_code);
float mxfp4_decode(std::uint8_t code, std::uint8_t scale_code);

// ---- scaled FP8 (per tensor or per row) and int8 per row -------------------------------------------------
//   fp8: scale = amax / max_finite (448 E4M3, 57344 E5M2), 1 for amax 0; code = saturating FP8(w / scale)
//   int8-ch: scale = amax / 127, 1 for amax 0; code = clamp(RNE(w / scale), -128, 127) as a byte
float fp8_scale(float amax, bool e5m2);
std::uint8_t fp8_encode(float w, float scale, bool e5m2);
float fp8_decode(std::uint8_t code, float scale, bool e5m2);
float int8_channel_scale(float amax);
std::uint8_t int8_channel_encode(float w, float scale);
inline float int8_channel_decode(std::uint8_t code, float scale) {
  return static_cast<float>(static_cast<std::int8_t>(code)) * scale;
}

}  // namespace qlab::formats
