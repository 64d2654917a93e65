// Row-wise kernels of a decoder layer and the evaluation reductions, float32, one block per row
// where a row is reduced (norms, NLL, KL). Each follows the CPU kernel it replaces (tensor/ops.cpp,
// backend_cpu.cpp): the same formula and clamps; sums are ordered differently (a tree over threads),
// so results agree to float rounding, not bit for bit.
#include <cuda_bf16.h>

#include <cfloat>
#include <cmath>

#include "engine/cuda/check.h"
#include "engine/cuda/kernels.h"

namespace qlab::cuda::kernels {

namespace {

constexpr int kThreads = 256;

__device__ inline double warp_sum(double v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ inline float warp_max(float v) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// Sum over the block (any multiple of 32 threads up to 1024); every thread gets the total. `scratch`
// holds 32 doubles.
__device__ double block_sum(double v, double* scratch) {
  v = warp_sum(v);
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  __syncthreads();  // scratch may still be read from a previous call
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  v = lane < static_cast<int>(blockDim.x / 32) ? scratch[lane] : 0.0;
  return warp_sum(v);
}

__device__ float block_max(float v, float* scratch) {
  v = warp_max(v);
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  __syncthreads();
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  v = lane < static_cast<int>(blockDim.x / 32) ? scratch[lane] : -INFINITY;
  return warp_max(v);
}

// Float partial sums per thread (a few hundred squares at most for an 8k row), totalled in double,
// as the CPU's float lanes flushed into a double.
__global__ void __launch_bounds__(1024) rmsnorm_kernel(float* x, const float* h, const float* w, float eps, std::int64_t n, float* out) {
  __shared__ double scratch[32];
  float* xr = x + blockIdx.x * n;
  const float* hr = h ? h + blockIdx.x * n : nullptr;
  float* o = out + blockIdx.x * n;
  const int nt = static_cast<int>(blockDim.x);
  float ss = 0.0f;
  // Four values per load where the rows allow it: a decoding pass has one row, and this block
  // alone reads all of it.
  const bool vec = n % 4 == 0 && (reinterpret_cast<std::uintptr_t>(xr) | reinterpret_cast<std::uintptr_t>(o) |
                                  reinterpret_cast<std::uintptr_t>(w) | reinterpret_cast<std::uintptr_t>(hr)) % 16 == 0;
  if (vec) {
    for (std::int64_t i = threadIdx.x; i < n / 4; i += nt) {
      float4 v = reinterpret_cast<const float4*>(xr)[i];
      if (hr) {
        const float4 a = reinterpret_cast<const float4*>(hr)[i];
        v = make_float4(__fadd_rn(v.x, a.x), __fadd_rn(v.y, a.y), __fadd_rn(v.z, a.z), __fadd_rn(v.w, a.w));
        reinterpret_cast<float4*>(xr)[i] = v;
      }
      ss = __fadd_rn(ss, __fmul_rn(v.x, v.x));
      ss = __fadd_rn(ss, __fmul_rn(v.y, v.y));
      ss = __fadd_rn(ss, __fmul_rn(v.z, v.z));
      ss = __fadd_rn(ss, __fmul_rn(v.w, v.w));
    }
  } else {
    for (std::int64_t i = threadIdx.x; i < n; i += nt) {
      float v = xr[i];
      if (hr) {
        v = __fadd_rn(v, hr[i]);
        xr[i] = v;
      }
      ss = __fadd_rn(ss, __fmul_rn(v, v));
    }
  }
  const double total = block_sum(ss, scratch);
  const auto inv = static_cast<float>(1.0 / sqrt(total / static_cast<double>(n) + static_cast<double>(eps)));
  if (vec) {
    for (std::int64_t i = threadIdx.x; i < n / 4; i += nt) {
      const float4 v = reinterpret_cast<const float4*>(xr)[i], g = reinterpret_cast<const float4*>(w)[i];
      reinterpret_cast<float4*>(o)[i] = make_float4(__fmul_rn(g.x, __fmul_rn(v.x, inv)), __fmul_rn(g.y, __fmul_rn(v.y, inv)),
                                                    __fmul_rn(g.z, __fmul_rn(v.z, inv)), __fmul_rn(g.w, __fmul_rn(v.w, inv)));
    }
  } else {
    for (std::int64_t i = threadIdx.x; i < n; i += nt) o[i] = __fmul_rn(w[i], __fmul_rn(xr[i], inv));
  }
}

// Threads per row of a norm: a prompt's many rows fill the GPU with blocks of kThreads; a decoding
// pass's few rows each get a block of 1024, so that one row is read in one or two rounds of loads.
unsigned norm_threads(std::int64_t rows) { return rows < 32 ? 1024u : static_cast<unsigned>(kThreads); }

// Block (r, y) handles row r's pairs y * blockDim.x ... (a few rows: several blocks per row).
__global__ void bias_rope_kernel(RopeArgs a) {
  const std::int64_t r = blockIdx.x;
  const int first = static_cast<int>(blockIdx.y * blockDim.x + threadIdx.x), step = static_cast<int>(gridDim.y * blockDim.x);
  const int half = a.hd / 2, q_dim = a.nh * a.hd, kv_dim = a.nkv * a.hd;
  const std::int64_t angle_row = a.same_start ? r % a.T : r;
  const float* cs = a.cs + angle_row * half;
  const float* sn = a.sn + angle_row * half;
  float* q = a.q + r * q_dim;
  float* k = a.k + r * kv_dim;
  float* v = a.v + r * kv_dim;
  // Biases first (every element), then the rotation of q and k by pairs (i, i + half) of each head.
  if (a.bv)
    for (int i = first; i < kv_dim; i += step) v[i] = __fadd_rn(v[i], a.bv[i]);
  for (int j = first; j < (a.nh + a.nkv) * half; j += step) {
    const bool is_q = j < a.nh * half;
    const int jj = is_q ? j : j - a.nh * half;
    const int head = jj / half, i = jj % half;
    float* base = (is_q ? q : k) + head * a.hd;
    const float* bias = is_q ? a.bq : a.bk;
    float x0 = base[i], x1 = base[i + half];
    if (bias) {
      x0 = __fadd_rn(x0, bias[head * a.hd + i]);
      x1 = __fadd_rn(x1, bias[head * a.hd + i + half]);
    }
    base[i] = __fsub_rn(__fmul_rn(x0, cs[i]), __fmul_rn(x1, sn[i]));
    base[i + half] = __fadd_rn(__fmul_rn(x1, cs[i]), __fmul_rn(x0, sn[i]));
  }
}

// silu(g) * u with the CPU's clamps (tensor::silu_mul): g raised to -87, e^-g's argument capped at 87.
__global__ void swiglu_kernel(float* g, const float* u, std::int64_t n, __nv_bfloat16* g16) {
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    const float x = fmaxf(g[i], -87.0f);
    const float a = fmaxf(-x, -87.0f);
    const float y = __fmul_rn(__fdiv_rn(x, __fadd_rn(1.0f, expf(a))), u[i]);
    g[i] = y;
    if (g16) g16[i] = __float2bfloat16_rn(y);
  }
}

__global__ void add_kernel(float* x, const float* h, std::int64_t n) {
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x)
    x[i] = __fadd_rn(x[i], h[i]);
}

__global__ void to_bf16_kernel(const float* x, std::int64_t n, __nv_bfloat16* out) {
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x)
    out[i] = __float2bfloat16_rn(x[i]);
}

