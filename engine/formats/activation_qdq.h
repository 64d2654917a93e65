#pragma once
// Activations quantized and dequantized in place, as a serving engine quantizes a Linear's input at run
// time for a checkpoint with static activation scales (NVFP4 W4A4, ModelOpt FP8 W8A8), in emulation:
// float32 in, float32 values on the format's grid out, so an f32 product then computes what the
// engine's low-precision product computes (up to its accumulation order).
//   nvfp4_activation_qdq   per row, blocks of 16, after vLLM's reference (nvfp4_emulation_utils.py
//                          ref_nvfp4_quant / ref_nvfp4_quant_dequant), g the input's global scale
//                          (1 / ModelOpt input_scale, or compressed-tensors' input_global_scale):
//                            s   = E4M3(clamp(g * (amax * (1/6)), +-448))      the block's scale
//                            q   = E2M1(clamp(x * (1 / (s * (1/g))), +-6))     nearest, ties to even
//                            x^  = q * (s / g)
//                          (the reciprocals are float32, a zero one standing for 1 / 0; a zero block
//                          stays zero). vLLM's Triton path forms the multiplier as g / s, which can
//                          differ in the last bit before rounding.
//   fp8_activation_qdq     per tensor (vLLM's static_scaled_fp8_quant): x^ = E4M3(clamp(x * (1/scale),
//                          +-448)) * scale, E4M3 nearest with ties to even
#include <cstdint>
#include <span>

namespace qlab::formats {

// x: rows of `cols` values (cols a multiple of 16).
void nvfp4_activation_qdq(std::span<float> x, std::int64_t cols, float global_scale);
void fp8_activation_qdq(std::span<float> x, float scale);

// E2M1 of |v| <= 6 as the reference's thresholds give it (ties to the even code), sign kept.
float e2m1_nearest(float v);

}  // namespace qlab::formats
