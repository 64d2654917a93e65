// GPTQ fasterquant (gptq.h has the steps and their sources). Layout: W is processed as a row-major
// [rows, cols] matrix in the (act-order) processing order; each thread owns a slab of rows and keeps the
// current block transposed ([block columns, slab rows]) so a column's rows are contiguous.
#include "engine/quant/gptq.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <mutex>
#include <numeric>

#include "engine/core/error.h"
#include "engine/core/threads.h"
#include "engine/tensor/blas.h"

namespace qlab::quant {

namespace {

using clock_type = std::chrono::steady_clock;
double since(clock_type::time_point t0) { return std::chrono::duration<double>(clock_type::now() - t0).count(); }

// int_group_encode + int_group_decode on a row's parameters, vectorizable: clamping before rounding
// gives the same code since the clamp bounds are integers; (v + 1.5 * 2^23) - 1.5 * 2^23 rounds
// |v| < 2^22 to nearest even, as nearbyint does in the default rounding mode.
struct RowParams {
  std::vector<float> scale, zero, lo, hi;
  explicit RowParams(std::size_t n = 0) : scale(n), zero(n), lo(n), hi(n) {}
  void set(std::size_t r, const formats::IntGroupParams& p) {
    scale[r] = p.scale;
    zero[r] = p.zero;
    lo[r] = p.lo;
    hi[r] = p.hi;
  }
};

// Input columns from which the host's factorisations use every BLAS thread.
constexpr std::int64_t kThreadedFactorCols = 1024;

inline float code_of(float w, float scale, float zero, float lo, float hi) {
  constexpr float kMagic = 12582912.0f;
  float v = scale == 0.0f ? 0.0f : w / scale;
  v = v < lo ? lo : v;
  v = v > hi ? hi : v;
  return ((v + kMagic) - kMagic) + zero;
}

void check_options(const GptqOptions& o, std::int64_t cols, const std::string& name) {
  if (o.bits != 2 && o.bits != 3 && o.bits != 4 && o.bits != 8)
    fail("{}: GPTQ takes 2, 3, 4 or 8 bits, not {}", name, o.bits);
  if (o.group_size == 0 || o.group_size < -1) fail("{}: group size must be -1 (per row) or positive, not {}", name, o.group_size);
  if (o.group_size > 0 && cols % o.group_size != 0 && cols > o.group_size && !o.allow_partial_group)
    fail("{}: in_features {} is not a multiple of the group size {}", name, cols, o.group_size);
  if (o.static_groups && o.group_size < 0) fail("{}: static groups need a group size (not -1)", name);
  if (!(o.damp > 0 && o.damp < 1)) fail("{}: damp must be in (0, 1), not {}", name, o.damp);
  if (!(o.damp_step >= 0)) fail("{}: damp step must be >= 0, not {}", name, o.damp_step);
  if (o.block_size < 1) fail("{}: block size must be positive, not {}", name, o.block_size);
}

// U with H^-1 = U^T U (upper, row-major) from H (upper triangle read), written over h. False when
// a factorisation fails.
bool inverse_cholesky(std::vector<float>& h, std::int64_t n) {
  if (tensor::spotrf_upper(n, h.data(), n) != 0) return false;
  if (tensor::spotri_upper(n, h.data(), n) != 0) return false;
  if (tensor::spotrf_upper(n, h.data(), n) != 0) return false;
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = 0; j < i; ++j) h[static_cast<std::size_t>(i * n + j)] = 0.0f;
  for (std::int64_t i = 0; i < n; ++i)
    if (!std::isfinite(h[static_cast<std::size_t>(i * n + i)]) || h[static_cast<std::size_t>(i * n + i)] <= 0.0f)
      return false;
  return true;
}

// Step 5's retries: try(damp * mean_diag) until it factorises, raising damp by damp_step (a warning
// each time) until it would reach 1. Returns the damping that worked.
template <class Try>
double damped_factorisation(const GptqOptions& opt, double mean_diag, const std::string& name, const Warn& warn,
                            int& raises, Try&& try_factor) {
  double damp = opt.damp;
  for (;;) {
    if (try_factor(static_cast<float>(damp * mean_diag))) return damp;
    const double next = damp + opt.damp_step;
    if (opt.damp_step <= 0 || !(next < 1.0))
      fail("{}: the Hessian is not positive definite even with damp {:.4f} (Cholesky failed); the calibration "
           "activations of this Linear are degenerate: use more or other calibration text",
           name, damp);
    if (warn) warn(fmt::format("{}: Cholesky failed with damp {:.4f}; raising it to {:.4f}", name, damp, next));
    damp = next;
    ++raises;
  }
}

model::GptqRowParams row_params(const formats::IntGroupParams& p) { return {p.scale, p.zero, p.lo, p.hi}; }

// The parameters fixed before the loop ([rows, slots]: per row, or static groups) into the solver's slots.
void upload_fixed(model::GptqSolver& s, const std::vector<formats::IntGroupParams>& fixed, std::int64_t rows,
                  std::int64_t slots) {
  std::vector<model::GptqRowParams> p(static_cast<std::size_t>(rows));
  for (std::int64_t k = 0; k < slots; ++k) {
    for (std::int64_t r = 0; r < rows; ++r) p[static_cast<std::size_t>(r)] = row_params(fixed[static_cast<std::size_t>(r * slots + k)]);
    s.set_params(k, p.data());
  }
}

// Step 6 on a solver, block by block. With groups made in the loop, a block's new groups take their
// parameters from W as the earlier blocks left it (the host path's "full W"), which is what the solver
// holds when the block begins. Returns the loss sum (not yet halved).
template <class ParamsOf>
double column_loop_on(model::GptqSolver& s, std::int64_t rows, std::int64_t cols, std::int64_t g, bool groups_in_loop,
                      const GptqOptions& opt, QuantizedLinear& out, const ParamsOf& params_of,
                      const std::vector<std::int32_t>& perm) {
  const std::size_t R = static_cast<std::size_t>(rows), C = static_cast<std::size_t>(cols);
  const std::size_t G = static_cast<std::size_t>((cols + g - 1) / g);
  std::vector<model::GptqRowRange> range(R);
  std::vector<model::GptqRowParams> p(R);
  for (std::int64_t i1 = 0; i1 < cols; i1 += opt.block_size) {
    const std::int64_t i2 = std::min(i1 + opt.block_size, cols);
    if (groups_in_loop)
      for (std::int64_t c = (i1 + g - 1) / g * g; c < i2; c += g) {
        s.ranges(c, std::min(g, cols - c), range.data());
        const std::size_t k = static_cast<std::size_t>(c / g);
        for (std::size_t r = 0; r < R; ++r) {
          const auto gp = params_of(range[r]);
          p[r] = row_params(gp);
          out.scales[r * G + k] = gp.scale;
          out.zeros[r * G + k] = static_cast<std::uint8_t>(gp.zero);
        }
        s.set_params(static_cast<std::int64_t>(k), p.data());
      }
    s.block(i1, i2);
  }
  std::vector<std::uint8_t> codes(R * C);
  std::vector<float> q(R * C);
  const double loss = s.finish(codes.data(), q.data());
  for (std::size_t r = 0; r < R; ++r)
    for (std::size_t c = 0; c < C; ++c) {
      const std::size_t col = static_cast<std::size_t>(perm[c]);
      out.codes[r * C + col] = codes[r * C + c];
      out.dequantized[r * C + col] = q[r * C + c];
    }
  return loss;
}

// g_idx: the group of each column in the order groups were made (act-order + static: W's own order).
void finish_g_idx(QuantizedLinear& out, const std::vector<std::int32_t>& perm, bool grouped, bool static_groups,
                  std::int64_t g) {
  for (std::size_t c = 0; c < perm.size(); ++c) {
    const std::size_t col = static_cast<std::size_t>(perm[c]);
    out.g_idx[col] = static_cast<std::int32_t>(!grouped ? 0 : static_groups ? static_cast<std::int64_t>(col) / g
                                                                            : static_cast<std::int64_t>(c) / g);
  }
}

}  // namespace

