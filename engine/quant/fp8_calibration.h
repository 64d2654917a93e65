#pragma once
// Post-training FP8 calibration with Model Optimizer's "max" algorithm: run calibration text through
// the model in full precision, keep the largest |x| each Linear's input reaches and the largest |w| of
// its weight, and freeze per-tensor scales format_max / amax, so the largest value seen lands on the
// format's largest finite value (448 for E4M3; a tensor that stayed zero keeps scale 1).
//   MaxCalibrator        the running maxima of n Linear layers, and the frozen scales
//   calibration_chunks   how many whole chunks of n_ctx tokens calibration runs (at most max_chunks)
// The forward pass that feeds it is the caller's: the trainer's FP8-emulating forward today
// (engine/train/evaluate.h), the runtime's layer hook once it has one.
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "engine/formats/scalar.h"

namespace qlab::quant {

struct Fp8Scales {
  float input = 1.0f, weight = 1.0f;  // multiply by the scale before the cast, divide after
};

class MaxCalibrator {
 public:
  explicit MaxCalibrator(std::size_t n_linears);
  void observe_input(std::size_t linear, std::span<const float> x);
  void observe_weight(std::size_t linear, std::span<const float> w);
  float input_amax(std::size_t linear) const { return input_amax_.at(linear); }
  float weight_amax(std::size_t linear) const { return weight_amax_.at(linear); }
  // format_max / amax per Linear, in float as the casts use it.
  std::vector<Fp8Scales> scales(formats::ScalarFormat format = formats::ScalarFormat::E4M3) const;

 private:
  std::vector<float> input_amax_, weight_amax_;
};

// Whole chunks of n_ctx calibration tokens, at most max_chunks (0: all). Error when there is not one.
std::int64_t calibration_chunks(std::size_t n_tokens, std::int64_t n_ctx, std::int64_t max_chunks);

}  // namespace qlab::quant
