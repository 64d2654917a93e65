#include "engine/tensor/cpu_features.h"

#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#endif
#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#endif

namespace qlab::tensor {

namespace {

#if defined(__x86_64__) && defined(__GNUC__)
// CPUID bits the compilers' __builtin_cpu_supports does not name everywhere (clang 14 knows neither
// "f16c" nor "avx512bf16"): F16C is leaf 1 ECX bit 29, AVX512_BF16 leaf 7 sub-leaf 1 EAX bit 5,
// AVX512_VNNI leaf 7 sub-leaf 0 ECX bit 11. The OS's support for the wider registers comes from the
// avx2 / avx512f checks they are combined with.
bool cpuid_bit(unsigned leaf, unsigned subleaf, int reg, unsigned bit) {
  unsigned r[4] = {0, 0, 0, 0};
  if (static_cast<unsigned>(__get_cpuid_max(0, nullptr)) < leaf) return false;
  __cpuid_count(leaf, subleaf, r[0], r[1], r[2], r[3]);
  return (r[reg] >> bit) & 1u;
}
constexpr int kEax = 0, kEcx = 2;
#endif

CpuFeatures detect() {
  CpuFeatures f;
#if defined(__x86_64__) && defined(__GNUC__)
  __builtin_cpu_init();
  f.avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && cpuid_bit(1, 0, kEcx, 29);
  f.avx512 = f.avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
  f.avx512_bf16 = f.avx512 && cpuid_bit(7, 1, kEax, 5);
  f.avx512_vnni = f.avx512 && cpuid_bit(7, 0, kEcx, 11);
#elif defined(__aarch64__)
  f.neon = true;
#if defined(__linux__)
  // HWCAP2_BF16 (bit 14 of AT_HWCAP2) in the arm64 ELF hwcaps; spelled out for older headers.
  constexpr unsigned long kHwcap2Bf16 = 1UL << 14;
  f.neon_bf16 = (getauxval(AT_HWCAP2) & kHwcap2Bf16) != 0;
  // HWCAP_ASIMDDP (bit 20 of AT_HWCAP): SDOT / UDOT.
  constexpr unsigned long kHwcapAsimdDp = 1UL << 20;
  f.neon_dotprod = (getauxval(AT_HWCAP) & kHwcapAsimdDp) != 0;
#endif
#endif
  return f;
}

}  // namespace

const CpuFeatures& cpu_features() {
  static const CpuFeatures f = detect();
  return f;
}

}  // namespace qlab::tensor
