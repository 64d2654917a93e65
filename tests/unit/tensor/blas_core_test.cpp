// The BLAS kernel-set rule (tensor/blas_core.h): generic choices on CPUs that run better kernels are
// replaced, known cores and other libraries are left alone.
#include <gtest/gtest.h>

#include "engine/tensor/blas_core.h"

namespace qlab::tensor {
namespace {

TEST(BlasCore, GenericChoicesAreReplacedByWhatTheCpuRuns) {
  const BlasCpu avx2{.x86_avx2_fma = true}, avx512{.x86_avx2_fma = true, .x86_avx512 = true}, old_x86{},
      arm{.aarch64_neon = true};
  EXPECT_EQ(choose_blas_core("Prescott", avx2), "Haswell");  // an AVX2 VM OpenBLAS does not know
  EXPECT_EQ(choose_blas_core("Nehalem", avx2), "Haswell");
  EXPECT_EQ(choose_blas_core("Sandybridge", avx2), "Haswell");
  EXPECT_EQ(choose_blas_core("Prescott", avx512), "SkylakeX");  // an AVX-512 VM: its 512-bit kernels
  EXPECT_EQ(choose_blas_core("Prescott", old_x86), "");  // a CPU without AVX2 keeps it
  EXPECT_EQ(choose_blas_core("Haswell", avx512), "");    // known cores stand
  EXPECT_EQ(choose_blas_core("SkylakeX", avx512), "");
  EXPECT_EQ(choose_blas_core("Zen", avx2), "");
  EXPECT_EQ(choose_blas_core("armv8", arm), "NEOVERSEN1");  // a newer Arm core (the GB10's)
  EXPECT_EQ(choose_blas_core("neoversen2", arm), "");
  EXPECT_EQ(choose_blas_core("", avx512), "");  // not OpenBLAS
}

}  // namespace
}  // namespace qlab::tensor
