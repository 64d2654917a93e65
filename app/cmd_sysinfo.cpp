// qlab sysinfo: the hardware as the tutor's Home screen shows it.
#include <cstdlib>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "app/cli.h"
#include "engine/sysinfo/sysinfo.h"
#include "engine/tensor/blas_core.h"

namespace qlab::app {
namespace {

std::string gib(std::uint64_t b) { return fmt::format("{:.1f} GiB", static_cast<double>(b) / (1u << 30)); }

// The BLAS kernel set in use, and whether qlab chose it over OpenBLAS's own pick (tensor/blas_core.h).
nlohmann::json blas_json() {
  const std::string core = tensor::blas_core_name();
  const char* was = std::getenv("QLAB_BLAS_CORE_WAS");
  return {{"openblas_core", core.empty() ? nlohmann::json(nullptr) : nlohmann::json(core)},
          {"library_choice", was && *was ? nlohmann::json(was) : nlohmann::json(nullptr)}};
}

int run(const Args& a) {
  auto s = sysinfo::detect_system();
  if (a.json()) {
    nlohmann::json j = sysinfo::to_json(s);
    j["blas"] = blas_json();
    print_json(j.dump(2));
    return 0;
  }
  fmt::print("{}\n\n", sysinfo::hardware_line(s));
  const auto& c = s.cpu;
  fmt::print("cpu      {} ({} logical CPUs, {} cores), {}\n", c.model.empty() ? "unknown" : c.model, c.logical_cpus,
             c.physical_cores, c.architecture);
  if (const std::string core = tensor::blas_core_name(); !core.empty()) {
    const char* was = std::getenv("QLAB_BLAS_CORE_WAS");
    fmt::print("blas     OpenBLAS, {} kernels{}\n", core,
               was && *was ? fmt::format(" (the library picked {} for this CPU; qlab named the set its instruction "
                                         "sets run)", was)
                           : std::string());
  }
  if (s.memory.valid)
    fmt::print("memory   {} total, {} available{}\n", gib(s.memory.total_bytes), gib(s.memory.available_bytes),
               s.unified_memory ? "; unified: the GPU allocates from this same pool" : "");
  else
    fmt::print("memory   unknown\n");
  if (s.gpus.empty()) fmt::print("gpu      none found (no nvidia-smi answer and no /proc/driver/nvidia)\n");
  for (std::size_t i = 0; i < s.gpus.size(); ++i) {
    const auto& g = s.gpus[i];
    std::string cc = g.compute_capability
                         ? fmt::format("compute capability {}.{}{}", g.compute_capability->major,
                                       g.compute_capability->minor, g.compute_capability_from_name ? " (from its name)" : "")
                         : std::string("compute capability unknown");
    std::string mem = g.memory_bytes ? gib(*g.memory_bytes) : std::string(s.unified_memory ? "shared" : "not reported");
    fmt::print("gpu {}    {} · {} · memory {} · {} (read from {})\n", i, g.name, cc, mem,
               sysinfo::fp4_support_text(sysinfo::fp4_support(g)), g.source);
  }
  if (!s.gpus.empty())
    fmt::print("\nFP4 rule: compute capability 10 or higher has FP4 tensor cores (native NVFP4/MXFP4); below it,\n"
               "FP4 weights are unpacked to a wider type before the math (emulated).\n");
  if (s.dgx_spark) fmt::print("This is a DGX Spark: GB10 (compute capability 12.1) on Arm, one unified memory pool.\n");
  for (const auto& n : s.notes) fmt::print("note: {}\n", n);
  return 0;
}

const Registrar reg({
    "sysinfo",
    "the hardware: CPU, memory, GPU and its FP4 support, DGX Spark recognition",
    "",
    {},
    "Reads /proc/cpuinfo, /proc/meminfo and nvidia-smi (or /proc/driver/nvidia when nvidia-smi is missing).\n"
    "CUDA is not needed.",
    0,
    0,
    run,
});

}  // namespace
}  // namespace qlab::app
