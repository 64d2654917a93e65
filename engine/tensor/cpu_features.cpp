#include "engine/tensor/cpu_features.h"

#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#endif

namespace qlab::tensor {

namespace {

CpuFeatures detect() {
  CpuFeatures f;
#if defined(__x86_64__) && defined(__GNUC__)
  __builtin_cpu_init();
  f.avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
  f.avx512 = f.avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
  f.avx512_bf16 = f.avx512 && __builtin_cpu_supports("avx512bf16");
#elif defined(__aarch64__)
  f.neon = true;
#if defined(__linux__)
  // HWCAP2_BF16 (bit 14 of AT_HWCAP2) in the arm64 ELF hwcaps; spelled out for older headers.
  constexpr unsigned long kHwcap2Bf16 = 1UL << 14;
  f.neon_bf16 = (getauxval(AT_HWCAP2) & kHwcap2Bf16) != 0;
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
