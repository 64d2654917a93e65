// NVIDIA GPU facts from text: nvidia-smi's CSV, the driver's /proc information file, and the
// published compute capabilities by name.
#include <algorithm>
#include <cctype>
#include <cmath>

#include "engine/sysinfo/sysinfo.h"
#include "engine/sysinfo/text_fields.h"

namespace qlab::sysinfo {

using detail::split;
using detail::split_lines;
using detail::trim;

namespace {

std::optional<ComputeCapability> parse_cc(std::string_view s) {
  s = trim(s);
  auto dot = s.find('.');
  if (dot == std::string_view::npos) return std::nullopt;
  auto major = detail::parse_integer(s.substr(0, dot));
  auto minor = detail::parse_integer(s.substr(dot + 1));
  if (!major || !minor || *major < 1 || *major > 99 || *minor < 0 || *minor > 9) return std::nullopt;
  return ComputeCapability{static_cast<int>(*major), static_cast<int>(*minor)};
}

std::string upper(std::string_view s) {
  std::string u(s);
  for (auto& c : u) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return u;
}

// Name tokens: split on spaces and dashes ("A100-SXM4-80GB" -> A100, SXM4, 80GB).
std::vector<std::string> name_tokens(std::string_view name) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : name) {
    if (c == ' ' || c == '-' || c == '_') {
      if (!cur.empty()) out.push_back(upper(cur));
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) out.push_back(upper(cur));
  return out;
}

bool all_digits(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

std::optional<ComputeCapability> compute_capability_from_name(std::string_view gpu_name) {
  // NVIDIA's "CUDA GPUs" compute capability table (developer.nvidia.com/cuda-gpus), data-center and
  // workstation parts a learner may SSH into, plus GeForce generations by model number.
  struct Entry {
    const char* token;
    ComputeCapability cc;
  };
  static constexpr Entry kByToken[] = {
      {"GB10", {12, 1}},  {"GB300", {10, 3}}, {"B300", {10, 3}}, {"GB200", {10, 0}}, {"B200", {10, 0}},
      {"B100", {10, 0}},  {"GH200", {9, 0}},  {"H200", {9, 0}},  {"H100", {9, 0}},   {"H800", {9, 0}},
      {"H20", {9, 0}},    {"L40S", {8, 9}},   {"L40", {8, 9}},   {"L4", {8, 9}},     {"A100", {8, 0}},
      {"A800", {8, 0}},   {"A30", {8, 0}},    {"A40", {8, 6}},   {"A10", {8, 6}},    {"A10G", {8, 6}},
      {"T4", {7, 5}},     {"V100", {7, 0}},
  };
  auto tokens = name_tokens(gpu_name);
  for (const auto& e : kByToken)
    if (std::find(tokens.begin(), tokens.end(), e.token) != tokens.end()) return e.cc;
  bool rtx = std::find(tokens.begin(), tokens.end(), "RTX") != tokens.end();
  if (rtx && std::find(tokens.begin(), tokens.end(), "BLACKWELL") != tokens.end()) return ComputeCapability{12, 0};
  if (rtx && std::find(tokens.begin(), tokens.end(), "ADA") != tokens.end()) return ComputeCapability{8, 9};
  if (rtx) {
    // GeForce RTX NNxx: the first two digits name the generation.
    for (const auto& t : tokens) {
      if (!all_digits(t) || t.size() != 4) continue;
      int gen = (t[0] - '0') * 10 + (t[1] - '0');
      if (gen == 50) return ComputeCapability{12, 0};
      if (gen == 40) return ComputeCapability{8, 9};
      if (gen == 30) return ComputeCapability{8, 6};
      if (gen == 20) return ComputeCapability{7, 5};
    }
  }
  return std::nullopt;
}

std::vector<GpuInfo> parse_nvidia_smi(std::string_view text) {
  std::vector<GpuInfo> gpus;
  for (auto line : split_lines(text)) {
    auto fields = split(line, ',');
    if (fields.size() != 3) continue;  // an error message, not a GPU row
    GpuInfo g;
    g.name = std::string(trim(fields[0]));
    g.compute_capability = parse_cc(fields[1]);
    if (g.name.empty()) continue;
    if (!g.compute_capability) {
      auto cc_text = trim(fields[1]);
      // a row whose second field is neither a capability nor "[N/A]" is not a GPU row
      if (!(cc_text.size() > 1 && cc_text.front() == '[')) continue;
      g.compute_capability = compute_capability_from_name(g.name);
      g.compute_capability_from_name = g.compute_capability.has_value();
    }
    // memory.total with nounits is MiB; "[N/A]" / "[Not Supported]" when the GPU has none of its own
    auto mem = trim(fields[2]);
    if (mem.size() > 4 && mem.substr(mem.size() - 4) == " MiB") mem = trim(mem.substr(0, mem.size() - 4));
    if (auto mib = detail::parse_number(mem); mib && *mib > 0)
      g.memory_bytes = static_cast<std::uint64_t>(std::llround(*mib * 1024.0 * 1024.0));
    g.source = "nvidia-smi";
    gpus.push_back(std::move(g));
  }
  return gpus;
}

std::optional<GpuInfo> parse_driver_information(std::string_view text) {
  for (auto line : split_lines(text)) {
    auto kv = detail::key_value(line);
    if (!kv || kv->first != "Model" || kv->second.empty()) continue;
    GpuInfo g;
    g.name = std::string(kv->second);
    g.compute_capability = compute_capability_from_name(g.name);
    g.compute_capability_from_name = g.compute_capability.has_value();
    g.source = "driver";
    return g;
  }
  return std::nullopt;
}

Fp4Support fp4_support(const GpuInfo& gpu) {
  if (!gpu.compute_capability) return Fp4Support::Unknown;
  return gpu.compute_capability->major >= 10 ? Fp4Support::Native : Fp4Support::Emulated;
}

std::string fp4_support_text(Fp4Support s) {
  switch (s) {
    case Fp4Support::Native: return "native FP4";
    case Fp4Support::Emulated: return "FP4 emulated";
    case Fp4Support::Unknown: break;
  }
  return "FP4 support unknown";
}

}  // namespace qlab::sysinfo
