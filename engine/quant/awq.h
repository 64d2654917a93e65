#pragma once
// AWQ's searches (Lin et al., MLSys 2024), as AutoAWQ's awq/quantize/quantizer.py does them
// (algorithms.md 3.2), on weights and cached activations; awq_model.h runs them per decoder block.
//   awq_weight_mean     w_mean[c]: mean over the rows of every scaled Linear of |W[o][c]| / (max |W| of
//                       that row's group + 1e-6)  (AutoAWQ get_weight_scale, per quantization group)
//   awq_grid_scales     for ratio r = k / n_grid: s = clamp(x_mean^r / (w_mean^(1-r) + 1e-4), min 1e-4)
//                       (duo scaling; llm-awq's x_mean^r without it), s /= sqrt(max s * min s), inf/NaN -> 1
//   awq_search_scale    the s of the 20 whose loss(Q(W s) / s) is smallest (strictly; first wins ties)
//   awq_search_clip     per (row, group): max |w| shrunk by (1 - i/20), i < 10; the one whose
//                       per-group partial products on every (n // 512)-th token are closest (mean square)
//   awq_quantize_linear one Linear alone (quantize-tensor --method awq): scale search with the Linear as
//                       the compared module, clip search, then round-to-nearest of W s; no folding
// Quantization Q everywhere (search and final) is the int formats' group rule (block_params.h), so what the
// search optimises is what is stored; AutoAWQ's pseudo_quantize_tensor uses the group's true min/max
// instead of min/max with 0 included -- different only for a group whose values all have one sign.
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "engine/formats/block.h"
#include "engine/quant/quantized_linear.h"

namespace qlab::model {
class Backend;
}

namespace qlab::quant {

struct AwqOptions {
  int bits = 4;
  std::int64_t group_size = 128;  // -1: per row
  bool symmetric = false;         // AutoAWQ zero_point=True by default (asymmetric)
  int n_grid = 20;                // scale ratios k / n_grid, k < n_grid
  bool duo_scaling = true;        // AutoAWQ's default; false = llm-awq's x_mean^r
  bool clip = true;               // AutoAWQ apply_clip
  int clip_grid = 20;
  double max_shrink = 0.5;        // clip shrink steps i < max_shrink * clip_grid
  std::int64_t clip_tokens = 512; // n_sample_token: every (n // 512)-th token
  // Where quantize_model_awq's calibration passes run (nullptr: the CPU); the scale and clip searches
  // run on the host over the inputs they keep.
  model::Backend* backend = nullptr;
};

// bits, group and symmetry of an int group format; an error naming any other format.
AwqOptions awq_options_for(const formats::BlockFormatSpec& spec);

// Round-to-nearest of w [rows, cols] in groups of `group` columns along each row (the last may be
// shorter; group -1 or >= cols: the whole row) with the int formats' rule: codes, scales, zeros,
// dequantized. On the thread pool.
QuantizedLinear round_to_nearest(std::span<const float> w, std::int64_t rows, std::int64_t cols, int bits,
                                 std::int64_t group, bool symmetric, const std::string& name);
// The dequantized values only, in place.
void fake_quantize_groups(std::span<float> w, std::int64_t rows, std::int64_t cols, int bits, std::int64_t group,
                          bool symmetric);

// A scaled Linear's weight, [rows, cols] row-major.
struct WeightView {
  const float* w = nullptr;
  std::int64_t rows = 0, cols = 0;
};

std::vector<float> awq_weight_mean(std::span<const WeightView> linears, std::int64_t group);
std::vector<float> awq_grid_scales(std::span<const float> x_mean, std::span<const float> w_mean, double ratio,
                                   bool duo_scaling);

struct AwqScaleSearch {
  std::vector<float> scales;      // [cols] the best s
  double ratio = 0;               // its grid ratio
  double loss = 0;                // its loss
  std::vector<double> losses;     // every grid point's loss
};
// loss(qweights): the module's output error with each scaled Linear replaced by qweights[i]
// (= Q(W_i diag(s)) diag(s)^-1, [rows_i, cols]). Error naming `what` if no loss is finite.
AwqScaleSearch awq_search_scale(std::span<const WeightView> linears, std::span<const float> x_mean,
                                const AwqOptions& opt, const std::string& what,
                                const std::function<double(const std::vector<std::vector<float>>&)>& loss);

// Clip search on w [rows, cols] (already scaled) with inputs x [n, cols] (already divided by s):
// max_val [rows, groups]. apply_clip clamps w to +-max_val per (row, group).
std::vector<float> awq_search_clip(std::span<const float> w, std::int64_t rows, std::int64_t cols,
                                   std::span<const float> x, std::int64_t n, const AwqOptions& opt);
void apply_clip(std::span<float> w, std::int64_t rows, std::int64_t cols, std::span<const float> max_val,
                std::int64_t group);

struct AwqLinearResult {
  QuantizedLinear q;               // codes etc. of W diag(s), clipped; q.dequantized in that scaled space
  std::vector<float> input_scale;  // s [cols]: the layer computes (x / s) Q(W s)^T
  std::vector<float> effective;    // [rows, cols] Q(W s) diag(s)^-1: the weight as the original x sees it
  AwqScaleSearch search;
};
// One Linear on its own inputs x [n, cols] (no folding). Throws on NaN/Inf (naming `name`) or bad shapes.
AwqLinearResult awq_quantize_linear(std::span<const float> w, std::int64_t rows, std::int64_t cols,
                                    std::span<const float> x, std::int64_t n, const AwqOptions& opt,
                                    const std::string& name);

}  // namespace qlab::quant
