#include "engine/quant/quantized_linear.h"

#include <algorithm>
#include <cmath>

#include "engine/core/error.h"
#include "engine/core/threads.h"
#include "engine/tensor/blas.h"

namespace qlab::quant {

formats::IntGroupParams int_group_params_for(IntGroupRule rule, int bits, bool symmetric,
                                             std::span<const float> values) {
  if (rule == IntGroupRule::Format) return formats::int_group_params(bits, symmetric, values);
  float xmin = 0.0f, xmax = 0.0f;
  for (float v : values) {
    xmin = std::min(xmin, v);
    xmax = std::max(xmax, v);
  }
  return int_group_params_for_range(rule, bits, symmetric, xmin, xmax, std::max(std::fabs(xmin), xmax));
}

formats::IntGroupParams int_group_params_for_range(IntGroupRule rule, int bits, bool symmetric, float xmin, float xmax,
                                                   float amax) {
  if (rule == IntGroupRule::Format) return formats::int_group_params_from_range(bits, symmetric, xmin, xmax, amax);
  // quant.py Quantizer.find_params(weight=True, perchannel=True) for one row of the group.
  const float maxq = static_cast<float>((1 << bits) - 1);
  if (symmetric) {
    xmax = amax;
    if (xmin < 0) xmin = -xmax;
  }
  if (xmin == 0.0f && xmax == 0.0f) {
    xmin = -1.0f;
    xmax = 1.0f;
  }
  formats::IntGroupParams p;
  p.scale = (xmax - xmin) / maxq;
  p.zero = symmetric ? (maxq + 1.0f) / 2.0f : std::nearbyint(-xmin / p.scale);
  p.lo = -p.zero;
  p.hi = maxq - p.zero;
  p.group_max = xmax;
  return p;
}

bool QuantizedLinear::contiguous_groups() const {
  for (std::int64_t c = 0; c < cols; ++c)
    if (g_idx[static_cast<std::size_t>(c)] != c / group_size) return false;
  return true;
}

std::vector<float> QuantizedLinear::decode() const {
  std::vector<float> out(static_cast<std::size_t>(rows * cols));
  formats::int_groups_decode(codes.data(), scales.data(), zeros.data(), g_idx.data(), rows, cols, groups(), out.data());
  return out;
}

double output_error(std::span<const float> w, std::span<const float> q, std::int64_t rows, std::int64_t cols,
                    std::span<const float> gram) {
  // Per row d: d G d^T (error) and w G w^T (signal), with G d^T through one GEMM per slab of rows.
  const std::size_t n = static_cast<std::size_t>(rows * cols);
  if (w.size() != n || q.size() != n || gram.size() != static_cast<std::size_t>(cols * cols))
    fail("output_error: W, Q and X^T X do not have the shapes [{} x {}] and [{} x {}]", rows, cols, cols, cols);
  std::vector<float> d(n), dg(n), wg(n);
  for (std::size_t i = 0; i < n; ++i) d[i] = q[i] - w[i];
  tensor::ensure_blas_single_threaded();
  std::vector<double> err(static_cast<std::size_t>(rows)), sig(static_cast<std::size_t>(rows));
  parallel_for(static_cast<std::size_t>(rows), [&](std::size_t r0, std::size_t r1) {
    const auto m = static_cast<std::int64_t>(r1 - r0);
    const std::size_t off = r0 * static_cast<std::size_t>(cols);
    tensor::sgemm_nn(m, cols, cols, d.data() + off, cols, gram.data(), cols, dg.data() + off, cols);
    tensor::sgemm_nn(m, cols, cols, w.data() + off, cols, gram.data(), cols, wg.data() + off, cols);
    for (std::size_t r = r0; r < r1; ++r) {
      double e = 0, s = 0;
      for (std::int64_t c = 0; c < cols; ++c) {
        const std::size_t i = r * static_cast<std::size_t>(cols) + static_cast<std::size_t>(c);
        e += static_cast<double>(d[i]) * dg[i];
        s += static_cast<double>(w[i]) * wg[i];
      }
      err[r] = e;
      sig[r] = s;
    }
  }, grain_for_work(static_cast<double>(cols) * static_cast<double>(cols)));
  double e = 0, s = 0;
  for (std::size_t r = 0; r < err.size(); ++r) {
    e += err[r];
    s += sig[r];
  }
  return s > 0 ? e / s : (e > 0 ? INFINITY : 0.0);
}

void check_finite(std::span<const float> x, std::int64_t rows, std::int64_t cols, const std::string& what) {
  for (std::size_t i = 0; i < x.size(); ++i)
    if (!std::isfinite(x[i])) {
      const auto c = static_cast<std::int64_t>(i) % cols, r = static_cast<std::int64_t>(i) / cols;
      fail("{}: row {} column {} is {} (of [{} x {}]); quantization needs finite values", what, r, c, x[i], rows,
           cols);
    }
}

}  // namespace qlab::quant
