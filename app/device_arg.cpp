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

DeviceRequest device_request(const Args& a) {
  DeviceRequest r;
  try {
    if (auto d = a.get("device")) r.device = model::parse_device(*d);
    if (auto m = a.get("gpu-math")) r.math = model::parse_gpu_math(*m);
  } catch (const Error& e) {
    throw UsageError(e.what());
  }
  return r;
}

DeviceArg choose_device(const Args& a, const std::string& command) {
  const DeviceRequest r = device_request(a);
  DeviceArg d;
  static_cast<model::BackendChoice&>(d) = model::make_backend(r.device, r.math);
  d.explicit_choice = a.has("device");
  if (!d.fallback.empty()) fmt::print(stderr, "qlab {}: note: running on the CPU: {}\n", command, d.fallback);
  return d;
}

}  // namespace qlab::app
