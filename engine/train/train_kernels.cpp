#include "engine/train/train_kernels.h"

#include <algorithm>
#include <cmath>

#include "engine/core/threads.h"
#include "engine/tensor/blas.h"

namespace qlab::train {

namespace {
int I(std::int64_t v) { return static_cast<int>(v); }
// Rows per task: enough work per BLAS call to be worth a thread.
std::size_t grain_rows(std::int64_t cols_work) {
  return static_cast<std::size_t>(std::max<std::int64_t>(8, 65536 / std::max<std::int64_t>(1, cols_work)));
}
}  // namespace

void matmul_nt(std::int64_t M, std::int64_t N, std::int64_t K, const float* A, const float* B, float* C) {
  tensor::ensure_blas_single_threaded();
  parallel_for(
      static_cast<std::size_t>(M),
      [&](std::size_t b, std::size_t e) {
        tensor::sgemm(false, true, I(static_cast<std::int64_t>(e - b)), I(N), I(K), 1.0f,
                    A + b * K, I(K), B, I(K), 0.0f, C + b * N, I(N));
      },
      grain_rows(N * K / 64));
}

void matmul_nn(std::int64_t M, std::int64_t N, std::int64_t K, const float* A, const float* B, float* C,
               bool accumulate) {
  tensor::ensure_blas_single_threaded();
  parallel_for(
      static_cast<std::size_t>(M),
      [&](std::size_t b, std::size_t e) {
        tensor::sgemm(false, false, I(static_cast<std::int64_t>(e - b)), I(N), I(K),
                    1.0f, A + b * K, I(K), B, I(N), accumulate ? 1.0f : 0.0f, C + b * N, I(N));
      },
      grain_rows(N * K / 64));
}

void matmul_tn_acc(std::int64_t M, std::int64_t N, std::int64_t K, const float* A, const float* B, float* C) {
  tensor::ensure_blas_single_threaded();
  // Split the output rows (columns of A) so no two workers write the same row of C.
  parallel_for(
      static_cast<std::size_t>(N),
      [&](std::size_t b, std::size_t e) {
        tensor::sgemm(true, false, I(static_cast<std::int64_t>(e - b)), I(K), I(M), 1.0f,
                    A + b, I(N), B, I(K), 1.0f, C + b * K, I(K));
      },
      grain_rows(M * K / 64));
}

void rmsnorm_forward(std::int64_t N, std::int64_t H, const float* x, const float* w, float eps, float* y,
                     float* rstd) {
  parallel_for(
      static_cast<std::size_t>(N),
      [&](std::size_t b, std::size_t e) {
        for (std::size_t n = b; n < e; ++n) {
          const float* xr = x + n * H;
          float* yr = y + n * H;
          double ss = 0;
          for (std::int64_t i = 0; i < H; ++i) ss += static_cast<double>(xr[i]) * xr[i];
          const float r = static_cast<float>(1.0 / std::sqrt(ss / static_cast<double>(H) + eps));
          rstd[n] = r;
          for (std::int64_t i = 0; i < H; ++i) yr[i] = xr[i] * r * w[i];
        }
      },
      64);
}

void rmsnorm_backward(std::int64_t N, std::int64_t H, const float* x, const float* w, const float* rstd,
                      const float* dy, float* dx, float* dw, bool accumulate_dx) {
  // dx: rows independent, threaded. dw: a sum over rows, done in one pass per column block.
  parallel_for(
      static_cast<std::size_t>(N),
      [&](std::size_t b, std::size_t e) {
        for (std::size_t n = b; n < e; ++n) {
          const float* xr = x + n * H;
          const float* g = dy + n * H;
          float* dxr = dx + n * H;
          const float r = rstd[n];
          double dot = 0;
          for (std::int64_t i = 0; i < H; ++i) dot += static_cast<double>(g[i]) * w[i] * xr[i];
          const float c = static_cast<float>(dot / static_cast<double>(H)) * r * r * r;
          for (std::int64_t i = 0; i < H; ++i) {
            float v = g[i] * w[i] * r - xr[i] * c;
            dxr[i] = accumulate_dx ? dxr[i] + v : v;
          }
        }
      },
      64);
  for (std::int64_t n = 0; n < N; ++n) {
    const float* xr = x + n * H;
    const float* g = dy + n * H;
    const float r = rstd[n];
    for (std::int64_t i = 0; i < H; ++i) dw[i] += g[i] * xr[i] * r;
  }
}

RopeTable::RopeTable(std::int64_t T_, std::int64_t head_dim, double theta) : T(T_), half(head_dim / 2) {
  cos.resize(static_cast<std::size_t>(T * half));
  sin.resize(cos.size());
  for (std::int64_t t = 0; t < T; ++t)
    for (std::int64_t i = 0; i < half; ++i) {
      const double inv_freq = 1.0 / std::pow(theta, static_cast<double>(2 * i) / static_cast<double>(head_dim));
      // transformers computes the angle in float32: position * inv_freq
      const float ang = static_cast<float>(t) * static_cast<float>(inv_freq);
      cos[static_cast<std::size_t>(t * half + i)] = std::cos(ang);
      sin[static_cast<std::size_t>(t * half + i)] = std::sin(ang);
    }
}

void rope_apply(const RopeTable& r, std::int64_t N, std::int64_t T, std::int64_t heads, float* x, bool inverse) {
  const std::int64_t half = r.half, hd = 2 * half, width = heads * hd;
  const float sgn = inverse ? -1.0f : 1.0f;
  parallel_for(
      static_cast<std::size_t>(N),
      [&](std::size_t b, std::size_t e) {
        for (std::size_t n = b; n < e; ++n) {
          const std::int64_t t = static_cast<std::int64_t>(n) % T;
          const float* c = r.cos.data() + t * half;
          const float* s = r.sin.data() + t * half;
          for (std::int64_t h = 0; h < heads; ++h) {
            float* v = x + static_cast<std::int64_t>(n) * width + h * hd;
            for (std::int64_t i = 0; i < half; ++i) {
              const float a = v[i], bb = v[i + half];
              v[i] = a * c[i] - sgn * bb * s[i];
              v[i + half] = bb * c[i] + sgn * a * s[i];
            }
          }
        }
      },
      64);
}

// Per (sequence, head) the score and value products go through BLAS; the causal mask is applied
// in the softmax (entries above the diagonal become exactly 0, so the full products stay correct).
void attention_forward(const AttnShape& s, const float* q, const float* k, const float* v, float* P, float* out) {
  const std::int64_t T = s.T, hd = s.hd, group = s.n_head / s.n_kv;
  const std::int64_t qw = s.n_head * hd, kw = s.n_kv * hd;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  tensor::ensure_blas_single_threaded();
  parallel_for(static_cast<std::size_t>(s.B * s.n_head), [&](std::size_t b0, std::size_t e0) {
    for (std::size_t job = b0; job < e0; ++job) {
      const std::int64_t b = static_cast<std::int64_t>(job) / s.n_head, h = static_cast<std::int64_t>(job) % s.n_head;
      const std::int64_t kvh = h / group;
      const float* qh = q + b * T * qw + h * hd;
      const float* kh = k + b * T * kw + kvh * hd;
      const float* vh = v + b * T * kw + kvh * hd;
      float* p = P + (b * s.n_head + h) * T * T;
      tensor::sgemm(false, true, I(T), I(T), I(hd), scale, qh, I(qw), kh, I(kw), 0.0f, p,
                  I(T));
      for (std::int64_t t = 0; t < T; ++t) {
        float* row = p + t * T;
        float mx = -INFINITY;
        for (std::int64_t u = 0; u <= t; ++u) mx = std::max(mx, row[u]);
        float sum = 0;
        for (std::int64_t u = 0; u <= t; ++u) {
          row[u] = std::exp(row[u] - mx);
          sum += row[u];
        }
        const float inv = 1.0f / sum;
        for (std::int64_t u = 0; u <= t; ++u) row[u] *= inv;
        for (std::int64_t u = t + 1; u < T; ++u) row[u] = 0;
      }
      tensor::sgemm(false, false, I(T), I(hd), I(T), 1.0f, p, I(T), vh, I(kw), 0.0f,
                  out + b * T * qw + h * hd, I(qw));
    }
  });
}

void attention_backward(const AttnShape& s, const float* q, const float* k, const float* v, const float* P,
                        const float* dout, float* dq, float* dk, float* dv) {
  const std::int64_t T = s.T, hd = s.hd, group = s.n_head / s.n_kv;
  const std::int64_t qw = s.n_head * hd, kw = s.n_kv * hd;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  tensor::ensure_blas_single_threaded();
  // One task per (sequence, key/value head): the heads sharing a k/v head write the same dk, dv.
  parallel_for(static_cast<std::size_t>(s.B * s.n_kv), [&](std::size_t b0, std::size_t e0) {
    std::vector<float> ds(static_cast<std::size_t>(T * T));
    for (std::size_t job = b0; job < e0; ++job) {
      const std::int64_t b = static_cast<std::int64_t>(job) / s.n_kv, kvh = static_cast<std::int64_t>(job) % s.n_kv;
      const float* kh = k + b * T * kw + kvh * hd;
      const float* vh = v + b * T * kw + kvh * hd;
      float* dkh = dk + b * T * kw + kvh * hd;
      float* dvh = dv + b * T * kw + kvh * hd;
      for (std::int64_t t = 0; t < T; ++t)
        for (std::int64_t i = 0; i < hd; ++i) dkh[t * kw + i] = dvh[t * kw + i] = 0;
      for (std::int64_t h = kvh * group; h < (kvh + 1) * group; ++h) {
        const float* p = P + (b * s.n_head + h) * T * T;
        const float* doh = dout + b * T * qw + h * hd;
        const float* qh = q + b * T * qw + h * hd;
        // dP = dO V^T ; dV += P^T dO
        tensor::sgemm(false, true, I(T), I(T), I(hd), 1.0f, doh, I(qw), vh, I(kw), 0.0f,
                    ds.data(), I(T));
        tensor::sgemm(true, false, I(T), I(hd), I(T), 1.0f, p, I(T), doh, I(qw), 1.0f, dvh,
                    I(kw));
        // Softmax backward: dS = P * (dP - sum(P * dP)) * scale (zero above the diagonal, where P is 0).
        for (std::int64_t t = 0; t < T; ++t) {
          const float* pr = p + t * T;
          float* dr = ds.data() + t * T;
          float rowsum = 0;
          for (std::int64_t u = 0; u <= t; ++u) rowsum += pr[u] * dr[u];
          for (std::int64_t u = 0; u <= t; ++u) dr[u] = pr[u] * (dr[u] - rowsum) * scale;
          for (std::int64_t u = t + 1; u < T; ++u) dr[u] = 0;
        }
        // dQ = dS K ; dK += dS^T Q
        tensor::sgemm(false, false, I(T), I(hd), I(T), 1.0f, ds.data(), I(T), kh, I(kw),
                    0.0f, dq + b * T * qw + h * hd, I(qw));
        tensor::sgemm(true, false, I(T), I(hd), I(T), 1.0f, ds.data(), I(T), qh, I(qw), 1.0f,
                    dkh, I(kw));
      }
    }
  });
}

void swiglu_forward(std::size_t n, const float* g, const float* u, float* a) {
  parallel_for(
      n,
      [&](std::size_t b, std::size_t e) {
        for (std::size_t i = b; i < e; ++i) a[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
      },
      16384);
}

void swiglu_backward(std::size_t n, const float* g, const float* u, const float* da, float* dg, float* du) {
  parallel_for(
      n,
      [&](std::size_t b, std::size_t e) {
        for (std::size_t i = b; i < e; ++i) {
          const float sg = 1.0f / (1.0f + std::exp(-g[i]));
          const float silu = g[i] * sg;
          du[i] = da[i] * silu;
          dg[i] = da[i] * u[i] * sg * (1.0f + g[i] * (1.0f - sg));
        }
      },
      16384);
}

double cross_entropy(std::int64_t N, std::int64_t V, float* logits, const std::int32_t* targets, bool want_grad,
                     float grad_scale, std::int64_t& counted, std::vector<double>* nll_per_row) {
  std::vector<double> nll(static_cast<std::size_t>(N), 0.0);
  parallel_for(
      static_cast<std::size_t>(N),
      [&](std::size_t b, std::size_t e) {
        for (std::size_t n = b; n < e; ++n) {
          float* row = logits + n * V;
          const std::int32_t tgt = targets[n];
          if (tgt < 0) {
            if (want_grad)
              for (std::int64_t i = 0; i < V; ++i) row[i] = 0;
            continue;
          }
          float mx = row[0];
          for (std::int64_t i = 1; i < V; ++i) mx = std::max(mx, row[i]);
          double sum = 0;
          for (std::int64_t i = 0; i < V; ++i) sum += std::exp(static_cast<double>(row[i] - mx));
          const double lse = static_cast<double>(mx) + std::log(sum);
          nll[n] = lse - row[tgt];
          if (want_grad) {
            for (std::int64_t i = 0; i < V; ++i)
              row[i] = static_cast<float>(std::exp(static_cast<double>(row[i]) - lse)) * grad_scale;
            row[tgt] -= grad_scale;
          }
        }
      },
      16);
  double total = 0;
  counted = 0;
  for (std::int64_t n = 0; n < N; ++n)
    if (targets[n] >= 0) {
      total += nll[static_cast<std::size_t>(n)];
      ++counted;
    }
  if (nll_per_row) *nll_per_row = std::move(nll);
  return total;
}

}  // namespace qlab::train
