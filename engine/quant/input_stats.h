#pragma once
// What calibration keeps of one Linear input's activations X [tokens, cols], added a pass at a time:
//   X^T X     the Gram matrix, from which GPTQ's Hessian H = 2/N X^T X (algorithms.md 2.3; N = tokens
//             here -- GPTQ counts sequences, and any positive multiple gives the same weights)
//   sum |x|   per input channel: AWQ's activation statistic mean |x| (algorithms.md 3.2)
//   amax      per input channel: max |x| (for FP8 / NVFP4 static activation scales)
// X^T X is accumulated in float32 (as GPTQ does) through BLAS: the upper triangle, in column tiles
// spread over the thread pool (each tile one SGEMM: H[0:j1, j0:j1] += X[:, 0:j1]^T X[:, j0:j1]).
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace qlab::quant {

class InputStats {
 public:
  InputStats() = default;
  // cols: in_features; gram: whether to accumulate X^T X (cols^2 floats) beside the per-channel sums.
  InputStats(std::int64_t cols, bool gram, std::string what);

  // Adds x [rows, cols] (row-major). Throws qlab::Error naming `what` on a NaN or infinity.
  void add(const float* x, std::int64_t rows);

  std::int64_t cols() const { return cols_; }
  std::int64_t tokens() const { return tokens_; }
  bool has_gram() const { return !xtx_.empty(); }
  // 2/N X^T X [cols, cols], both triangles (GPTQ's H). Needs gram and N > 0.
  std::vector<float> hessian() const;
  // X^T X [cols, cols], both triangles.
  std::vector<float> gram() const;
  std::vector<float> mean_abs() const;  // [cols] sum |x| / N (0 when N = 0)
  const std::vector<float>& amax() const { return amax_; }
  std::uint64_t bytes() const;          // memory held

 private:
  std::int64_t cols_ = 0, tokens_ = 0;
  std::string what_;
  std::vector<float> xtx_;     // [cols, cols] upper triangle (row-major j >= i) while accumulating
  std::vector<double> abs_sum_;
  std::vector<float> amax_;
};

// C[cols, cols] upper triangle += X^T X for x [rows, cols], on the thread pool (BLAS single-threaded
// inside it). The strictly lower part of C is left as it was except inside the diagonal tiles.
void accumulate_gram_upper(const float* x, std::int64_t rows, std::int64_t cols, float* c);

}  // namespace qlab::quant
