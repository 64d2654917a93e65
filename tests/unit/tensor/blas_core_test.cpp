// The BLAS kernel-set rule (tensor/blas_core.h): generic choices on CPUs that run better kernels are
// replaced, known cores and other libraries are left alone.
#include <gtest/gtest.h>

#include "engine/tensor/blas_core.h"

namespace qlab::tensor {
namespace {

TEST(BlasCore, GenericChoicesAreReplacedByWhatTheCpuRuns) {
  EXPECT_EQ(choose_blas_core("Prescott", true, false), "Haswell");  // an AVX2 VM OpenBLAS does not know
  EXPECT_EQ(choose_blas_core("Nehalem", true, false), "Haswell");
  EXPECT_EQ(choose_blas_core("Sandybridge", true, false), "Haswell");
  EXPECT_EQ(choose_blas_core("Prescott", false, false), "");  // a CPU without AVX2 keeps it
  EXPECT_EQ(choose_blas_core("Haswell", true, false), "");    // known cores stand
  EXPECT_EQ(choose_blas_core("SkylakeX", true, false), "");
  EXPECT_EQ(choose_blas_core("Zen", true, false), "");
  EXPECT_EQ(choose_blas_core("armv8", false, true), "NEOVERSEN1");  // a newer Arm core (the GB10's)
  EXPECT_EQ(choose_blas_core("neoversen2", false, true), "");
  EXPECT_EQ(choose_blas_core("", true, false), "");  // not OpenBLAS
}

}  // namespace
}  // namespace qlab::tensor