GptqOptions gptq_options_for(const formats::BlockFormatSpec& spec) {
  if (spec.kind != formats::BlockKind::IntGroup)
    fail("GPTQ quantizes to integer group formats (int4-g128, int4-g32-sym, int8-ch, ...), not {}", spec.name);
  GptqOptions o;
  o.bits = spec.bits;
  o.group_size = spec.block_size > 0 ? spec.block_size : -1;
  o.symmetric = spec.symmetric;
  return o;
}

QuantizedLinear gptq_quantize(std::span<const float> weight, std::int64_t rows, std::int64_t cols,
                              std::vector<float> H, const GptqOptions& opt, const std::string& name, const Warn& warn,
                              GptqStats* stats_out) {
  GptqStats stats;
  const auto t0 = clock_type::now();
  const std::size_t C = static_cast<std::size_t>(cols), R = static_cast<std::size_t>(rows);
  if (rows < 1 || cols < 1 || weight.size() != R * C)
    fail("{}: weight holds {} values, not [{} x {}]", name, weight.size(), rows, cols);
  if (H.size() != C * C) fail("{}: Hessian holds {} values, not [{} x {}]", name, H.size(), cols, cols);
  check_options(opt, cols, name);
  check_finite(weight, rows, cols, name + " weight");
  check_finite(H, cols, cols, name + " Hessian");

  const std::int64_t g = opt.group_size > 0 ? std::min(opt.group_size, cols) : cols;
  const std::int64_t G = (cols + g - 1) / g;
  const bool grouped = opt.group_size > 0;
  auto params_of = [&](const float* v, std::int64_t n) {
    const auto p = int_group_params_for(opt.rule, opt.bits, opt.symmetric, std::span<const float>(v, static_cast<std::size_t>(n)));
    if (p.overflow) fail("{}: a group reaches {}; its scale does not fit float16 (max 65504)", name, p.group_max);
    return p;
  };
  auto params_of_range = [&](const model::GptqRowRange& x) {
    const auto p = int_group_params_for_range(opt.rule, opt.bits, opt.symmetric, x.xmin, x.xmax, x.amax);
    if (p.overflow) fail("{}: a group reaches {}; its scale does not fit float16 (max 65504)", name, p.group_max);
    return p;
  };

  QuantizedLinear out;
  out.name = name;
  out.rows = rows;
  out.cols = cols;
  out.bits = opt.bits;
  out.group_size = g;
  out.symmetric = opt.symmetric;
  out.rule = opt.rule;
  out.codes.assign(R * C, 0);
  out.dequantized.assign(R * C, 0.0f);
  out.scales.assign(R * static_cast<std::size_t>(G), 0.0f);
  out.zeros.assign(R * static_cast<std::size_t>(G), 0);
  out.g_idx.assign(C, 0);

  std::vector<float> W(weight.begin(), weight.end());
  // Parameters fixed before the loop ([rows, groups]): per row, or static groups.
  std::vector<formats::IntGroupParams> fixed;
  // 1. Per row (group -1): parameters from the whole W, before dead columns are zeroed.
  if (!grouped) {
    fixed.resize(R);
    for (std::size_t r = 0; r < R; ++r) fixed[r] = params_of(W.data() + r * C, cols);
  }
  // 2. Dead inputs.
  for (std::size_t j = 0; j < C; ++j)
    if (H[j * C + j] == 0.0f) {
      H[j * C + j] = 1.0f;
      for (std::size_t r = 0; r < R; ++r) W[r * C + j] = 0.0f;
      ++stats.dead_columns;
    }
  // 3. Static groups: every group's parameters from W as it is now, in W's column order.
  if (opt.static_groups) {
    fixed.resize(R * static_cast<std::size_t>(G));
    for (std::size_t r = 0; r < R; ++r)
      for (std::int64_t k = 0; k < G; ++k) {
        const std::int64_t c0 = k * g, n = std::min(g, cols - c0);
        fixed[r * static_cast<std::size_t>(G) + static_cast<std::size_t>(k)] =
            params_of(W.data() + r * C + static_cast<std::size_t>(c0), n);
      }
  }
  for (std::size_t i = 0; i < fixed.size(); ++i) {
    out.scales[i] = fixed[i].scale;
    out.zeros[i] = static_cast<std::uint8_t>(fixed[i].zero);
  }
  // 4. Act-order: process columns by decreasing H[j][j].
  std::vector<std::int32_t> perm(C);
  std::iota(perm.begin(), perm.end(), 0);
  if (opt.act_order) {
    std::stable_sort(perm.begin(), perm.end(), [&](std::int32_t a, std::int32_t b) {
      return H[static_cast<std::size_t>(a) * C + static_cast<std::size_t>(a)] >
             H[static_cast<std::size_t>(b) * C + static_cast<std::size_t>(b)];
    });
    std::vector<float> Wp(R * C), Hp(C * C);
    for (std::size_t r = 0; r < R; ++r)
      for (std::size_t c = 0; c < C; ++c) Wp[r * C + c] = W[r * C + static_cast<std::size_t>(perm[c])];
    for (std::size_t a = 0; a < C; ++a)
      for (std::size_t b = 0; b < C; ++b)
        Hp[a * C + b] = H[static_cast<std::size_t>(perm[a]) * C + static_cast<std::size_t>(perm[b])];
    W.swap(Wp);
    H.swap(Hp);
    out.perm = perm;
  }
  // 5. Damping, raised until the factorisations succeed.
  double mean_diag = 0;
  for (std::size_t j = 0; j < C; ++j) mean_diag += H[j * C + j];
  mean_diag /= static_cast<double>(C);
  stats.seconds_prepare = since(t0);
  const auto t1 = clock_type::now();
  std::vector<float> U;
  const bool on_solver = opt.solver != nullptr;
  if (on_solver) {
    std::vector<std::int32_t> slot(C);
    for (std::size_t c = 0; c < C; ++c)
      slot[c] = static_cast<std::int32_t>(!grouped ? 0 : opt.static_groups ? perm[c] / g : static_cast<std::int64_t>(c) / g);
    opt.solver->begin(W.data(), rows, cols, opt.block_size, slot, grouped ? G : 1);
    if (!fixed.empty()) upload_fixed(*opt.solver, fixed, rows, grouped ? G : 1);
  }
  stats.damp = damped_factorisation(opt, mean_diag, name, warn, stats.damp_raises, [&](float add) {
    if (on_solver) return opt.solver->factor(H.data(), add);
    U = H;
    for (std::size_t j = 0; j < C; ++j) U[j * C + j] += add;
    // A wide Linear's blocked factorisations on every BLAS thread: the pool is idle meanwhile (on one,
    // 2048 x 5632 took 6x as long as on all 16 cores of an H100 host, qlab bench gptq). A narrow one
    // stays on one thread, where threads gain nothing, so its result does not depend on the core count.
    const bool wide = cols >= kThreadedFactorCols;
    if (wide) tensor::set_blas_threads(thread_count());
    const bool ok = inverse_cholesky(U, cols);
    if (wide) tensor::set_blas_threads(1);
    return ok;
  });
  H.clear();
  H.shrink_to_fit();
  stats.seconds_factor = since(t1);
  if (on_solver) {
    const auto t2 = clock_type::now();
    stats.loss = column_loop_on(*opt.solver, rows, cols, g, grouped && !opt.static_groups, opt, out, params_of_range, perm) / 2;
    stats.seconds_loop = since(t2);
    finish_g_idx(out, perm, grouped, opt.static_groups, g);
    if (stats_out) *stats_out = stats;
    return out;
  }

  // 6. The column loop, rows in slabs on the thread pool.
  const auto t2 = clock_type::now();
  const std::int64_t B = opt.block_size;
  tensor::ensure_blas_single_threaded();
  std::mutex mu;
  double loss_total = 0, gemm_total = 0;
  parallel_for(R, [&](std::size_t r0, std::size_t r1) {
    const std::size_t m = r1 - r0;
    float* Ws = W.data() + r0 * C;  // this slab's rows of W, row-major [m, C]
    std::vector<float> W1(static_cast<std::size_t>(B) * m), Err(static_cast<std::size_t>(B) * m);
    RowParams cur(m);
    std::vector<RowParams> slab_fixed;  // the fixed parameters as [groups] of the slab's rows
    if (!fixed.empty()) {
      slab_fixed.assign(static_cast<std::size_t>(G), RowParams(m));
      for (std::size_t r = 0; r < m; ++r)
        for (std::size_t k = 0; k < static_cast<std::size_t>(G); ++k)
          slab_fixed[k].set(r, fixed[(r0 + r) * static_cast<std::size_t>(G) + k]);
    }
    double loss = 0, gemm_seconds = 0;
    for (std::int64_t i1 = 0; i1 < cols; i1 += B) {
      const std::int64_t i2 = std::min(i1 + B, cols), count = i2 - i1;
      for (std::int64_t i = 0; i < count; ++i)
        for (std::size_t r = 0; r < m; ++r)
          W1[static_cast<std::size_t>(i) * m + r] = Ws[r * C + static_cast<std::size_t>(i1 + i)];
      for (std::int64_t i = 0; i < count; ++i) {
        const std::int64_t c = i1 + i;
        const RowParams* p = &cur;
        if (grouped && !opt.static_groups) {
          if (c % g == 0) {  // a new group: parameters from the full W (this block's updates not in it yet)
            const std::int64_t n = std::min(g, cols - c);
            for (std::size_t r = 0; r < m; ++r) {
              const auto gp = params_of(Ws + r * C + static_cast<std::size_t>(c), n);
              cur.set(r, gp);
              const std::size_t k = (r0 + r) * static_cast<std::size_t>(G) + static_cast<std::size_t>(c / g);
              out.scales[k] = gp.scale;
              out.zeros[k] = static_cast<std::uint8_t>(gp.zero);
            }
          }
        } else {
          const std::int64_t k = grouped ? perm[static_cast<std::size_t>(c)] / g : 0;
          p = &slab_fixed[static_cast<std::size_t>(k)];
        }
        const float d = U[static_cast<std::size_t>(c) * C + static_cast<std::size_t>(c)];
        const std::size_t col = static_cast<std::size_t>(perm[static_cast<std::size_t>(c)]);
        float* w = W1.data() + static_cast<std::size_t>(i) * m;
        float* e = Err.data() + static_cast<std::size_t>(i) * m;
        for (std::size_t r = 0; r < m; ++r) {
          const float code = code_of(w[r], p->scale[r], p->zero[r], p->lo[r], p->hi[r]);
          const float q = p->scale[r] * (code - p->zero[r]);
          const float diff = w[r] - q;
          loss += static_cast<double>(diff) * diff / (static_cast<double>(d) * d);
          e[r] = diff / d;
          out.codes[(r0 + r) * C + col] = static_cast<std::uint8_t>(code);
          out.dequantized[(r0 + r) * C + col] = q;
        }
        const float* u = U.data() + static_cast<std::size_t>(c) * C + static_cast<std::size_t>(i1);
        for (std::int64_t j = i + 1; j < count; ++j) {
          float* wj = W1.data() + static_cast<std::size_t>(j) * m;
          const float uj = u[j];
          for (std::size_t r = 0; r < m; ++r) wj[r] -= e[r] * uj;
        }
      }
      if (i2 < cols) {  // W[:, i2:] -= Err [m, count] * U[i1:i2, i2:]
        const auto tg = clock_type::now();
        tensor::sgemm(true, false, static_cast<std::int64_t>(m), cols - i2, count, -1.0f, Err.data(),
                      static_cast<std::int64_t>(m), U.data() + static_cast<std::size_t>(i1) * C + static_cast<std::size_t>(i2),
                      cols, 1.0f, Ws + i2, cols);
        gemm_seconds += since(tg);
      }
    }
    std::lock_guard lock(mu);
    loss_total += loss;
    gemm_total += gemm_seconds;
  }, grain_for_work(static_cast<double>(cols) * static_cast<double>(cols)));
  stats.seconds_loop = since(t2);
  stats.seconds_gemm = gemm_total / std::max(1, std::min(thread_count(), static_cast<int>(rows)));
  stats.loss = loss_total / 2;

  finish_g_idx(out, perm, grouped, opt.static_groups, g);
  if (stats_out) *stats_out = stats;
  return out;
}

}  // namespace qlab::quant
