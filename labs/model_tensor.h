#pragma once
// A real weight matrix of the model in use, for the labs that measure formats on it.
// Only the chosen tensor's bytes are read (the file is memory-mapped), so it is quick even on 70B.
#include <cstdint>
#include <string>
#include <vector>

#include "labs/lab.h"

namespace qlab::labs {

struct WeightSample {
  std::string name;              // "model.layers.0.self_attn.q_proj.weight"
  std::int64_t rows = 0, cols = 0;  // rows kept (at most the tensor's), cols = the tensor's input width
  std::int64_t full_rows = 0;
  std::vector<float> data;       // rows x cols, row-major float32
};

// A projection of layer `layer` ("q_proj", "down_proj", ...; "auto": q_proj, or the layer's widest
// projection when q_proj's rows are too narrow for group-wise formats), up to max_elements values
// (whole rows). NotAvailable when the built-in model is not installed; Error for a broken folder or
// a layer / projection the model does not have.
WeightSample load_weight_sample(const ModelRef& model, std::int64_t max_elements, int layer = 0,
                                const std::string& projection = "auto");

struct PeakRatio {
  std::string name;
  double peak_to_rms = 0;  // largest |w| / root mean square: about 4 to 5 for a bell curve this size
};
// Every layer projection's peak-to-RMS ratio, largest first, when the model's weights take at most
// max_bytes (reading a 70B model's 140 GB to rank them is not worth it): empty otherwise.
std::vector<PeakRatio> rank_by_peak(const ModelRef& model, std::uint64_t max_bytes);

// Largest |x| over the root mean square of x (0 for an empty or all-zero x).
double peak_to_rms(const std::vector<float>& x);

}  // namespace qlab::labs
