#include "engine/quant/awq.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "engine/core/error.h"
#include "engine/core/threads.h"
#include "engine/tensor/blas.h"

namespace qlab::quant {

namespace {

std::int64_t group_of(std::int64_t group, std::int64_t cols) { return group > 0 ? std::min(group, cols) : cols; }

// One row's groups through the int formats' rule; codes/deq may be null.
void quantize_row(const float* w, std::int64_t cols, std::int64_t g, int bits, bool symmetric, std::uint8_t* codes,
                  float* deq, float* scales, std::uint8_t* zeros) {
  for (std::int64_t c0 = 0, k = 0; c0 < cols; c0 += g, ++k) {
    const std::int64_t n = std::min(g, cols - c0);
    const auto p = formats::int_group_params(bits, symmetric, std::span<const float>(w + c0, static_cast<std::size_t>(n)));
    if (p.overflow) fail("a group reaches {}; its scale does not fit float16 (max 65504)", p.group_max);
    if (scales) scales[k] = p.scale;
    if (zeros) zeros[k] = static_cast<std::uint8_t>(p.zero);
    for (std::int64_t i = 0; i < n; ++i) {
      const std::uint8_t code = formats::int_group_encode(w[c0 + i], p);
      if (codes) codes[c0 + i] = code;
      if (deq) deq[c0 + i] = formats::int_group_decode(code, p);
    }
  }
}

}  // namespace

AwqOptions awq_options_for(const formats::BlockFormatSpec& spec) {
  if (spec.kind != formats::BlockKind::IntGroup)
    fail("AWQ quantizes to integer group formats (int4-g128, int4-g64, int4-g32, ...), not {}", spec.name);
  AwqOptions o;
  o.bits = spec.bits;
  o.group_size = spec.block_size > 0 ? spec.block_size : -1;
  o.symmetric = spec.symmetric;
  return o;
}

QuantizedLinear round_to_nearest(std::span<const float> w, std::int64_t rows, std::int64_t cols, int bits,
                                 std::int64_t group, bool symmetric, const std::string& name) {
  check_finite(w, rows, cols, name + " weight");
  const std::int64_t g = group_of(group, cols);
  QuantizedLinear q;
  q.name = name;
  q.rows = rows;
  q.cols = cols;
  q.bits = bits;
  q.group_size = g;
  q.symmetric = symmetric;
  const auto G = static_cast<std::size_t>(q.groups());
  const auto R = static_cast<std::size_t>(rows), C = static_cast<std::size_t>(cols);
  q.codes.resize(R * C);
  q.dequantized.resize(R * C);
  q.scales.resize(R * G);
  q.zeros.resize(R * G);
  q.g_idx.resize(C);
  for (std::size_t c = 0; c < C; ++c) q.g_idx[c] = static_cast<std::int32_t>(static_cast<std::int64_t>(c) / g);
  parallel_for(R, [&](std::size_t r0, std::size_t r1) {
    for (std::size_t r = r0; r < r1; ++r)
      quantize_row(w.data() + r * C, cols, g, bits, symmetric, q.codes.data() + r * C, q.dequantized.data() + r * C,
                   q.scales.data() + r * G, q.zeros.data() + r * G);
  }, grain_for_work(static_cast<double>(cols) * 8));
  return q;
}

void fake_quantize_groups(std::span<float> w, std::int64_t rows, std::int64_t cols, int bits, std::int64_t group,
                          bool symmetric) {
  const std::int64_t g = group_of(group, cols);
  const auto C = static_cast<std::size_t>(cols);
  parallel_for(static_cast<std::size_t>(rows), [&](std::size_t r0, std::size_t r1) {
    for (std::size_t r = r0; r < r1; ++r)
      quantize_row(w.data() + r * C, cols, g, bits, symmetric, nullptr, w.data() + r * C, nullptr, nullptr);
  }, grain_for_work(static_cast<double>(cols) * 8));
}

std::vector<float> awq_weight_mean(std::span<const WeightView> linears, std::int64_t group) {
  const std::int64_t cols = linears.empty() ? 0 : linears[0].cols;
  const std::int64_t g = group_of(group, cols);
  std::vector<double> sum(static_cast<std::size_t>(cols), 0.0);
  std::int64_t rows = 0;
  for (const WeightView& l : linears) {
    for (std::int64_t r = 0; r < l.rows; ++r) {
      const float* w = l.w + r * cols;
      for (std::int64_t c0 = 0; c0 < cols; c0 += g) {
        const std::int64_t n = std::min(g, cols - c0);
        float amax = 0;
        for (std::int64_t i = 0; i < n; ++i) amax = std::max(amax, std::fabs(w[c0 + i]));
        const float den = amax + 1e-6f;
        for (std::int64_t i = 0; i < n; ++i) sum[static_cast<std::size_t>(c0 + i)] += std::fabs(w[c0 + i]) / den;
      }
    }
    rows += l.rows;
  }
  std::vector<float> mean(sum.size());
  for (std::size_t c = 0; c < sum.size(); ++c) mean[c] = static_cast<float>(sum[c] / static_cast<double>(rows));
  return mean;
}

std::vector<float> awq_grid_scales(std::span<const float> x_mean, std::span<const float> w_mean, double ratio,
                                   bool duo_scaling) {
  const auto r = static_cast<float>(ratio);
  std::vector<float> s(x_mean.size());
  for (std::size_t c = 0; c < s.size(); ++c) {
    const float v = duo_scaling ? std::pow(x_mean[c], r) / (std::pow(w_mean[c], 1.0f - r) + 1e-4f)
                                : std::pow(x_mean[c], r);
    s[c] = std::max(v, 1e-4f);
  }
  const auto [lo, hi] = std::minmax_element(s.begin(), s.end());
  const float norm = std::sqrt(*hi * *lo);
  for (float& v : s) {
    v /= norm;
    if (!std::isfinite(v)) v = 1.0f;
  }
  return s;
}

AwqScaleSearch awq_search_scale(std::span<const WeightView> linears, std::span<const float> x_mean,
                                const AwqOptions& opt, const std::string& what,
                                const std::function<double(const std::vector<std::vector<float>>&)>& loss) {
  const std::vector<float> w_mean = awq_weight_mean(linears, opt.group_size);
  AwqScaleSearch best;
  best.loss = std::numeric_limits<double>::infinity();
  bool found = false;
  std::vector<std::vector<float>> qw(linears.size());
  for (int k = 0; k < opt.n_grid; ++k) {
    const double ratio = static_cast<double>(k) / opt.n_grid;
    const std::vector<float> s = awq_grid_scales(x_mean, w_mean, ratio, opt.duo_scaling);
    for (std::size_t i = 0; i < linears.size(); ++i) {
      const WeightView& l = linears[i];
      const auto C = static_cast<std::size_t>(l.cols);
      qw[i].resize(static_cast<std::size_t>(l.rows) * C);
      for (std::size_t j = 0; j < qw[i].size(); ++j) qw[i][j] = l.w[j] * s[j % C];
      fake_quantize_groups(qw[i], l.rows, l.cols, opt.bits, opt.group_size, opt.symmetric);
      for (std::size_t j = 0; j < qw[i].size(); ++j) qw[i][j] /= s[j % C];
    }
    const double e = loss(qw);
    best.losses.push_back(e);
    if (e < best.loss) {
      best.loss = e;
      best.ratio = ratio;
      best.scales = s;
      found = true;
    }
  }
  if (!found) fail("{}: AWQ scale search found no finite loss (NaN or infinity in the block's outputs)", what);
  return best;
}

std::vector<float> awq_search_clip(std::span<const float> w, std::int64_t rows, std::int64_t cols,
                                   std::span<const float> x, std::int64_t n, const AwqOptions& opt) {
  const std::int64_t g = group_of(opt.group_size, cols), G = (cols + g - 1) / g;
  const std::int64_t step = std::max<std::int64_t>(1, n / opt.clip_tokens);
  const std::int64_t ns = (n + step - 1) / step;
  const auto C = static_cast<std::size_t>(cols);
  std::vector<float> best(static_cast<std::size_t>(rows * G), 0.0f);
  tensor::ensure_blas_single_threaded();
  const int shrinks = static_cast<int>(opt.max_shrink * opt.clip_grid);
  parallel_for(static_cast<std::size_t>(G), [&](std::size_t k0, std::size_t k1) {
    std::vector<float> xs, wg, org, cur, qg;
    for (std::size_t k = k0; k < k1; ++k) {
      const std::int64_t c0 = static_cast<std::int64_t>(k) * g, m = std::min(g, cols - c0);
      const auto M = static_cast<std::size_t>(m);
      xs.resize(static_cast<std::size_t>(ns) * M);  // the sampled tokens' group columns [ns, m]
      for (std::int64_t t = 0; t < ns; ++t)
        std::copy_n(x.data() + static_cast<std::size_t>(t * step) * C + static_cast<std::size_t>(c0), m,
                    xs.data() + static_cast<std::size_t>(t) * M);
      wg.resize(static_cast<std::size_t>(rows) * M);
      std::vector<float> org_max(static_cast<std::size_t>(rows)), min_err(static_cast<std::size_t>(rows), 1e9f);
      for (std::int64_t r = 0; r < rows; ++r) {
        std::copy_n(w.data() + static_cast<std::size_t>(r) * C + static_cast<std::size_t>(c0), m,
                    wg.data() + static_cast<std::size_t>(r) * M);
        float a = 0;
        for (std::size_t i = 0; i < M; ++i) a = std::max(a, std::fabs(wg[static_cast<std::size_t>(r) * M + i]));
        org_max[static_cast<std::size_t>(r)] = a;
        best[static_cast<std::size_t>(r * G) + k] = a;
      }
      org.resize(static_cast<std::size_t>(ns * rows));
      cur.resize(org.size());
      tensor::sgemm_nt(ns, rows, m, xs.data(), m, wg.data(), m, org.data(), rows);  // [ns, rows]
      qg.resize(wg.size());
      for (int i = 0; i < shrinks; ++i) {
        const float f = 1.0f - static_cast<float>(i) / static_cast<float>(opt.clip_grid);
        for (std::int64_t r = 0; r < rows; ++r) {
          const float mx = org_max[static_cast<std::size_t>(r)] * f;
          float* q = qg.data() + static_cast<std::size_t>(r) * M;
          const float* src = wg.data() + static_cast<std::size_t>(r) * M;
          for (std::size_t j = 0; j < M; ++j) q[j] = std::clamp(src[j], -mx, mx);
          quantize_row(q, m, m, opt.bits, opt.symmetric, nullptr, q, nullptr, nullptr);
        }
        tensor::sgemm_nt(ns, rows, m, xs.data(), m, qg.data(), m, cur.data(), rows);
        for (std::int64_t r = 0; r < rows; ++r) {
          double e = 0;
          for (std::int64_t t = 0; t < ns; ++t) {
            const double d = static_cast<double>(cur[static_cast<std::size_t>(t * rows + r)]) -
                             org[static_cast<std::size_t>(t * rows + r)];
            e += d * d;
          }
          const auto err = static_cast<float>(e / static_cast<double>(ns));
          if (err < min_err[static_cast<std::size_t>(r)]) {
            min_err[static_cast<std::size_t>(r)] = err;
            best[static_cast<std::size_t>(r * G) + k] = org_max[static_cast<std::size_t>(r)] * f;
          }
        }
      }
    }
  });
  return best;
}

void apply_clip(std::span<float> w, std::int64_t rows, std::int64_t cols, std::span<const float> max_val,
                std::int64_t group) {
  const std::int64_t g = group_of(group, cols), G = (cols + g - 1) / g;
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t c = 0; c < cols; ++c) {
      const float m = max_val[static_cast<std::size_t>(r * G + c / g)];
      float& v = w[static_cast<std::size_t>(r * cols + c)];
      v = std::clamp(v, -m, m);
    }
}

