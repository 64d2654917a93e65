// The rules over parsed parts: DGX Spark recognition, one memory pool, the hardware line.
#include <filesystem>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "engine/core/atomic_file.h"
#include "engine/sysinfo/sysinfo.h"

namespace qlab::sysinfo {
namespace {

std::string fixture(const std::string& name) {
  return read_file(std::filesystem::path(QLAB_SOURCE_DIR) / "tests/fixtures/sysinfo" / name);
}

SystemInfo spark() {
  return assemble_system(parse_cpuinfo(fixture("cpuinfo_gb10.txt"), "aarch64"),
                         parse_meminfo(fixture("meminfo_gb10.txt")), parse_nvidia_smi(fixture("nvidia_smi_gb10.csv")));
}

SystemInfo h100() {
  return assemble_system(parse_cpuinfo(fixture("cpuinfo_h100.txt"), "x86_64"),
                         parse_meminfo(fixture("meminfo_h100.txt")), parse_nvidia_smi(fixture("nvidia_smi_h100.csv")));
}

TEST(System, DgxSparkIsRecognisedWithOneMemoryPool) {
  auto s = spark();
  EXPECT_TRUE(s.dgx_spark);
  EXPECT_TRUE(s.unified_memory);
  auto line = hardware_line(s);
  EXPECT_EQ(line,
            "DGX Spark · 20 cores (10x Cortex-A725 + 10x Cortex-X925), aarch64 · 119.7 GiB unified memory, "
            "110.8 GiB available · NVIDIA GB10, compute capability 12.1: native FP4");
}

TEST(System, H100HostHasSeparateGpuMemoryAndEmulatedFp4) {
  auto s = h100();
  EXPECT_FALSE(s.dgx_spark);
  EXPECT_FALSE(s.unified_memory);
  EXPECT_EQ(hardware_line(s),
            "16 cores (Intel(R) Xeon(R) Processor), x86_64 · 125.9 GiB memory, 125.4 GiB available · "
            "NVIDIA H100 80GB HBM3, 79.6 GiB, compute capability 9.0: FP4 emulated");
}

TEST(System, AsciiLineForTerminalsWithoutUtf8) {
  auto line = hardware_line(spark(), false);
  EXPECT_EQ(line.find("\xc2\xb7"), std::string::npos);
  EXPECT_NE(line.find("DGX Spark | 20 cores"), std::string::npos);
  for (unsigned char c : line) EXPECT_LT(c, 0x80);
}

TEST(System, NoGpu) {
  auto s = assemble_system(parse_cpuinfo(fixture("cpuinfo_h100.txt"), "x86_64"),
                           parse_meminfo(fixture("meminfo_h100.txt")),
                           parse_nvidia_smi(fixture("nvidia_smi_no_driver.txt")));
  EXPECT_FALSE(s.dgx_spark);
  EXPECT_FALSE(s.unified_memory);
  EXPECT_NE(hardware_line(s).find("no NVIDIA GPU"), std::string::npos);
}

TEST(System, Gb10OnX86IsNotASpark) {
  // the rule needs all three: GB10, 12.1, aarch64
  auto s = assemble_system(parse_cpuinfo(fixture("cpuinfo_h100.txt"), "x86_64"),
                           parse_meminfo(fixture("meminfo_h100.txt")), parse_nvidia_smi(fixture("nvidia_smi_gb10.csv")));
  EXPECT_FALSE(s.dgx_spark);
  EXPECT_TRUE(s.unified_memory);  // still an integrated GPU without memory of its own
}

TEST(System, GraceHopperKeepsItsOwnGpuMemory) {
  auto s = assemble_system(parse_cpuinfo(fixture("cpuinfo_gb10.txt"), "aarch64"),
                           parse_meminfo(fixture("meminfo_gb10.txt")),
                           parse_nvidia_smi("NVIDIA GH200 480GB, 9.0, 97871\n"));
  EXPECT_FALSE(s.unified_memory);
  EXPECT_FALSE(s.dgx_spark);
}

TEST(System, JsonHasTheFieldsTheTutorReads) {
  auto j = to_json(spark());
  EXPECT_EQ(j["cpu"]["logical_cpus"], 20);
  EXPECT_EQ(j["memory"]["total_bytes"], 128501256192ull);
  EXPECT_EQ(j["memory"]["unified"], true);
  EXPECT_EQ(j["gpus"][0]["compute_capability"], "12.1");
  EXPECT_TRUE(j["gpus"][0]["memory_bytes"].is_null());
  EXPECT_EQ(j["gpus"][0]["fp4"], "native");
  EXPECT_EQ(j["dgx_spark"], true);
}

TEST(System, DetectOnThisMachineNeverThrowsAndFindsCpusAndMemory) {
  SystemInfo s;
  ASSERT_NO_THROW(s = detect_system());
  EXPECT_GT(s.cpu.logical_cpus, 0);
  EXPECT_FALSE(s.cpu.architecture.empty());
  EXPECT_TRUE(s.memory.valid);
  EXPECT_GT(s.memory.total_bytes, s.memory.available_bytes / 2);
  EXPECT_FALSE(hardware_line(s).empty());
}

}  // namespace
}  // namespace qlab::sysinfo