// log(sum e^(x - max)) + max over a row: float exps (expf, within 2 ulp like the CPU's exp_fast),
// float partial sums per thread, the total in double.
__device__ double row_log_sum_exp(const float* row, std::int64_t n, float* fscratch, double* dscratch) {
  float mx = -INFINITY;
  for (std::int64_t i = threadIdx.x; i < n; i += kThreads) mx = fmaxf(mx, row[i]);
  mx = block_max(mx, fscratch);
  float s = 0.0f;
  for (std::int64_t i = threadIdx.x; i < n; i += kThreads) s = __fadd_rn(s, expf(__fsub_rn(row[i], mx)));
  const double total = block_sum(s, dscratch);
  return static_cast<double>(mx) + log(total);
}

__global__ void nll_kernel(const float* logits, std::int64_t vocab, const std::int32_t* targets, double* out) {
  __shared__ float fs[32];
  __shared__ double ds[32];
  const float* row = logits + blockIdx.x * vocab;
  const double lse = row_log_sum_exp(row, vocab, fs, ds);
  if (threadIdx.x == 0) out[blockIdx.x] = lse - static_cast<double>(row[targets[blockIdx.x]]);
}

// The first index of the largest value: (value, index) pairs reduced with "larger, or equal and lower".
__device__ void better(float& v, int& i, float v2, int i2) {
  if (v2 > v || (v2 == v && i2 < i)) {
    v = v2;
    i = i2;
  }
}

