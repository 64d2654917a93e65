// GPTQ's kernels (kernels.h, gptq.cu): the column loop of one block and its helpers. The loop follows
// quant/gptq.cpp's host loop operation for operation -- the code from the clamped, rounded quotient,
// q = scale * (code - zero), the error divided by U's diagonal, each later column updated in column
// order -- with products and differences rounded separately (no contraction), so a column's codes
// agree with the host's wherever the inputs do.
#include <cmath>

#include "engine/cuda/check.h"
#include "engine/cuda/kernels.h"

namespace qlab::cuda::kernels {

namespace {

constexpr int kRowsPerBlock = 64;  // threads per block of gptq_block: one per row
constexpr int kTile = 32;          // transpose tiles

__global__ void block_kernel(GptqBlockArgs a) {
  const std::int64_t r = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const bool active = r < a.rows;
  double loss = 0;
  for (int i = 0; i < a.count; ++i) {
    const std::int64_t c = a.i1 + i;
    const float* u = a.u + c * a.cols + a.i1;  // U[c][i1 ...]
    const float d = u[i];
    if (!active) continue;
    const float4 p = a.params[static_cast<std::int64_t>(a.slot[c]) * a.rows + r];
    const std::int64_t at = static_cast<std::int64_t>(i) * a.rows + r;
    const float w = a.w1[at];
    float v = p.x == 0.0f ? 0.0f : w / p.x;
    v = v < p.z ? p.z : v;
    v = v > p.w ? p.w : v;
    const float code = __fadd_rn(rintf(v), p.y);
    const float q = __fmul_rn(p.x, __fsub_rn(code, p.y));
    const float diff = __fsub_rn(w, q);
    loss += static_cast<double>(diff) * diff / (static_cast<double>(d) * d);
    const float e = diff / d;
    a.err[at] = e;
    a.codes1[at] = static_cast<std::uint8_t>(code);
    a.w1[at] = q;
    for (int j = i + 1; j < a.count; ++j) {
      float* wj = a.w1 + static_cast<std::int64_t>(j) * a.rows + r;
      *wj = __fsub_rn(*wj, __fmul_rn(e, u[j]));
    }
  }
  for (int o = 16; o > 0; o >>= 1) loss += __shfl_xor_sync(0xffffffffu, loss, o);
  if (threadIdx.x % 32 == 0 && loss != 0.0) atomicAdd(a.loss, loss);
}

// One warp per row.
__global__ void ranges_kernel(const float* w, std::int64_t rows, std::int64_t cols, std::int64_t c, std::int64_t n,
                              float* out) {
  const std::int64_t r = static_cast<std::int64_t>(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32;
  if (r >= rows) return;
  const int lane = threadIdx.x % 32;
  float mn = 0.0f, mx = 0.0f, am = 0.0f;
  for (std::int64_t k = lane; k < n; k += 32) {
    const float v = w[r * cols + c + k];
    mn = v < mn ? v : mn;
    mx = v > mx ? v : mx;
    am = fmaxf(am, fabsf(v));
  }
  for (int o = 16; o > 0; o >>= 1) {
    const float a = __shfl_xor_sync(0xffffffffu, mn, o), b = __shfl_xor_sync(0xffffffffu, mx, o);
    mn = a < mn ? a : mn;
    mx = b > mx ? b : mx;
    am = fmaxf(am, __shfl_xor_sync(0xffffffffu, am, o));
  }
  if (lane == 0) {
    out[3 * r] = mn;
    out[3 * r + 1] = mx;
    out[3 * r + 2] = am;
  }
}

// Tiles of 32 x 32 through shared memory, so both sides are read and written along rows.
template <typename T>
__global__ void gather_kernel(const T* w, std::int64_t rows, std::int64_t cols, std::int64_t i1, int count, T* w1) {
  __shared__ T tile[kTile][kTile + 1];
  const std::int64_t r0 = static_cast<std::int64_t>(blockIdx.y) * kTile, i0 = static_cast<std::int64_t>(blockIdx.x) * kTile;
  for (int y = threadIdx.y; y < kTile; y += blockDim.y) {
    const std::int64_t r = r0 + y, i = i0 + threadIdx.x;
    if (r < rows && i < count) tile[y][threadIdx.x] = w[r * cols + i1 + i];
  }
  __syncthreads();
  for (int y = threadIdx.y; y < kTile; y += blockDim.y) {
    const std::int64_t i = i0 + y, r = r0 + threadIdx.x;
    if (r < rows && i < count) w1[i * rows + r] = tile[threadIdx.x][y];
  }
}

template <typename T>
__global__ void scatter_kernel(const T* w1, std::int64_t rows, std::int64_t cols, std::int64_t i1, int count, T* w) {
  __shared__ T tile[kTile][kTile + 1];
  const std::int64_t r0 = static_cast<std::int64_t>(blockIdx.y) * kTile, i0 = static_cast<std::int64_t>(blockIdx.x) * kTile;
  for (int y = threadIdx.y; y < kTile; y += blockDim.y) {
    const std::int64_t i = i0 + y, r = r0 + threadIdx.x;
    if (r < rows && i < count) tile[y][threadIdx.x] = w1[i * rows + r];
  }
  __syncthreads();
  for (int y = threadIdx.y; y < kTile; y += blockDim.y) {
    const std::int64_t r = r0 + y, i = i0 + threadIdx.x;
    if (r < rows && i < count) w[r * cols + i1 + i] = tile[threadIdx.x][y];
  }
}

__global__ void add_diagonal_kernel(float* a, std::int64_t n, float add) {
  const std::int64_t j = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (j < n) a[j * n + j] += add;
}

dim3 tiles(std::int64_t rows, int count) {
  return dim3(static_cast<unsigned>((count + kTile - 1) / kTile), static_cast<unsigned>((rows + kTile - 1) / kTile));
}

}  // namespace

void gptq_block(const GptqBlockArgs& a, cudaStream_t s) {
  const auto blocks = static_cast<unsigned>((a.rows + kRowsPerBlock - 1) / kRowsPerBlock);
  block_kernel<<<blocks, kRowsPerBlock, 0, s>>>(a);
  check_launch("gptq_block");
}

void gptq_ranges(const float* w, std::int64_t rows, std::int64_t cols, std::int64_t c, std::int64_t n, float* out,
                 cudaStream_t s) {
  constexpr int kWarps = 8;
  ranges_kernel<<<static_cast<unsigned>((rows + kWarps - 1) / kWarps), kWarps * 32, 0, s>>>(w, rows, cols, c, n, out);
  check_launch("gptq_ranges");
}

void gptq_gather(const float* w, std::int64_t rows, std::int64_t cols, std::int64_t i1, int count, float* w1,
                 cudaStream_t s) {
  gather_kernel<float><<<tiles(rows, count), dim3(kTile, 8), 0, s>>>(w, rows, cols, i1, count, w1);
  check_launch("gptq_gather");
}

void gptq_scatter(const float* w1, const std::uint8_t* codes1, std::int64_t rows, std::int64_t cols, std::int64_t i1,
                  int count, float* w, std::uint8_t* codes, cudaStream_t s) {
  scatter_kernel<float><<<tiles(rows, count), dim3(kTile, 8), 0, s>>>(w1, rows, cols, i1, count, w);
  check_launch("gptq_scatter");
  scatter_kernel<std::uint8_t><<<tiles(rows, count), dim3(kTile, 8), 0, s>>>(codes1, rows, cols, i1, count, codes);
  check_launch("gptq_scatter (codes)");
}

void add_diagonal(float* a, std::int64_t n, float add, cudaStream_t s) {
  add_diagonal_kernel<<<static_cast<unsigned>((n + 255) / 256), 256, 0, s>>>(a, n, add);
  check_launch("add_diagonal");
}

}  // namespace qlab::cuda::kernels
