#include "engine/quant/input_stats.h"

#include <algorithm>
#include <cmath>

#include "engine/core/error.h"
#include "engine/model/backend.h"
#include "engine/model/decoder_layer.h"
#include "engine/tensor/gram.h"

namespace qlab::quant {

InputStats::InputStats(std::int64_t cols, bool gram, std::string what)
    : cols_(cols), what_(std::move(what)), abs_sum_(static_cast<std::size_t>(cols), 0.0),
      amax_(static_cast<std::size_t>(cols), 0.0f) {
  if (gram) xtx_.assign(static_cast<std::size_t>(cols * cols), 0.0f);
}

void InputStats::add(const float* x, std::int64_t rows) {
  const auto C = static_cast<std::size_t>(cols_);
  for (std::int64_t r = 0; r < rows; ++r) {
    const float* row = x + static_cast<std::size_t>(r) * C;
    for (std::size_t c = 0; c < C; ++c) {
      const float a = std::fabs(row[c]);
      if (!(a <= 3.4028235e38f))
        fail("{}: calibration activation at token {} channel {} is {}: the model produces NaN or infinity on this "
             "text", what_, tokens_ + r, c, row[c]);
      abs_sum_[c] += a;
      amax_[c] = std::max(amax_[c], a);
    }
  }
  if (!xtx_.empty()) tensor::accumulate_gram_upper(x, rows, cols_, xtx_.data());
  tokens_ += rows;
}

void InputStats::add(const model::LinearInputView& v) {
  if (v.cols != cols_) fail("{}: an input of {} channels added to statistics of {}", what_, v.cols, cols_);
  const bool on_backend = !xtx_.empty() && v.backend && !v.backend->host_memory();
  if (backend_ && v.backend != backend_)
    fail("{}: inputs from two backends added to one X^T X", what_);
  if (!on_backend) {
    add(v.host(), v.rows);
    return;
  }
  if (tokens_ > 0 && !backend_) fail("{}: inputs from two backends added to one X^T X", what_);
  if (!backend_) {
    backend_ = v.backend;
    backend_xtx_ = v.backend->alloc(cols_ * cols_);
  }
  backend_->accumulate_gram(v.data, v.rows, cols_, backend_xtx_.get(), tokens_ > 0);
  tokens_ += v.rows;
}

std::vector<float> InputStats::gram() const {
  if (xtx_.empty()) fail("{}: X^T X was not collected", what_);
  const auto C = static_cast<std::size_t>(cols_);
  std::vector<float> g = xtx_;
  if (backend_) {
    backend_->download(backend_xtx_.get(), cols_ * cols_, g.data());
    // A NaN or infinity in any activation reaches its channel's diagonal (a sum of squares).
    for (std::size_t c = 0; c < C; ++c)
      if (!(std::fabs(g[c * C + c]) <= 3.4028235e38f))
        fail("{}: calibration activations of channel {} reach {} in X^T X: the model produces NaN or infinity "
             "on this text", what_, c, g[c * C + c]);
  }
  for (std::size_t i = 0; i < C; ++i)
    for (std::size_t j = 0; j < i; ++j) g[i * C + j] = g[j * C + i];
  return g;
}

std::vector<float> InputStats::hessian() const {
  if (tokens_ == 0) fail("{}: no calibration tokens reached this Linear", what_);
  std::vector<float> h = gram();
  const float s = 2.0f / static_cast<float>(tokens_);
  for (float& v : h) v *= s;
  return h;
}

const std::vector<float>& InputStats::amax() const {
  if (backend_) fail("{}: per-channel statistics are not kept while X^T X accumulates on the {} backend", what_,
                     backend_->name());
  return amax_;
}

std::vector<float> InputStats::mean_abs() const {
  if (backend_) fail("{}: per-channel statistics are not kept while X^T X accumulates on the {} backend", what_,
                     backend_->name());
  std::vector<float> m(abs_sum_.size(), 0.0f);
  if (tokens_ == 0) return m;
  for (std::size_t c = 0; c < m.size(); ++c) m[c] = static_cast<float>(abs_sum_[c] / static_cast<double>(tokens_));
  return m;
}

std::uint64_t InputStats::bytes() const {
  return xtx_.size() * sizeof(float) + abs_sum_.size() * sizeof(double) + amax_.size() * sizeof(float);
}

}  // namespace qlab::quant
