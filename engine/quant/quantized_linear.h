#pragma once
// What a calibrated quantizer (GPTQ, AWQ) makes of one Linear weight W [rows = out_features,
// cols = in_features]: the integer codes, the per-group scales and zero points, and the group of each
// input column (g_idx) -- what GPTQ / AWQ / compressed-tensors checkpoints store -- beside the
// dequantized matrix the runtime computes with. A checkpoint writer packs these; nothing here knows a
// byte layout.
//   QuantizedLinear        codes [rows, cols] in W's column order, scales / zeros [rows, groups], g_idx [cols]
//   output_error           ||(Q - W) X^T||^2 / ||W X^T||^2 from the Gram matrix X^T X (block-formats.md 4)
//   IntGroupRule           the group parameter rule: the int formats' (block_params.h, storable in
//                          intB-gG[-sym]) or the GPTQ reference Quantizer's (float32 scale; for comparing
//                          with the reference implementation)
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "engine/formats/block.h"
#include "engine/formats/block_params.h"

namespace qlab::quant {

// Messages a long quantization wants the user to see (a raised damping, fewer calibration samples).
using Warn = std::function<void(const std::string&)>;

enum class IntGroupRule {
  // block_params.h int_group_params: float16 scale; asymmetric = GPTQ's min/max rule (0 included),
  // symmetric = ModelOpt's amax / (2^(B-1) - 1) with codes q + 2^(B-1). What qlab's int formats store.
  Format,
  // IST-DASLab/gptq quant.py Quantizer.find_params: float32 scale; symmetric = GPTQ's
  // scale = 2 amax / (2^B - 1), zero (2^B) / 2. Only for comparing with the reference implementation.
  GptqReference,
};

// The parameters of one group under a rule (values: the group's elements of one row).
formats::IntGroupParams int_group_params_for(IntGroupRule rule, int bits, bool symmetric, std::span<const float> values);
// The same from the group's range: xmin = min(0, min x), xmax = max(0, max x), amax = max |x|.
formats::IntGroupParams int_group_params_for_range(IntGroupRule rule, int bits, bool symmetric, float xmin, float xmax,
                                                   float amax);

struct QuantizedLinear {
  std::string name;               // "layer 3 mlp.down_proj", for messages
  std::int64_t rows = 0, cols = 0;
  int bits = 4;
  std::int64_t group_size = 0;    // columns per group; cols when the whole row is one group (group -1)
  bool symmetric = false;
  IntGroupRule rule = IntGroupRule::Format;
  std::vector<std::uint8_t> codes;  // [rows, cols] one code per byte, W's column order, in [0, 2^bits)
  std::vector<float> scales;        // [rows, groups] (float16 values under IntGroupRule::Format)
  std::vector<std::uint8_t> zeros;  // [rows, groups] the code of 0.0 (2^(bits-1) when symmetric)
  std::vector<std::int32_t> g_idx;  // [cols] group of each column (c / group_size unless act-order)
  std::vector<std::int32_t> perm;   // act-order: the columns in the order they were quantized; else empty
  std::vector<float> dequantized;   // [rows, cols] scales[g_idx] * (code - zero)

  std::int64_t groups() const { return group_size > 0 ? (cols + group_size - 1) / group_size : 0; }
  // g_idx[c] == c / group_size for every column: storable in a block format (no act-order permutation).
  bool contiguous_groups() const;
  // dequantized recomputed from codes, scales, zeros and g_idx (a check of the parts' consistency).
  std::vector<float> decode() const;
};

// ||(Q - W) X^T||_F^2 / ||W X^T||_F^2 from gram = X^T X [cols, cols] (any positive multiple of it,
// e.g. the GPTQ Hessian; both triangles filled). W and Q are [rows, cols]. Computed in double.
double output_error(std::span<const float> w, std::span<const float> q, std::int64_t rows, std::int64_t cols,
                    std::span<const float> gram);

// Throws qlab::Error naming `what` and the first row and column of x [rows, cols] that is NaN or infinite.
void check_finite(std::span<const float> x, std::int64_t rows, std::int64_t cols, const std::string& what);

}  // namespace qlab::quant
