#include "app/device_arg.h"

#include <cstdio>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "engine/core/error.h"

namespace qlab::app {

std::vector<Option> with_device_options(std::vector<Option> own) {
  for (Option& o : device_options()) own.push_back(std::move(o));
  return own;
}

std::vector<Option> device_options() {
  return {{"device", "D", "where the model runs: auto (a CUDA GPU when one is usable, else the CPU), cpu, cuda"},
          {"gpu-math", "M", "GPU products: f32 (default; equals the CPU to 1e-4) or bf16 (tensor cores)"}};
}

void DeviceArg::add_to(nlohmann::json& j) const {
  if (report()) j["device"] = where;
}

DeviceArg choose_device(const Args& a, const std::string& command) {
  model::Device device = model::Device::Auto;
  model::GpuMath math = model::GpuMath::F32;
  try {
    if (auto d = a.get("device")) device = model::parse_device(*d);
    if (auto m = a.get("gpu-math")) math = model::parse_gpu_math(*m);
  } catch (const Error& e) {
    throw UsageError(e.what());
  }
  const model::BackendChoice c = model::make_backend(device, math);
  if (!c.fallback.empty()) fmt::print(stderr, "qlab {}: note: running on the CPU: {}\n", command, c.fallback);
  return {c.backend, c.gpu, a.has("device"), c.where};
}

}  // namespace qlab::app
