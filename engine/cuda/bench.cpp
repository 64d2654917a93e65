#include "engine/cuda/bench.h"

#include <cuda_bf16.h>

#include <algorithm>
#include <random>
#include <vector>

#include "engine/cuda/check.h"
#include "engine/cuda/context.h"

namespace qlab::cuda {

namespace {

// Times fn() with events on the context's stream: `reps` runs after two warm-ups, the median.
template <typename F>
double median_seconds(int reps, F&& fn) {
  Context& ctx = Context::get();
  cudaEvent_t a, b;
  check(cudaEventCreate(&a), "creating a timing event");
  check(cudaEventCreate(&b), "creating a timing event");
  std::vector<double> t;
  for (int i = 0; i < reps + 2; ++i) {
    check(cudaEventRecord(a, ctx.stream()), "recording a timing event");
    fn();
    check(cudaEventRecord(b, ctx.stream()), "recording a timing event");
    check(cudaEventSynchronize(b), "timing");
    float ms = 0;
    check(cudaEventElapsedTime(&ms, a, b), "reading a timing event");
    if (i >= 2) t.push_back(ms / 1e3);
  }
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

template <typename T>
Buffer random_buffer(std::int64_t n, std::uint32_t seed) {
  std::vector<T> h(static_cast<std::size_t>(n));
  std::minstd_rand rng(seed);
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  for (auto& x : h) x = static_cast<T>(d(rng));
  Buffer b(h.size() * sizeof(T), "a benchmark operand");
  check(cudaMemcpy(b.get(), h.data(), h.size() * sizeof(T), cudaMemcpyHostToDevice), "copying a benchmark operand");
  return b;
}

}  // namespace

double gemm_seconds(std::int64_t M, std::int64_t N, std::int64_t K, bool bf16, int reps) {
  Context& ctx = Context::get();
  const Buffer A = bf16 ? random_buffer<__nv_bfloat16>(M * K, 1) : random_buffer<float>(M * K, 1);
  const Buffer B = bf16 ? random_buffer<__nv_bfloat16>(N * K, 2) : random_buffer<float>(N * K, 2);
  const Buffer C(static_cast<std::size_t>(M * N) * 4, "a benchmark result");
  const cudaDataType t = bf16 ? CUDA_R_16BF : CUDA_R_32F;
  const float one = 1.0f, zero = 0.0f;
  return median_seconds(reps, [&] {
    check(cublasGemmEx(ctx.cublas(), CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(N), static_cast<int>(M),
                       static_cast<int>(K), &one, B.get(), t, static_cast<int>(K), A.get(), t, static_cast<int>(K),
                       &zero, C.get(), CUDA_R_32F, static_cast<int>(N), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
          "the reference matrix product");
  });
}

double copy_bandwidth(std::size_t bytes, int reps) {
  Context& ctx = Context::get();
  const Buffer src = random_buffer<float>(static_cast<std::int64_t>(bytes / 4), 3);
  const Buffer dst(bytes, "the copy benchmark");
  const double s = median_seconds(reps, [&] {
    check(cudaMemcpyAsync(dst.get(), src.get(), bytes, cudaMemcpyDeviceToDevice, ctx.stream()), "the copy benchmark");
  });
  return 2.0 * static_cast<double>(bytes) / s;
}

double host_to_device_bandwidth(std::size_t bytes, int reps, bool pinned) {
  Context& ctx = Context::get();
  const Buffer dst(bytes, "the host-to-device copy benchmark");
  std::vector<std::uint8_t> pageable;
  void* host = nullptr;
  if (pinned) {
    check(cudaMallocHost(&host, bytes), "pinned memory for the host-to-device copy benchmark");
  } else {
    pageable.assign(bytes, 1);  // touched: the pages exist, as a read model's do
    host = pageable.data();
  }
  const double s = median_seconds(reps, [&] {
    check(cudaMemcpyAsync(dst.get(), host, bytes, cudaMemcpyHostToDevice, ctx.stream()),
          "the host-to-device copy benchmark");
  });
  if (pinned) cudaFreeHost(host);
  return static_cast<double>(bytes) / s;
}

}  // namespace qlab::cuda
