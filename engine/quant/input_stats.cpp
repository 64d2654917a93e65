#include "engine/quant/input_stats.h"

#include <algorithm>
#include <cmath>

#include "engine/core/error.h"
#include "engine/core/threads.h"
#include "engine/tensor/blas.h"

namespace qlab::quant {

namespace {

// Column tiles of the upper triangle: tile t covers columns [t * kTile, ...) and rows 0 .. its end,
// so later tiles cost more. Work item i takes tiles i and n-1-i, which makes every item cost the same.
constexpr std::int64_t kTile = 256;

}  // namespace

void accumulate_gram_upper(const float* x, std::int64_t rows, std::int64_t cols, float* c) {
  if (rows <= 0 || cols <= 0) return;
  tensor::ensure_blas_single_threaded();
  const std::int64_t tiles = (cols + kTile - 1) / kTile;
  const std::int64_t items = (tiles + 1) / 2;
  auto tile = [&](std::int64_t t) {
    const std::int64_t j0 = t * kTile, j1 = std::min(cols, j0 + kTile);
    // H[0:j1, j0:j1] += X[:, 0:j1]^T X[:, j0:j1]
    tensor::sgemm(true, false, j1, j1 - j0, rows, 1.0f, x, cols, x + j0, cols, 1.0f, c + j0, cols);
  };
  const double work = static_cast<double>(rows) * static_cast<double>(cols) * static_cast<double>(kTile);
  parallel_for(static_cast<std::size_t>(items), [&](std::size_t i0, std::size_t i1) {
    for (std::size_t i = i0; i < i1; ++i) {
      const auto a = static_cast<std::int64_t>(i), b = tiles - 1 - a;
      tile(a);
      if (b != a) tile(b);
    }
  }, grain_for_work(work));
}

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
  if (!xtx_.empty()) accumulate_gram_upper(x, rows, cols_, xtx_.data());
  tokens_ += rows;
}

std::vector<float> InputStats::gram() const {
  if (xtx_.empty()) fail("{}: X^T X was not collected", what_);
  const auto C = static_cast<std::size_t>(cols_);
  std::vector<float> g = xtx_;
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

std::vector<float> InputStats::mean_abs() const {
  std::vector<float> m(abs_sum_.size(), 0.0f);
  if (tokens_ == 0) return m;
  for (std::size_t c = 0; c < m.size(); ++c) m[c] = static_cast<float>(abs_sum_[c] / static_cast<double>(tokens_));
  return m;
}

std::uint64_t InputStats::bytes() const {
  return xtx_.size() * sizeof(float) + abs_sum_.size() * sizeof(double) + amax_.size() * sizeof(float);
}

}  // namespace qlab::quant
