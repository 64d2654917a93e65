#pragma once
// What calibration keeps of one Linear input's activations X [tokens, cols], added a pass at a time:
//   X^T X     the Gram matrix, from which GPTQ's Hessian H = 2/N X^T X (algorithms.md 2.3; N = tokens
//             here -- GPTQ counts sequences, and any positive multiple gives the same weights)
//   sum |x|   per input channel: AWQ's activation statistic mean |x| (algorithms.md 3.2)
//   amax      per input channel: max |x| (for FP8 / NVFP4 static activation scales)
// X^T X is accumulated in float32 (as GPTQ does): on the host through BLAS (tensor/gram.h), or on the
// backend that ran the pass (Backend::accumulate_gram: cuBLAS on a GPU, so the activations never
// cross to the host).
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace qlab::model {
class Backend;
struct LinearInputView;
}  // namespace qlab::model

namespace qlab::quant {

class InputStats {
 public:
  InputStats() = default;
  // cols: in_features; gram: whether to accumulate X^T X (cols^2 floats) beside the per-channel sums.
  InputStats(std::int64_t cols, bool gram, std::string what);

  // Adds x [rows, cols] (row-major). Throws qlab::Error naming `what` on a NaN or infinity.
  void add(const float* x, std::int64_t rows);
  // Adds a pass's input where the pass left it. With the Gram wanted and the activations on a backend
  // whose memory is not the host's (a GPU), X^T X accumulates there and nothing crosses to the host;
  // the per-channel sums are then not kept (mean_abs and amax throw), and a NaN or infinity is found
  // on the Gram's diagonal when it is read. Otherwise as add(v.host(), v.rows). Every view added
  // must then come from that same backend.
  void add(const model::LinearInputView& v);

  std::int64_t cols() const { return cols_; }
  std::int64_t tokens() const { return tokens_; }
  bool has_gram() const { return !xtx_.empty(); }
  // 2/N X^T X [cols, cols], both triangles (GPTQ's H). Needs gram and N > 0.
  std::vector<float> hessian() const;
  // X^T X [cols, cols], both triangles.
  std::vector<float> gram() const;
  std::vector<float> mean_abs() const;  // [cols] sum |x| / N (0 when N = 0)
  const std::vector<float>& amax() const;
  std::uint64_t bytes() const;          // memory held

 private:
  std::int64_t cols_ = 0, tokens_ = 0;
  std::string what_;
  std::vector<float> xtx_;     // [cols, cols] upper triangle (row-major j >= i) while accumulating
  model::Backend* backend_ = nullptr;  // set when X^T X accumulates on a backend: there, in backend_xtx_
  std::shared_ptr<float> backend_xtx_;
  std::vector<double> abs_sum_;
  std::vector<float> amax_;
};

}  // namespace qlab::quant
