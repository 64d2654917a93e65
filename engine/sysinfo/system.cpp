// The rules over detected parts (unified memory, DGX Spark, FP4) and how they are shown.
#include <algorithm>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "engine/sysinfo/sysinfo.h"

namespace qlab::sysinfo {

namespace {

bool name_has(const GpuInfo& g, std::string_view word) { return g.name.find(word) != std::string::npos; }

// Integrated NVIDIA GPUs that have no memory of their own: the GB10 (DGX Spark and its OEM twins) and
// the Jetson modules (Orin, Thor). Grace Hopper/Blackwell superchips are not here: their GPU has its own
// HBM, which nvidia-smi reports, next to the CPU's LPDDR.
bool integrated(const GpuInfo& g) { return name_has(g, "GB10") || name_has(g, "Orin") || name_has(g, "Thor"); }

std::string gib(std::uint64_t bytes) { return fmt::format("{:.1f} GiB", static_cast<double>(bytes) / (1u << 30)); }

std::string cc_text(const ComputeCapability& cc) { return fmt::format("{}.{}", cc.major, cc.minor); }

}  // namespace

SystemInfo assemble_system(CpuInfo cpu, MemoryInfo memory, std::vector<GpuInfo> gpus) {
  SystemInfo s;
  s.cpu = std::move(cpu);
  s.memory = memory;
  s.gpus = std::move(gpus);
  for (const auto& g : s.gpus) {
    // nvidia-smi cannot report memory on a unified-memory GPU (NVML returns "not supported"): the GPU
    // allocates from the same LPDDR the CPU uses, so the pool is the system's MemTotal.
    if (!g.memory_bytes && (integrated(g) || s.cpu.architecture == "aarch64") && g.source == "nvidia-smi")
      s.unified_memory = true;
    if (integrated(g) && g.source == "driver") s.unified_memory = true;
    if (name_has(g, "GB10") && g.compute_capability == ComputeCapability{12, 1} && s.cpu.architecture == "aarch64")
      s.dgx_spark = true;
  }
  return s;
}

std::string hardware_line(const SystemInfo& s, bool utf8) {
  std::vector<std::string> parts;
  if (s.dgx_spark) parts.push_back("DGX Spark");

  const auto& c = s.cpu;
  std::string cpu;
  if (c.logical_cpus > 0) {
    cpu = c.physical_cores > 0 && c.physical_cores != c.logical_cpus
              ? fmt::format("{} cores / {} threads", c.physical_cores, c.logical_cpus)
              : fmt::format("{} cores", c.logical_cpus);
    if (!c.model.empty()) cpu += fmt::format(" ({})", c.model);
  } else {
    cpu = "CPU unknown";
  }
  if (!c.architecture.empty()) cpu += ", " + c.architecture;
  parts.push_back(cpu);

  if (s.memory.valid) {
    parts.push_back(fmt::format("{} {}memory, {} available", gib(s.memory.total_bytes),
                                s.unified_memory ? "unified " : "", gib(s.memory.available_bytes)));
  } else {
    parts.push_back("memory unknown");
  }

  if (s.gpus.empty()) {
    parts.push_back("no NVIDIA GPU (FP4/FP8 run emulated on the CPU)");
  } else {
    const auto& g = s.gpus.front();
    std::string gpu = g.name;
    if (g.memory_bytes && !s.unified_memory) gpu += ", " + gib(*g.memory_bytes);
    if (g.compute_capability)
      gpu += fmt::format(", compute capability {}{}", cc_text(*g.compute_capability),
                         g.compute_capability_from_name ? " (by name)" : "");
    gpu += ": " + fp4_support_text(fp4_support(g));
    if (s.gpus.size() > 1) gpu = fmt::format("{}x {}", s.gpus.size(), gpu);
    parts.push_back(gpu);
  }

  std::string line;
  const char* sep = utf8 ? " · " : " | ";
  for (std::size_t i = 0; i < parts.size(); ++i) line += (i ? sep : "") + parts[i];
  return line;
}

nlohmann::json to_json(const SystemInfo& s) {
  nlohmann::json clusters = nlohmann::json::array();
  for (const auto& c : s.cpu.clusters) clusters.push_back({{"name", c.name}, {"count", c.count}});
  nlohmann::json gpus = nlohmann::json::array();
  for (const auto& g : s.gpus) {
    nlohmann::json j = {{"name", g.name}, {"source", g.source}};
    j["compute_capability"] = g.compute_capability ? nlohmann::json(cc_text(*g.compute_capability)) : nlohmann::json();
    j["compute_capability_from_name"] = g.compute_capability_from_name;
    j["memory_bytes"] = g.memory_bytes ? nlohmann::json(*g.memory_bytes) : nlohmann::json();
    auto f = fp4_support(g);
    j["fp4"] = f == Fp4Support::Native ? "native" : f == Fp4Support::Emulated ? "emulated" : "unknown";
    gpus.push_back(std::move(j));
  }
  return {
      {"cpu",
       {{"model", s.cpu.model},
        {"architecture", s.cpu.architecture},
        {"logical_cpus", s.cpu.logical_cpus},
        {"physical_cores", s.cpu.physical_cores},
        {"clusters", clusters}}},
      {"memory",
       {{"total_bytes", s.memory.valid ? nlohmann::json(s.memory.total_bytes) : nlohmann::json()},
        {"available_bytes", s.memory.valid ? nlohmann::json(s.memory.available_bytes) : nlohmann::json()},
        {"unified", s.unified_memory}}},
      {"gpus", gpus},
      {"dgx_spark", s.dgx_spark},
      {"hardware_line", hardware_line(s)},
      {"notes", s.notes},
  };
}

}  // namespace qlab::sysinfo