__device__ int block_argmax(const float* row, std::int64_t n, float* fscratch, int* iscratch) {
  float v = -INFINITY;
  int idx = 0x7fffffff;
  for (std::int64_t i = threadIdx.x; i < n; i += kThreads) better(v, idx, row[i], static_cast<int>(i));
  for (int o = 16; o > 0; o >>= 1) better(v, idx, __shfl_xor_sync(0xffffffffu, v, o), __shfl_xor_sync(0xffffffffu, idx, o));
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  __syncthreads();
  if (lane == 0) {
    fscratch[warp] = v;
    iscratch[warp] = idx;
  }
  __syncthreads();
  v = lane < kThreads / 32 ? fscratch[lane] : -INFINITY;
  idx = lane < kThreads / 32 ? iscratch[lane] : 0x7fffffff;
  for (int o = 16; o > 0; o >>= 1) better(v, idx, __shfl_xor_sync(0xffffffffu, v, o), __shfl_xor_sync(0xffffffffu, idx, o));
  return idx;
}

// The CPU's KL row (backend_cpu.cpp kl_rows): lp = double(x - max) - log(sum exp(double(x - max))),
// KL = sum exp(lp_b) (lp_b - lp_t); the NLLs as nll_kernel; argmax first on ties.
__global__ void kl_kernel(const float* base, const float* test, std::int64_t vocab, const std::int32_t* targets,
                          KLRow* out) {
  __shared__ float fs[32];
  __shared__ double ds[32];
  __shared__ int is[32];
  const float* rb = base + blockIdx.x * vocab;
  const float* rt = test + blockIdx.x * vocab;
  float mb = -INFINITY, mt = -INFINITY;
  for (std::int64_t i = threadIdx.x; i < vocab; i += kThreads) {
    mb = fmaxf(mb, rb[i]);
    mt = fmaxf(mt, rt[i]);
  }
  mb = block_max(mb, fs);
  mt = block_max(mt, fs);
  double sb = 0, st = 0;
  for (std::int64_t i = threadIdx.x; i < vocab; i += kThreads) {
    sb += exp(static_cast<double>(__fsub_rn(rb[i], mb)));
    st += exp(static_cast<double>(__fsub_rn(rt[i], mt)));
  }
  const double lsb = log(block_sum(sb, ds)), lst = log(block_sum(st, ds));
  double kl = 0;
  for (std::int64_t i = threadIdx.x; i < vocab; i += kThreads) {
    const double lpb = static_cast<double>(__fsub_rn(rb[i], mb)) - lsb;
    const double lpt = static_cast<double>(__fsub_rn(rt[i], mt)) - lst;
    kl += exp(lpb) * (lpb - lpt);
  }
  kl = block_sum(kl, ds);
  const double nll_b = row_log_sum_exp(rb, vocab, fs, ds), nll_t = row_log_sum_exp(rt, vocab, fs, ds);
  const int top_b = block_argmax(rb, vocab, fs, is), top_t = block_argmax(rt, vocab, fs, is);
  if (threadIdx.x == 0) {
    const int tg = targets[blockIdx.x];
    const double lpb = static_cast<double>(__fsub_rn(rb[tg], mb)) - lsb;
    const double lpt = static_cast<double>(__fsub_rn(rt[tg], mt)) - lst;
    KLRow& o = out[blockIdx.x];
    o.kld = fmax(kl, 0.0);
    o.nll_base = nll_b - static_cast<double>(rb[tg]);
    o.nll_test = nll_t - static_cast<double>(rt[tg]);
    o.delta_p = exp(lpt) - exp(lpb);
    o.same_top = top_b == top_t;
    o.pad = 0;
  }
}

