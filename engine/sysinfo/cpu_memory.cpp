// /proc/cpuinfo and /proc/meminfo parsers.
#include <set>
#include <utility>

#include <fmt/format.h>

#include "engine/sysinfo/sysinfo.h"
#include "engine/sysinfo/text_fields.h"

namespace qlab::sysinfo {

using detail::key_value;
using detail::parse_integer;
using detail::split_lines;

namespace {

// Arm cores by (implementer, part), as the kernel prints them: Arm's TRMs and util-linux lscpu's table.
// Only the cores a learner plausibly meets; others print as "Arm core 0x41/0xd99".
struct ArmPart {
  int implementer, part;
  const char* name;
};
constexpr ArmPart kArmParts[] = {
    {0x41, 0xd03, "Cortex-A53"},     {0x41, 0xd05, "Cortex-A55"},    {0x41, 0xd08, "Cortex-A72"},
    {0x41, 0xd0b, "Cortex-A76"},     {0x41, 0xd0c, "Neoverse-N1"},   {0x41, 0xd40, "Neoverse-V1"},
    {0x41, 0xd41, "Cortex-A78"},     {0x41, 0xd42, "Cortex-A78AE"},  {0x41, 0xd44, "Cortex-X1"},
    {0x41, 0xd46, "Cortex-A510"},    {0x41, 0xd47, "Cortex-A710"},   {0x41, 0xd48, "Cortex-X2"},
    {0x41, 0xd49, "Neoverse-N2"},    {0x41, 0xd4d, "Cortex-A715"},   {0x41, 0xd4e, "Cortex-X3"},
    {0x41, 0xd4f, "Neoverse-V2"},    {0x41, 0xd80, "Cortex-A520"},   {0x41, 0xd81, "Cortex-A720"},
    {0x41, 0xd82, "Cortex-X4"},      {0x41, 0xd84, "Neoverse-V3"},   {0x41, 0xd85, "Cortex-X925"},
    {0x41, 0xd87, "Cortex-A725"},    {0x41, 0xd8e, "Neoverse-N3"},   {0x4e, 0x004, "NVIDIA Carmel"},
    {0x61, 0x022, "Apple M1 Icestorm"}, {0x61, 0x023, "Apple M1 Firestorm"},
    {0xc0, 0xac3, "Ampere-1"},       {0xc0, 0xac4, "Ampere-1a"},
};

std::string arm_core_name(long long implementer, long long part) {
  for (const auto& p : kArmParts)
    if (p.implementer == implementer && p.part == part) return p.name;
  return fmt::format("Arm core {:#x}/{:#x}", implementer, part);
}

void add_to_cluster(std::vector<CpuCluster>& clusters, const std::string& name) {
  for (auto& c : clusters)
    if (c.name == name) {
      ++c.count;
      return;
    }
  clusters.push_back({name, 1});
}

}  // namespace

CpuInfo parse_cpuinfo(std::string_view text, std::string_view machine) {
  CpuInfo info;
  info.architecture = std::string(machine);

  // One block per logical CPU, separated by blank lines. Fields differ by architecture.
  struct Block {
    std::string model_name;
    std::optional<long long> implementer, part, physical_id, core_id;
    bool is_processor = false;
  };
  std::vector<Block> blocks;
  std::string global_model;  // some Arm kernels print a single "Hardware"/"model name" at the end
  Block cur;
  auto flush = [&] {
    if (cur.is_processor) blocks.push_back(cur);
    cur = Block{};
  };
  for (auto line : split_lines(text)) {
    if (detail::trim(line).empty()) {
      flush();
      continue;
    }
    auto kv = key_value(line);
    if (!kv) continue;
    auto [k, v] = *kv;
    if (k == "processor") {
      if (cur.is_processor) flush();
      // x86 and modern arm64: "processor : N". Old 32-bit Arm: "Processor : ARMv7 ..." (a name).
      if (parse_integer(v)) cur.is_processor = true;
      else global_model = std::string(v);
    } else if (k == "model name" || k == "cpu model") {
      cur.model_name = std::string(v);
    } else if (k == "CPU implementer") {
      cur.implementer = parse_integer(v);
    } else if (k == "CPU part") {
      cur.part = parse_integer(v);
    } else if (k == "physical id") {
      cur.physical_id = parse_integer(v);
    } else if (k == "core id") {
      cur.core_id = parse_integer(v);
    } else if (k == "Hardware") {
      global_model = std::string(v);
    }
  }
  flush();

  info.logical_cpus = static_cast<int>(blocks.size());
  std::set<std::pair<long long, long long>> cores;
  bool have_core_ids = !blocks.empty();
  for (const auto& b : blocks) {
    std::string name;
    if (!b.model_name.empty()) name = b.model_name;
    else if (b.implementer && b.part) name = arm_core_name(*b.implementer, *b.part);
    else if (!global_model.empty()) name = global_model;
    else name = "unknown CPU";
    add_to_cluster(info.clusters, name);
    if (b.physical_id && b.core_id) cores.insert({*b.physical_id, *b.core_id});
    else have_core_ids = false;
  }
  info.physical_cores = have_core_ids ? static_cast<int>(cores.size()) : info.logical_cpus;

  if (info.clusters.size() == 1) {
    info.model = info.clusters[0].name;
  } else {
    for (std::size_t i = 0; i < info.clusters.size(); ++i)
      info.model += fmt::format("{}{}x {}", i ? " + " : "", info.clusters[i].count, info.clusters[i].name);
  }
  return info;
}

MemoryInfo parse_meminfo(std::string_view text) {
  MemoryInfo m;
  std::optional<long long> total, available, free_kb, cached, buffers;
  for (auto line : split_lines(text)) {
    auto kv = key_value(line);
    if (!kv) continue;
    auto [k, v] = *kv;
    // values are "123456 kB"
    auto number = v.substr(0, v.find(' '));
    auto n = parse_integer(number);
    if (!n || *n < 0) continue;
    if (k == "MemTotal") total = n;
    else if (k == "MemAvailable") available = n;
    else if (k == "MemFree") free_kb = n;
    else if (k == "Cached") cached = n;
    else if (k == "Buffers") buffers = n;
  }
  if (!total) return m;
  m.valid = true;
  m.total_bytes = static_cast<std::uint64_t>(*total) * 1024u;
  // Kernels before 3.14 have no MemAvailable; free + page cache is the usual stand-in.
  long long avail = available ? *available : free_kb.value_or(0) + cached.value_or(0) + buffers.value_or(0);
  m.available_bytes = static_cast<std::uint64_t>(avail) * 1024u;
  return m;
}

}  // namespace qlab::sysinfo
