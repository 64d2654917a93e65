#include "engine/tensor/gram.h"

#include <algorithm>

#include "engine/core/threads.h"
#include "engine/tensor/blas.h"

namespace qlab::tensor {

namespace {

// Column tiles of the upper triangle: tile t covers columns [t * kTile, ...) and rows 0 .. its end,
// so later tiles cost more. Work item i takes tiles i and n-1-i, which makes every item cost the same.
constexpr std::int64_t kTile = 256;

}  // namespace

void accumulate_gram_upper(const float* x, std::int64_t rows, std::int64_t cols, float* c) {
  if (rows <= 0 || cols <= 0) return;
  ensure_blas_single_threaded();
  const std::int64_t tiles = (cols + kTile - 1) / kTile;
  const std::int64_t items = (tiles + 1) / 2;
  auto tile = [&](std::int64_t t) {
    const std::int64_t j0 = t * kTile, j1 = std::min(cols, j0 + kTile);
    // H[0:j1, j0:j1] += X[:, 0:j1]^T X[:, j0:j1]
    sgemm(true, false, j1, j1 - j0, rows, 1.0f, x, cols, x + j0, cols, 1.0f, c + j0, cols);
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

}  // namespace qlab::tensor