AwqLinearResult awq_quantize_linear(std::span<const float> w, std::int64_t rows, std::int64_t cols,
                                    std::span<const float> x, std::int64_t n, const AwqOptions& opt,
                                    const std::string& name) {
  const auto R = static_cast<std::size_t>(rows), C = static_cast<std::size_t>(cols);
  if (w.size() != R * C || x.size() != static_cast<std::size_t>(n) * C || n < 1)
    fail("{}: AWQ needs W [{} x {}] and activations [N x {}]", name, rows, cols, cols);
  check_finite(w, rows, cols, name + " weight");
  check_finite(x, n, cols, name + " activations");
  // x_mean, and the module's float output: y = x W^T [n, rows]
  std::vector<float> x_mean(C, 0.0f);
  {
    std::vector<double> s(C, 0.0);
    for (std::int64_t t = 0; t < n; ++t)
      for (std::size_t c = 0; c < C; ++c) s[c] += std::fabs(x[static_cast<std::size_t>(t) * C + c]);
    for (std::size_t c = 0; c < C; ++c) x_mean[c] = static_cast<float>(s[c] / static_cast<double>(n));
  }
  tensor::ensure_blas_single_threaded();
  std::vector<float> ref(static_cast<std::size_t>(n) * R), out(ref.size());
  auto product = [&](const float* wt, float* y) {
    parallel_for(static_cast<std::size_t>(n), [&](std::size_t t0, std::size_t t1) {
      tensor::sgemm_nt(static_cast<std::int64_t>(t1 - t0), rows, cols, x.data() + t0 * C, cols, wt, cols, y + t0 * R,
                       rows);
    }, grain_for_work(static_cast<double>(rows) * static_cast<double>(cols)));
  };
  product(w.data(), ref.data());
  const WeightView view{w.data(), rows, cols};
  AwqLinearResult res;
  res.search = awq_search_scale(std::span<const WeightView>(&view, 1), x_mean, opt, name,
                                [&](const std::vector<std::vector<float>>& qw) {
                                  product(qw[0].data(), out.data());
                                  double e = 0;
                                  for (std::size_t i = 0; i < out.size(); ++i) {
                                    const double d = static_cast<double>(out[i]) - ref[i];
                                    e += d * d;
                                  }
                                  return e / static_cast<double>(out.size());
                                });
  res.input_scale = res.search.scales;
  const std::vector<float>& s = res.input_scale;
  std::vector<float> ws(R * C), xs(static_cast<std::size_t>(n) * C);
  for (std::size_t i = 0; i < ws.size(); ++i) ws[i] = w[i] * s[i % C];
  for (std::size_t i = 0; i < xs.size(); ++i) xs[i] = x[i] / s[i % C];
  if (opt.clip) apply_clip(ws, rows, cols, awq_search_clip(ws, rows, cols, xs, n, opt), opt.group_size);
  res.q = round_to_nearest(ws, rows, cols, opt.bits, opt.group_size, opt.symmetric, name);
  res.effective.resize(R * C);
  for (std::size_t i = 0; i < ws.size(); ++i) res.effective[i] = res.q.dequantized[i] / s[i % C];
  return res;
}

}  // namespace qlab::quant
