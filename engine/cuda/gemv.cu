// y = x W^T for up to 8 rows of x (decoding, or a short batch): memory-bound, so the kernel's one job
// is to read each stored weight byte once at full bandwidth. Up to four matrices that share x (q, k,
// v; gate, up) go in one launch: fewer launch gaps, and the small ones no longer run alone. One warp per output row: lanes walk the
// row in 16-byte loads (8 bf16 / f16 or 4 f32 weights), four loads in flight per lane, widen in
// registers and accumulate x . w in float32 (the products are exact float32 products of the widened
// weights, as the CPU's); a warp reduction gives the row's outputs. x is read through the read-only
// cache (every warp of a block reads the same x). Rows whose length or storage is not a multiple of
// 16 bytes take the scalar loop.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "engine/cuda/check.h"
#include "engine/cuda/gemv_dot.cuh"
#include "engine/cuda/kernels.h"

namespace qlab::cuda::kernels {

namespace {

constexpr int kWarps = 8;

__device__ inline void widen(const uint4& u, const float*, float out[4]) {
  out[0] = __uint_as_float(u.x);
  out[1] = __uint_as_float(u.y);
  out[2] = __uint_as_float(u.z);
  out[3] = __uint_as_float(u.w);
}
__device__ inline void widen(const uint4& u, const __nv_bfloat16*, float out[8]) {
  const unsigned w[4] = {u.x, u.y, u.z, u.w};
  for (int i = 0; i < 4; ++i) {
    out[2 * i] = __uint_as_float(w[i] << 16);
    out[2 * i + 1] = __uint_as_float(w[i] & 0xFFFF0000u);
  }
}
__device__ inline void widen(const uint4& u, const __half*, float out[8]) {
  const unsigned w[4] = {u.x, u.y, u.z, u.w};
  for (int i = 0; i < 4; ++i) {
    out[2 * i] = __half2float(__ushort_as_half(static_cast<unsigned short>(w[i] & 0xFFFFu)));
    out[2 * i + 1] = __half2float(__ushort_as_half(static_cast<unsigned short>(w[i] >> 16)));
  }
}
__device__ inline float widen1(float w) { return w; }
__device__ inline float widen1(__nv_bfloat16 w) { return __bfloat162float(w); }
__device__ inline float widen1(__half w) { return __half2float(w); }

// Warp i's part (matrix) and row within it.
__device__ inline int part_of(const GemvBatch& b, std::int64_t i) {
  int p = 0;
  while (p + 1 < b.count && i >= b.start[p + 1]) ++p;
  return p;
}

template <typename W>
__global__ void __launch_bounds__(kWarps * 32) gemv_vec(GemvBatch b, std::int64_t K, const float* x, int M) {
  constexpr int E = 16 / sizeof(W);  // weights per 16-byte load
  constexpr int kUnroll = 4;
  const int lane = threadIdx.x % 32;
  const std::int64_t g = static_cast<std::int64_t>(blockIdx.x) * kWarps + threadIdx.x / 32;
  if (g >= b.start[b.count]) return;
  const int p = part_of(b, g);
  const std::int64_t i = g - b.start[p];
  const uint4* row = reinterpret_cast<const uint4*>(static_cast<const W*>(b.w[p]) + i * K);
  const std::int64_t nv = K / E;  // 16-byte vectors per row
  float acc[kGemvMaxRows];
  for (int m = 0; m < kGemvMaxRows; ++m) acc[m] = 0.0f;
  std::int64_t v = lane;
  for (; v + 32 * (kUnroll - 1) < nv; v += 32 * kUnroll) {
    uint4 u[kUnroll];
    for (int k = 0; k < kUnroll; ++k) u[k] = __ldg(row + v + 32 * k);
    for (int k = 0; k < kUnroll; ++k) {
      float wf[E];
      widen(u[k], static_cast<const W*>(nullptr), wf);
      dot_rows(wf, x, K, (v + 32 * k) * E, M, acc);
    }
  }
  for (; v < nv; v += 32) {
    const uint4 u = __ldg(row + v);
    float wf[E];
    widen(u, static_cast<const W*>(nullptr), wf);
    dot_rows(wf, x, K, v * E, M, acc);
  }
  for (int m = 0; m < kGemvMaxRows; ++m) {
    if (m >= M) break;
    float sum = acc[m];
    for (int o = 16; o > 0; o >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, o);
    if (lane == 0) b.y[p][m * b.ldy[p] + i] = sum;
  }
}

template <typename W>
__global__ void __launch_bounds__(kWarps * 32) gemv_scalar(GemvBatch b, std::int64_t K, const float* x, int M) {
  const int lane = threadIdx.x % 32;
  const std::int64_t g = static_cast<std::int64_t>(blockIdx.x) * kWarps + threadIdx.x / 32;
  if (g >= b.start[b.count]) return;
  const int p = part_of(b, g);
  const std::int64_t i = g - b.start[p];
  const W* row = static_cast<const W*>(b.w[p]) + i * K;
  float acc[kGemvMaxRows];
  for (int m = 0; m < kGemvMaxRows; ++m) acc[m] = 0.0f;
  for (std::int64_t k = lane; k < K; k += 32) {
    const float wf = widen1(row[k]);
    for (int m = 0; m < kGemvMaxRows; ++m) {
      if (m >= M) break;
      acc[m] = fmaf(wf, x[m * K + k], acc[m]);
    }
  }
  for (int m = 0; m < kGemvMaxRows; ++m) {
    if (m >= M) break;
    float sum = acc[m];
    for (int o = 16; o > 0; o >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, o);
    if (lane == 0) b.y[p][m * b.ldy[p] + i] = sum;
  }
}

template <typename W>
void launch(const GemvBatch& b, std::int64_t K, const float* x, int M, cudaStream_t s) {
  bool aligned = (K * static_cast<std::int64_t>(sizeof(W))) % 16 == 0 && reinterpret_cast<std::uintptr_t>(x) % 16 == 0;
  for (int p = 0; p < b.count; ++p) aligned = aligned && reinterpret_cast<std::uintptr_t>(b.w[p]) % 16 == 0;
  const auto blocks = static_cast<unsigned>((b.start[b.count] + kWarps - 1) / kWarps);
  if (aligned)
    gemv_vec<W><<<blocks, kWarps * 32, 0, s>>>(b, K, x, M);
  else
    gemv_scalar<W><<<blocks, kWarps * 32, 0, s>>>(b, K, x, M);
  check_launch("matrix-vector product kernel");
}

}  // namespace

void gemv(const GemvBatch& b, WeightType type, std::int64_t K, const float* x, int M, cudaStream_t s) {
  if (b.count <= 0 || b.start[b.count] <= 0 || M <= 0) return;
  if (M > kGemvMaxRows) check(cudaErrorInvalidValue, "matrix-vector product of more than 8 rows");
  switch (type) {
    case WeightType::F32: launch<float>(b, K, x, M, s); break;
    case WeightType::BF16: launch<__nv_bfloat16>(b, K, x, M, s); break;
    case WeightType::F16: launch<__half>(b, K, x, M, s); break;
    case WeightType::Packed: check(cudaErrorInvalidValue, "matrix-vector product of packed weights"); break;
  }
}

void gemv(const DeviceWeight& w, std::int64_t row0, std::int64_t n, const float* x, int M, float* y,
          std::int64_t ldy, cudaStream_t s) {
  const std::int64_t elem = w.type == WeightType::F32 ? 4 : 2;
  GemvBatch b;
  b.count = 1;
  b.w[0] = static_cast<const char*>(w.data) + row0 * w.cols * elem;
  b.y[0] = y + row0;
  b.ldy[0] = ldy;
  b.start[0] = 0;
  b.start[1] = n;
  gemv(b, w.type, w.cols, x, M, s);
}

}  // namespace qlab::cuda::kernels
