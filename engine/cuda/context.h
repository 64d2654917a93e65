#pragma once
// The process's GPU: found once, then one stream, one cuBLAS handle and the decode tables that
// every CUDA backend object shares (the f32 and bf16 backends are two views of one Context, so a
// model's weights are on the device once).
//   probe()       whether a GPU can be used, and if not why: no device (not a fault: auto picks the
//                 CPU quietly), a driver older than the runtime, a failed start
//   free_bytes()  memory a new allocation can take. On a GPU with memory of its own, cudaMemGetInfo.
//                 On one that shares the host's memory (the GB10 of a DGX Spark: integrated, or
//                 pageable memory reached through the host's page tables), cudaMemGetInfo does not
//                 count the page cache the kernel would give back, and NVML reports no memory at
//                 all; there the larger of cudaMemGetInfo's free and /proc/meminfo's MemAvailable
//   Buffer        a device allocation owned by an object; a failed cudaMalloc is an Error that says
//                 how much was asked for what, and how much is free
// Passes are enqueued on the one stream in order; a download synchronises it. One pass at a time:
// the CLI and the tutor's job runner run one job at a time.
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <string>

#include "engine/cuda/device_weight.h"

namespace qlab::cuda {

struct DeviceInfo {
  bool usable = false;
  bool no_device = false;  // no CUDA GPU (or no driver) at all
  std::string reason;      // why not usable
  std::string name;
  int cc_major = 0, cc_minor = 0;
  int sm_count = 0;
  int max_smem_per_block = 0;  // opt-in dynamic shared memory per block
  bool shares_host_memory = false;
  bool pageable_access = false;  // kernels may read pageable host memory (ATS, or HMM on Linux)
  std::uint64_t total_bytes = 0;
  int driver_version = 0, runtime_version = 0;  // 13000 = 13.0
};

// Probed once per process (device 0); later calls return the same answer.
const DeviceInfo& probe();
std::uint64_t free_bytes();

class Buffer {
 public:
  Buffer() = default;
  // Throws the out-of-memory Error (see try_make) when the GPU has no room.
  Buffer(std::size_t bytes, const char* what);
  // False, with nothing allocated, when the GPU is out of memory; throws on any other failure.
  static bool try_make(std::size_t bytes, const char* what, Buffer& out);
  ~Buffer();
  Buffer(Buffer&& o) noexcept;
  Buffer& operator=(Buffer&& o) noexcept;
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  void* get() const { return p_; }
  template <typename T>
  T* as() const {
    return static_cast<T*>(p_);
  }
  std::size_t bytes() const { return bytes_; }

 private:
  void* p_ = nullptr;
  std::size_t bytes_ = 0;
};

class Context {
 public:
  // The context of device 0; throws an Error (probe()'s reason) when there is no usable GPU.
  static Context& get();
  cudaStream_t stream() const { return stream_; }
  cublasHandle_t cublas() const { return cublas_; }
  const DeviceInfo& info() const { return probe(); }
  const DecodeTables* tables() const { return tables_.as<DecodeTables>(); }
  // Waits for the stream; `what` names the step in the error of a kernel that failed meanwhile.
  void sync(const char* what) const;
  ~Context();

 private:
  Context();
  cudaStream_t stream_ = nullptr;
  cublasHandle_t cublas_ = nullptr;
  Buffer tables_;
};

}  // namespace qlab::cuda
