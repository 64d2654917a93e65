// The hardware parsers on recorded text (tests/fixtures/sysinfo/README.md says where each came from).
#include <filesystem>

#include <gtest/gtest.h>

#include "engine/core/atomic_file.h"
#include "engine/sysinfo/sysinfo.h"

namespace qlab::sysinfo {
namespace {

std::string fixture(const std::string& name) {
  return read_file(std::filesystem::path(QLAB_SOURCE_DIR) / "tests/fixtures/sysinfo" / name);
}

TEST(Cpuinfo, X86RecordedH100Host) {
  auto c = parse_cpuinfo(fixture("cpuinfo_h100.txt"), "x86_64");
  EXPECT_EQ(c.logical_cpus, 16);
  EXPECT_EQ(c.physical_cores, 16);  // "core id" 0..15, one physical id: no SMT on this VM
  EXPECT_EQ(c.model, "Intel(R) Xeon(R) Processor");
  EXPECT_EQ(c.architecture, "x86_64");
  ASSERT_EQ(c.clusters.size(), 1u);
  EXPECT_EQ(c.clusters[0].count, 16);
}

TEST(Cpuinfo, Gb10ArmBigLittle) {
  auto c = parse_cpuinfo(fixture("cpuinfo_gb10.txt"), "aarch64");
  EXPECT_EQ(c.logical_cpus, 20);
  EXPECT_EQ(c.physical_cores, 20);
  ASSERT_EQ(c.clusters.size(), 2u);
  EXPECT_EQ(c.clusters[0].name, "Cortex-A725");
  EXPECT_EQ(c.clusters[0].count, 10);
  EXPECT_EQ(c.clusters[1].name, "Cortex-X925");
  EXPECT_EQ(c.model, "10x Cortex-A725 + 10x Cortex-X925");
}

TEST(Cpuinfo, HyperThreadsCountedOncePerCore) {
  std::string text;
  for (int i = 0; i < 4; ++i)
    text += "processor\t: " + std::to_string(i) + "\nmodel name\t: Test CPU\nphysical id\t: 0\ncore id\t\t: " +
            std::to_string(i / 2) + "\n\n";
  auto c = parse_cpuinfo(text, "x86_64");
  EXPECT_EQ(c.logical_cpus, 4);
  EXPECT_EQ(c.physical_cores, 2);
}

TEST(Cpuinfo, UnknownArmPartIsNamedByCode) {
  auto c = parse_cpuinfo("processor\t: 0\nCPU implementer\t: 0x41\nCPU part\t: 0xfff\n", "aarch64");
  EXPECT_EQ(c.model, "Arm core 0x41/0xfff");
}

TEST(Cpuinfo, EmptyTextGivesNoCpus) {
  auto c = parse_cpuinfo("", "riscv64");
  EXPECT_EQ(c.logical_cpus, 0);
  EXPECT_EQ(c.architecture, "riscv64");
}

TEST(Meminfo, RecordedH100Host) {
  auto m = parse_meminfo(fixture("meminfo_h100.txt"));
  ASSERT_TRUE(m.valid);
  EXPECT_EQ(m.total_bytes, 131981020ull * 1024);
  EXPECT_EQ(m.available_bytes, 131481328ull * 1024);
}

TEST(Meminfo, Gb10TotalIsTheReportedPool) {
  auto m = parse_meminfo(fixture("meminfo_gb10.txt"));
  ASSERT_TRUE(m.valid);
  EXPECT_EQ(m.total_bytes, 128501256192ull);
}

TEST(Meminfo, OldKernelWithoutMemAvailable) {
  auto m = parse_meminfo("MemTotal: 1000 kB\nMemFree: 100 kB\nBuffers: 20 kB\nCached: 300 kB\n");
  ASSERT_TRUE(m.valid);
  EXPECT_EQ(m.available_bytes, 420u * 1024);
}

TEST(Meminfo, MissingTotalIsInvalid) {
  EXPECT_FALSE(parse_meminfo("MemFree: 100 kB\n").valid);
  EXPECT_FALSE(parse_meminfo("garbage").valid);
}

TEST(NvidiaSmi, RecordedH100) {
  auto g = parse_nvidia_smi(fixture("nvidia_smi_h100.csv"));
  ASSERT_EQ(g.size(), 1u);
  EXPECT_EQ(g[0].name, "NVIDIA H100 80GB HBM3");
  ASSERT_TRUE(g[0].compute_capability);
  EXPECT_EQ(*g[0].compute_capability, (ComputeCapability{9, 0}));
  EXPECT_FALSE(g[0].compute_capability_from_name);
  ASSERT_TRUE(g[0].memory_bytes);
  EXPECT_EQ(*g[0].memory_bytes, 81559ull << 20);
  EXPECT_EQ(fp4_support(g[0]), Fp4Support::Emulated);
}

TEST(NvidiaSmi, Gb10HasNoMemoryOfItsOwn) {
  auto g = parse_nvidia_smi(fixture("nvidia_smi_gb10.csv"));
  ASSERT_EQ(g.size(), 1u);
  EXPECT_EQ(g[0].name, "NVIDIA GB10");
  EXPECT_EQ(*g[0].compute_capability, (ComputeCapability{12, 1}));
  EXPECT_FALSE(g[0].memory_bytes);
  EXPECT_EQ(fp4_support(g[0]), Fp4Support::Native);
}

TEST(NvidiaSmi, ErrorMessagesAreNotGpus) {
  EXPECT_TRUE(parse_nvidia_smi(fixture("nvidia_smi_no_driver.txt")).empty());
  EXPECT_TRUE(parse_nvidia_smi(fixture("nvidia_smi_bad_field.txt")).empty());
  EXPECT_TRUE(parse_nvidia_smi("").empty());
  EXPECT_TRUE(parse_nvidia_smi("a, b, c\n").empty());  // b is no compute capability
}

TEST(NvidiaSmi, SeveralGpusAndUnitsAndMissingCapability) {
  auto g = parse_nvidia_smi("NVIDIA A100-SXM4-80GB, 8.0, 81920 MiB\nNVIDIA B200, [N/A], 183359\n");
  ASSERT_EQ(g.size(), 2u);
  EXPECT_EQ(*g[0].memory_bytes, 81920ull << 20);
  EXPECT_EQ(*g[1].compute_capability, (ComputeCapability{10, 0}));  // looked up by name
  EXPECT_TRUE(g[1].compute_capability_from_name);
}

TEST(DriverInformation, RecordedH100) {
  auto g = parse_driver_information(fixture("driver_information_h100.txt"));
  ASSERT_TRUE(g);
  EXPECT_EQ(g->name, "NVIDIA H100 80GB HBM3");
  EXPECT_EQ(*g->compute_capability, (ComputeCapability{9, 0}));
  EXPECT_TRUE(g->compute_capability_from_name);
  EXPECT_FALSE(g->memory_bytes);
  EXPECT_FALSE(parse_driver_information("IRQ: 41\n"));
}

TEST(ComputeCapabilityByName, PublishedValues) {
  // NVIDIA's CUDA GPU table
  EXPECT_EQ(*compute_capability_from_name("NVIDIA GB10"), (ComputeCapability{12, 1}));
  EXPECT_EQ(*compute_capability_from_name("NVIDIA GeForce RTX 5090"), (ComputeCapability{12, 0}));
  EXPECT_EQ(*compute_capability_from_name("NVIDIA GeForce RTX 4090"), (ComputeCapability{8, 9}));
  EXPECT_EQ(*compute_capability_from_name("NVIDIA A10"), (ComputeCapability{8, 6}));
  EXPECT_EQ(*compute_capability_from_name("NVIDIA A100-SXM4-40GB"), (ComputeCapability{8, 0}));
  EXPECT_EQ(*compute_capability_from_name("Tesla V100-SXM2-16GB"), (ComputeCapability{7, 0}));
  EXPECT_EQ(*compute_capability_from_name("NVIDIA GH200 480GB"), (ComputeCapability{9, 0}));
  EXPECT_FALSE(compute_capability_from_name("Matrox G200"));
}

TEST(Fp4Rule, TenAndAboveIsNative) {
  GpuInfo g;
  g.compute_capability = ComputeCapability{10, 0};
  EXPECT_EQ(fp4_support(g), Fp4Support::Native);
  g.compute_capability = ComputeCapability{9, 0};
  EXPECT_EQ(fp4_support(g), Fp4Support::Emulated);
  g.compute_capability = ComputeCapability{8, 9};
  EXPECT_EQ(fp4_support(g), Fp4Support::Emulated);
  g.compute_capability.reset();
  EXPECT_EQ(fp4_support(g), Fp4Support::Unknown);
}

}  // namespace
}  // namespace qlab::sysinfo
