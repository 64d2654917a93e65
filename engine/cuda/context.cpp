#include "engine/cuda/context.h"

#include <algorithm>
#include <fstream>
#include <sstream>
#include <string>

#include "engine/core/error.h"
#include "engine/cuda/check.h"
#include "engine/formats/block_dynamic_map.h"
#include "engine/formats/scalar.h"

namespace qlab::cuda {

namespace {

std::string version_text(int v) { return fmt::format("{}.{}", v / 1000, v % 1000 / 10); }

DeviceInfo probe_device() {
  DeviceInfo d;
  cudaRuntimeGetVersion(&d.runtime_version);
  const cudaError_t drv = cudaDriverGetVersion(&d.driver_version);
  int count = 0;
  const cudaError_t e = drv == cudaSuccess ? cudaGetDeviceCount(&count) : drv;
  // No driver library (version 0) is a machine without an NVIDIA GPU, whatever the count call says.
  if (d.driver_version == 0 || e == cudaErrorNoDevice || (e == cudaSuccess && count == 0)) {
    d.no_device = true;
    d.reason = d.driver_version == 0 ? "no NVIDIA driver found (no CUDA GPU)" : "no CUDA GPU found";
    return d;
  }
  if (e == cudaErrorInsufficientDriver) {
    d.reason = fmt::format("the NVIDIA driver supports CUDA {}, older than this build's runtime {}: update the driver",
                           version_text(d.driver_version), version_text(d.runtime_version));
    return d;
  }
  if (e != cudaSuccess) {
    d.reason = fmt::format("the CUDA driver did not start: {} ({})", cudaGetErrorName(e), cudaGetErrorString(e));
    return d;
  }
  cudaDeviceProp p{};
  if (const cudaError_t pe = cudaGetDeviceProperties(&p, 0); pe != cudaSuccess) {
    d.reason = fmt::format("cannot read the GPU's properties: {}", cudaGetErrorString(pe));
    return d;
  }
  d.name = p.name;
  d.cc_major = p.major;
  d.cc_minor = p.minor;
  d.sm_count = p.multiProcessorCount;
  d.max_smem_per_block = static_cast<int>(p.sharedMemPerBlockOptin);
  d.total_bytes = p.totalGlobalMem;
  d.shares_host_memory = p.integrated != 0 || p.pageableMemoryAccessUsesHostPageTables != 0;
  d.pageable_access = p.pageableMemoryAccess != 0;
  if (p.major < 8) {
    d.reason = fmt::format("{} (sm_{}{}) is older than the GPUs qlab supports (sm_80 and newer)", d.name, p.major,
                           p.minor);
    return d;
  }
  // Starting the context here turns a broken GPU into a reason rather than a later failure.
  if (const cudaError_t fe = cudaFree(nullptr); fe != cudaSuccess) {
    d.reason = fmt::format("the GPU ({}) did not start: {} ({})", d.name, cudaGetErrorName(fe), cudaGetErrorString(fe));
    return d;
  }
  d.usable = true;
  return d;
}

std::uint64_t meminfo_available() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  std::uint64_t kb = 0;
  std::string unit;
  while (in >> key >> kb >> unit)
    if (key == "MemAvailable:") return kb * 1024;
  return 0;
}

}  // namespace

const DeviceInfo& probe() {
  static const DeviceInfo info = probe_device();
  return info;
}

std::uint64_t free_bytes() {
  std::size_t free = 0, total = 0;
  check(cudaMemGetInfo(&free, &total), "reading the GPU's free memory");
  if (probe().shares_host_memory) return std::max<std::uint64_t>(free, meminfo_available());
  return free;
}

bool Buffer::try_make(std::size_t bytes, const char* what, Buffer& out) {
  out = Buffer();
  if (bytes == 0) return true;
  void* p = nullptr;
  const cudaError_t e = cudaMalloc(&p, bytes);
  if (e == cudaErrorMemoryAllocation) {
    (void)cudaGetLastError();
    return false;
  }
  check(e, what);
  out.p_ = p;
  out.bytes_ = bytes;
  return true;
}

Buffer::Buffer(std::size_t bytes, const char* what) {
  if (try_make(bytes, what, *this)) return;
  std::size_t free = 0, total = 0;
  cudaMemGetInfo(&free, &total);
  fail("CUDA: out of GPU memory: {} needs {:.1f} MiB, {:.1f} MiB of {:.1f} GiB free; use a shorter --ctx or fewer "
       "sequences, or --device cpu",
       what, static_cast<double>(bytes) / (1 << 20), static_cast<double>(free) / (1 << 20),
       static_cast<double>(total) / (1 << 30));
}

Buffer::~Buffer() {
  if (p_) cudaFree(p_);  // errors at exit (a lost context) cannot be reported from a destructor
}

Buffer::Buffer(Buffer&& o) noexcept : p_(o.p_), bytes_(o.bytes_) {
  o.p_ = nullptr;
  o.bytes_ = 0;
}

Buffer& Buffer::operator=(Buffer&& o) noexcept {
  if (this != &o) {
    if (p_) cudaFree(p_);
    p_ = o.p_;
    bytes_ = o.bytes_;
    o.p_ = nullptr;
    o.bytes_ = 0;
  }
  return *this;
}

Context& Context::get() {
  const DeviceInfo& d = probe();
  if (!d.usable) fail("--device cuda: {}; use --device cpu", d.reason);
  static Context c;
  return c;
}

Context::Context() {
  check(cudaSetDevice(0), "selecting the GPU");
  check(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "creating a CUDA stream");
  check(cublasCreate(&cublas_), "starting cuBLAS");
  check(cublasSetStream(cublas_, stream_), "setting cuBLAS's stream");
  // Float32 products in float32 (no TF32): the default math mode; bf16 products ask for it by type.
  check(cublasSetMathMode(cublas_, CUBLAS_DEFAULT_MATH), "setting cuBLAS's math mode");
  DecodeTables t{};
  for (int c = 0; c < 256; ++c) {
    const auto u = static_cast<std::uint8_t>(c);
    t.e4m3[c] = formats::e4m3_to_f32(u);
    t.e5m2[c] = formats::e5m2_to_f32(u);
    t.e8m0[c] = formats::e8m0_to_f32(u);
    t.bnb_dynamic[c] = formats::bnb_dynamic_map()[static_cast<std::size_t>(c)];
  }
  for (int c = 0; c < 16; ++c) {
    t.e2m1[c] = formats::e2m1_to_f32(static_cast<std::uint8_t>(c));
    t.nf4[c] = formats::nf4_to_f32(static_cast<std::uint8_t>(c));
  }
  tables_ = Buffer(sizeof t, "the format decode tables");
  check(cudaMemcpy(tables_.get(), &t, sizeof t, cudaMemcpyHostToDevice), "copying the format decode tables");
}

Context::~Context() {
  // At process exit the driver may already be shutting down: statuses are not checked here.
  if (cublas_) cublasDestroy(cublas_);
  if (stream_) cudaStreamDestroy(stream_);
}

void Context::sync(const char* what) const { check(cudaStreamSynchronize(stream_), what); }

}  // namespace qlab::cuda
