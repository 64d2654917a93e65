#pragma once
// --device and --gpu-math, for every command that runs a model: where it runs, said once.
//   device_options()   the two options, for a command's option list
//   DeviceArg          the backend chosen (model::make_backend) and how to report it: commands put
//                      `where` in their output (a "device" key in JSON, a line of text) whenever the
//                      model runs on a GPU or --device was given; a CPU run chosen by auto on a
//                      machine without a GPU says nothing, so its output is what it always was. A
//                      GPU that auto could not use is named on stderr with the reason.
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "app/cli.h"
#include "engine/model/device.h"

namespace qlab::app {

std::vector<Option> device_options();
// A command's own options followed by device_options().
std::vector<Option> with_device_options(std::vector<Option> own);

struct DeviceArg : model::BackendChoice {
  bool explicit_choice = false;  // --device given
  bool report() const { return gpu || explicit_choice; }
  // Adds "device": where to j when report().
  void add_to(nlohmann::json& j) const;
};

// --device and --gpu-math as given (auto and f32 when absent); UsageError on a bad name.
struct DeviceRequest {
  model::Device device = model::Device::Auto;
  model::GpuMath math = model::GpuMath::F32;
};
DeviceRequest device_request(const Args& a);

// Reads --device / --gpu-math and makes the backend; prints a fallback note to stderr as
// "qlab COMMAND: note: ...".
DeviceArg choose_device(const Args& a, const std::string& command);

}  // namespace qlab::app