unsigned grid_for(std::int64_t n) {
  const std::int64_t blocks = (n + kThreads - 1) / kThreads;
  return static_cast<unsigned>(blocks < 65535 * 8 ? (blocks > 0 ? blocks : 1) : 65535 * 8);
}

}  // namespace

void rmsnorm(const float* x, const float* w, float eps, std::int64_t rows, std::int64_t n, float* out, cudaStream_t s) {
  if (rows <= 0) return;
  // x is only read when h is null.
  rmsnorm_kernel<<<static_cast<unsigned>(rows), norm_threads(rows), 0, s>>>(const_cast<float*>(x), nullptr, w, eps, n, out);
  check_launch("rmsnorm kernel");
}

void residual_rmsnorm(float* x, const float* h, const float* w, float eps, std::int64_t rows, std::int64_t n,
                      float* out, cudaStream_t s) {
  if (rows <= 0) return;
  rmsnorm_kernel<<<static_cast<unsigned>(rows), norm_threads(rows), 0, s>>>(x, h, w, eps, n, out);
  check_launch("residual + rmsnorm kernel");
}

void bias_rope(const RopeArgs& a, cudaStream_t s) {
  if (a.rows <= 0) return;
  // Rows of a decoding pass are few: spread each row's pairs over several blocks.
  const int pairs = (a.nh + a.nkv) * (a.hd / 2);
  const unsigned per_row = a.rows >= 64 ? 1u : static_cast<unsigned>((pairs + 255) / 256);
  bias_rope_kernel<<<dim3(static_cast<unsigned>(a.rows), per_row), 256, 0, s>>>(a);
  check_launch("bias + RoPE kernel");
}

void swiglu(float* gate, const float* up, std::int64_t n, cudaStream_t s, __nv_bfloat16* gate16) {
  if (n <= 0) return;
  swiglu_kernel<<<grid_for(n), kThreads, 0, s>>>(gate, up, n, gate16);
  check_launch("SwiGLU kernel");
}

void residual_add(float* x, const float* h, std::int64_t n, cudaStream_t s) {
  if (n <= 0) return;
  add_kernel<<<grid_for(n), kThreads, 0, s>>>(x, h, n);
  check_launch("residual add kernel");
}

void to_bf16(const float* x, std::int64_t n, __nv_bfloat16* out, cudaStream_t s) {
  if (n <= 0) return;
  to_bf16_kernel<<<grid_for(n), kThreads, 0, s>>>(x, n, out);
  check_launch("bf16 conversion kernel");
}

void nll(const float* logits, std::int64_t rows, std::int64_t vocab, const std::int32_t* targets, double* out,
         cudaStream_t s) {
  if (rows <= 0) return;
  nll_kernel<<<static_cast<unsigned>(rows), kThreads, 0, s>>>(logits, vocab, targets, out);
  check_launch("NLL kernel");
}

void kl_rows(const float* base, const float* test, std::int64_t rows, std::int64_t vocab, const std::int32_t* targets,
             KLRow* out, cudaStream_t s) {
  if (rows <= 0) return;
  kl_kernel<<<static_cast<unsigned>(rows), kThreads, 0, s>>>(base, test, vocab, targets, out);
  check_launch("KL-divergence kernel");
}

}  // namespace qlab::cuda::kernels
