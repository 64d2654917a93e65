#pragma once
// Where a model runs: the choice behind every command's --device, made once per process.
//   Device          auto (a CUDA GPU when one is usable, else the CPU), cpu, cuda
//   GpuMath         the GPU's products: f32 (float32 operands and accumulation, no TF32: equals the
//                   CPU to 1e-4), or bf16 (bfloat16 operands on the tensor cores, float32 accumulation)
//   make_backend    the backend for a choice, and a line saying where it runs and why. Defined by
//                   the CUDA component when the build has it (engine/cuda/make_backend.cpp), else by
//                   device.cpp here (the CPU only; asking for cuda is an error naming the build).
// The engine outside engine/cuda/ sees the GPU only through this header and backend.h.
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "engine/model/backend.h"

namespace qlab::model {

enum class Device { Auto, Cpu, Cuda };
enum class GpuMath { F32, BF16 };

Device parse_device(std::string_view name);  // "auto" | "cpu" | "cuda"; Error naming the choices
GpuMath parse_gpu_math(std::string_view name);  // "f32" | "bf16"
const char* device_name(Device d);

struct BackendChoice {
  Backend* backend = nullptr;
  bool gpu = false;
  std::string where;  // "cpu", or "cuda: NVIDIA H100 80GB HBM3 (sm_90, 79.1 GiB free), f32 math"
  std::string gpu_name;  // the GPU's name alone ("NVIDIA GB10"); empty on the CPU
  // Set when auto chose the CPU although a GPU build asked for one: why (a driver older than the
  // runtime, a GPU that failed to start); empty when there simply is no GPU.
  std::string fallback;
  // A GPU's own ceilings, measured when called (a benchmark's references: engine/bench/infer_bench.h):
  // its copy bandwidth in GB/s (bytes read plus written) and the GEMM rate of its math at a shape in
  // GFLOP/s. Empty on the CPU, whose ceilings are the host's.
  std::function<double()> copy_gbs;
  std::function<double(std::int64_t M, std::int64_t N, std::int64_t K)> gemm_gflops;
};

// Device::Cuda on a build or machine without a usable GPU throws an Error saying why and what to do.
BackendChoice make_backend(Device device, GpuMath math = GpuMath::F32);

// Whether this build has the CUDA backend.
bool cuda_built();

}  // namespace qlab::model
