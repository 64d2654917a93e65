#include "engine/model/device.h"

#include "engine/core/error.h"

namespace qlab::model {

Device parse_device(std::string_view name) {
  if (name == "auto") return Device::Auto;
  if (name == "cpu") return Device::Cpu;
  if (name == "cuda") return Device::Cuda;
  fail("unknown device '{}' (devices: auto, cpu, cuda)", name);
}

GpuMath parse_gpu_math(std::string_view name) {
  if (name == "f32") return GpuMath::F32;
  if (name == "bf16") return GpuMath::BF16;
  fail("unknown GPU math '{}' (f32: float32 products that equal the CPU's; bf16: tensor cores)", name);
}

const char* device_name(Device d) {
  switch (d) {
    case Device::Auto: return "auto";
    case Device::Cpu: return "cpu";
    case Device::Cuda: return "cuda";
  }
  return "?";
}

#if !defined(QLAB_HAVE_CUDA)
bool cuda_built() { return false; }

BackendChoice make_backend(Device device, GpuMath) {
  if (device == Device::Cuda)
    fail("this qlab was built without CUDA (configure with -DQLAB_CUDA=ON on a machine with the CUDA toolkit "
         "12.8 or newer), so --device cuda is not available; use --device cpu");
  BackendChoice c;
  c.backend = &cpu_backend();
  c.where = "cpu";
  return c;
}
#endif

}  // namespace qlab::model
