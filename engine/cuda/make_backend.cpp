// model::make_backend for a build with the CUDA backend (device.h): auto takes the GPU when one is
// usable, and says why not when a GPU build finds one it cannot use.
#include <fmt/format.h>

#include "engine/core/error.h"
#include "engine/cuda/backend.h"
#include "engine/cuda/context.h"
#include "engine/model/device.h"

namespace qlab::model {

bool cuda_built() { return true; }

BackendChoice make_backend(Device device, GpuMath math) {
  if (device == Device::Cpu) return {&cpu_backend(), false, "cpu", {}};
  const cuda::DeviceInfo& d = cuda::probe();
  if (!d.usable) {
    if (device == Device::Cuda) fail("--device cuda: {}; use --device cpu", d.reason);
    // auto: no GPU is the ordinary case (nothing to say); a GPU that cannot be used is worth a line.
    return {&cpu_backend(), false, "cpu", d.no_device ? std::string() : d.reason};
  }
  Backend& b = cuda::backend(math);
  const std::string where =
      fmt::format("cuda: {} (sm_{}{}, {:.1f} GiB free), {} math", d.name, d.cc_major, d.cc_minor,
                  static_cast<double>(cuda::free_bytes()) / (1ull << 30), math == GpuMath::BF16 ? "bf16" : "f32");
  return {&b, true, where, {}};
}

}  // namespace qlab::model
