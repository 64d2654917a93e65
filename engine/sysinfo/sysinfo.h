#pragma once
// What machine the learner is on: CPU, memory, and an NVIDIA GPU when there is one — found without
// linking CUDA, by reading text the system already offers.
//   CpuInfo / MemoryInfo / GpuInfo / SystemInfo   plain results
//   parse_cpuinfo, parse_meminfo,                  pure parsers over recorded text (/proc/cpuinfo,
//   parse_nvidia_smi, parse_driver_information       /proc/meminfo, nvidia-smi CSV, the driver's
//                                                    /proc/driver/nvidia/gpus/*/information)
//   assemble_system                                the rules: unified memory, DGX Spark, FP4 support
//   detect_system                                  reads the real machine (nvidia-smi with a timeout)
//   hardware_line / to_json                        what the Home screen and `qlab sysinfo` print
// The module's rule: compute capability >= 10 has FP4 tensor cores (native NVFP4/MXFP4); below it FP4
// is emulated (weights are unpacked to a wider type before the math). The DGX Spark's GB10 reports 12.1.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace qlab::sysinfo {

struct CpuCluster {
  std::string name;  // "Intel(R) Xeon(R) Processor", "Cortex-X925"
  int count = 0;     // logical CPUs of this kind
};

struct CpuInfo {
  std::string model;                  // one line: "10x Cortex-X925 + 10x Cortex-A725", or the model name
  std::string architecture;           // uname machine: x86_64, aarch64
  int logical_cpus = 0;               // processors listed (0 when unknown)
  int physical_cores = 0;             // distinct (physical id, core id); = logical_cpus without SMT info
  std::vector<CpuCluster> clusters;   // distinct core kinds, in order of first appearance
};

struct MemoryInfo {
  std::uint64_t total_bytes = 0;      // MemTotal
  std::uint64_t available_bytes = 0;  // MemAvailable (MemFree + Cached on old kernels)
  bool valid = false;
};

struct ComputeCapability {
  int major = 0, minor = 0;
  bool operator==(const ComputeCapability&) const = default;
};

enum class Fp4Support { Native, Emulated, Unknown };

struct GpuInfo {
  std::string name;                              // "NVIDIA GB10", "NVIDIA H100 80GB HBM3"
  std::optional<ComputeCapability> compute_capability;
  bool compute_capability_from_name = false;     // not reported; looked up from the name
  std::optional<std::uint64_t> memory_bytes;     // dedicated memory; none when not reported (GB10)
  std::string source;                            // "nvidia-smi" or "driver"
};

struct SystemInfo {
  CpuInfo cpu;
  MemoryInfo memory;
  std::vector<GpuInfo> gpus;
  bool unified_memory = false;  // the GPU shares the system's memory: one pool, reported once
  bool dgx_spark = false;       // GB10 + compute capability 12.1 + aarch64
  std::vector<std::string> notes;  // what could not be read, and why (shown by `qlab sysinfo`)
};

// /proc/cpuinfo text. `machine` is uname's machine string (x86_64, aarch64, ...). x86 lists
// "model name"; Arm lists implementer/part codes, which are named from a table of known cores.
CpuInfo parse_cpuinfo(std::string_view text, std::string_view machine);

// /proc/meminfo text. valid = false when MemTotal is missing.
MemoryInfo parse_meminfo(std::string_view text);

// Output of `nvidia-smi --query-gpu=name,compute_cap,memory.total --format=csv,noheader,nounits`:
// one GPU per line. "[N/A]" / "[Not Supported]" memory (the GB10's unified memory) -> no memory_bytes.
// Lines that are not three fields (error messages) are skipped.
std::vector<GpuInfo> parse_nvidia_smi(std::string_view text);

// One /proc/driver/nvidia/gpus/<bus>/information file ("Model: NVIDIA H100 ..."). The compute
// capability is looked up from the name when it is a known part. nullopt without a Model line.
std::optional<GpuInfo> parse_driver_information(std::string_view text);

// Published compute capability of a GPU by name (NVIDIA's CUDA GPU table), for when the driver
// does not report it. nullopt for names not in the table.
std::optional<ComputeCapability> compute_capability_from_name(std::string_view gpu_name);

Fp4Support fp4_support(const GpuInfo& gpu);  // the module's rule (>= 10 native)
std::string fp4_support_text(Fp4Support s);  // "native FP4", "FP4 emulated", "FP4 support unknown"

// Applies the rules: a GPU without dedicated memory that is integrated (GB10, Jetson/Thor) shares the
// system pool; GB10 at 12.1 on aarch64 is a DGX Spark.
SystemInfo assemble_system(CpuInfo cpu, MemoryInfo memory, std::vector<GpuInfo> gpus);

// Reads /proc/cpuinfo, /proc/meminfo, uname, and runs nvidia-smi (2 s timeout) when it is on PATH,
// falling back to /proc/driver/nvidia. Never throws: what it cannot read goes into notes.
SystemInfo detect_system();

// One line for the Home screen, e.g.
// "DGX Spark · 20 CPUs (10x Cortex-X925 + 10x Cortex-A725), aarch64 · 119.7 GiB unified memory ·
//  NVIDIA GB10, compute capability 12.1: native FP4"
// utf8 = false separates the parts with " | " for terminals without UTF-8.
std::string hardware_line(const SystemInfo& s, bool utf8 = true);

nlohmann::json to_json(const SystemInfo& s);

}  // namespace qlab::sysinfo
