// model::make_backend for a build with the CUDA backend (device.h): auto takes the GPU when one is
// usable, and says why not when a GPU build finds one it cannot use.
#include <fmt/format.h>

#include "engine/core/error.h"
#include "engine/cuda/backend.h"
#include "engine/cuda/bench.h"
#include "engine/cuda/context.h"
#include "engine/model/device.h"

namespace qlab::model {

bool cuda_built() { return true; }

BackendChoice make_backend(Device device, GpuMath math) {
  BackendChoice cpu;
  cpu.backend = &cpu_backend();
  cpu.where = "cpu";
  if (device == Device::Cpu) return cpu;
  const cuda::DeviceInfo& d = cuda::probe();
  if (!d.usable) {
    if (device == Device::Cuda) fail("--device cuda: {}; use --device cpu", d.reason);
    // auto: no GPU is the ordinary case (nothing to say); a GPU that cannot be used is worth a line.
    if (!d.no_device) cpu.fallback = d.reason;
    return cpu;
  }
  BackendChoice c;
  c.backend = &cuda::backend(math);
  c.gpu = true;
  c.gpu_name = d.name;
  const bool bf16 = math == GpuMath::BF16;
  c.where = fmt::format("cuda: {} (sm_{}{}, {:.1f} GiB free), {} math", d.name, d.cc_major, d.cc_minor,
                        static_cast<double>(cuda::free_bytes()) / (1ull << 30), bf16 ? "bf16" : "f32");
  // 1 GiB copied ten times: far past the L2, long enough to time.
  c.copy_gbs = [] { return cuda::copy_bandwidth(std::size_t{1} << 30, 10) / 1e9; };
  c.gemm_gflops = [bf16](std::int64_t M, std::int64_t N, std::int64_t K) {
    return 2.0 * static_cast<double>(M) * static_cast<double>(N) * static_cast<double>(K) /
           cuda::gemm_seconds(M, N, K, bf16, 5) / 1e9;
  };
  return c;
}

}  // namespace qlab::model
