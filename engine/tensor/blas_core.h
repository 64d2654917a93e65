#pragma once
// Which OpenBLAS kernels a process runs. OpenBLAS built for many CPUs (Debian's and Ubuntu's
// DYNAMIC_ARCH packages) picks its kernel set once, when the library loads, from the CPU's family and
// model numbers. A CPU it does not know -- a virtual machine that reports a generic "Intel Xeon
// Processor", a core newer than the library -- falls back to the oldest set of its architecture
// (Prescott's SSE3 on x86-64, generic ARMV8 on aarch64): every matrix product then runs at a fraction
// of what the CPU can do (measured on a 2-core AVX-512 VM: the built-in model's whole quality suite
// 58.6 s with Prescott's kernels, 36.5 s with Haswell's; a TinyLlama-shaped f32 prompt of 128 tokens
// 67 tok/s with Haswell's, 129 with SkylakeX's).
//   blas_core_name       the kernel set OpenBLAS chose ("Prescott", "Haswell", "armv8"...); "" when
//                        the BLAS is not OpenBLAS
//   better_blas_core     the set to name in OPENBLAS_CORETYPE instead, from the instruction sets the
//                        CPU reports: for a generic x86-64 choice "SkylakeX" on an AVX-512 CPU (F, BW,
//                        VL, DQ), else "Haswell" on an AVX2+FMA one; "NEOVERSEN1" for generic ARMV8
//                        (NEON kernels every Armv8.2 core runs); "" when the choice stands (a known
//                        core, or OPENBLAS_CORETYPE already set)
//   BlasCpu, choose_blas_core   the instruction sets the rule reads, and the rule itself, for tests
// The kernel set can only be chosen before the library loads: app/main.cpp re-executes qlab once with
// OPENBLAS_CORETYPE set (QLAB_BLAS_CORE_WAS records the library's own choice for `qlab sysinfo`).
#include <string>

namespace qlab::tensor {

std::string blas_core_name();
std::string better_blas_core();
struct BlasCpu {
  bool x86_avx2_fma = false;
  bool x86_avx512 = false;
  bool aarch64_neon = false;
};
std::string choose_blas_core(const std::string& chosen, const BlasCpu& cpu);

}  // namespace qlab::tensor
