#pragma once
// Rotary position embedding as transformers applies it (rotate_half: element i pairs with
// i + head_dim/2), with the frequency scalings Llama-family configs use:
//   default  inv_freq_i = 1 / theta^(2i/d)
//   linear   inv_freq / factor
//   llama3   long wavelengths divided by factor, short ones kept, a smooth blend between
//            (transformers' _compute_llama3_parameters)
#include <cstdint>
#include <vector>

#include "engine/io/model_config.h"

namespace qlab::model {

std::vector<float> rope_inv_freq(const io::RopeConfig& rope, int head_dim);

class Rope {
 public:
  Rope() = default;
  // table_positions: positions [0, n) whose angles are computed once here (a forward pass then
  // copies them instead of calling cos and sin per position and pass).
  Rope(const io::RopeConfig& rope, int head_dim, std::int64_t table_positions = 0);
  // Rotates n_heads heads of head_dim values (contiguous) at position pos, in place.
  void apply(float* x, int n_heads, std::int64_t pos) const;
  // The same in two steps, so one position's angles serve many rows (every layer, q and k):
  // cos_sin fills cs[head_dim/2], sn[head_dim/2]; rotate applies them.
  void cos_sin(std::int64_t pos, float* cs, float* sn) const;
  void rotate(float* x, int n_heads, const float* cs, const float* sn) const;
  int head_dim() const { return head_dim_; }

 private:
  void compute(std::int64_t pos, float* cs, float* sn) const;
  int head_dim_ = 0;
  std::vector<float> inv_freq_;
  std::vector<float> table_;  // per position: head_dim/2 cosines then head_dim/2 sines
};

}  // namespace qlab::model
