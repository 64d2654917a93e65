// The BLAS kernel set the real qlab runs (tensor/blas_core.h), started as a learner starts it: without
// the marker the test environment sets, qlab either keeps OpenBLAS's own choice (one the rule keeps), or
// re-executes itself once with the set the rule names and says which it replaced.
#include <gtest/gtest.h>

#include <cstdlib>

#include <nlohmann/json.hpp>

#include "engine/tensor/blas_core.h"
#include "engine/tensor/cpu_features.h"
#include "tests/cli/qlab_run.h"

namespace {

TEST(CliBlas, QlabRunsTheKernelsItsCpuSupports) {
  const auto dir = qlab::testing::scratch_dir("qlab-blas");
  const std::string cmd = "cd '" + dir.string() + "' && env -u QLAB_BLAS_CORE_WAS -u OPENBLAS_CORETYPE '" +
                          QLAB_BINARY + "' sysinfo --json > out.json 2> err.txt";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << qlab::testing::slurp(dir / "err.txt");
  const auto j = nlohmann::json::parse(qlab::testing::slurp(dir / "out.json")).at("blas");
  const auto& f = qlab::tensor::cpu_features();
#if defined(__aarch64__)
  const qlab::tensor::BlasCpu cpu{.aarch64_neon = f.neon};
#else
  const qlab::tensor::BlasCpu cpu{.x86_avx2_fma = f.avx2, .x86_avx512 = f.avx512};
#endif
  if (j.at("openblas_core").is_null()) {  // not OpenBLAS: nothing to choose, and nothing was
    EXPECT_TRUE(j.at("library_choice").is_null());
    return;
  }
  const std::string core = j.at("openblas_core");
  if (j.at("library_choice").is_null()) {
    EXPECT_EQ(qlab::tensor::choose_blas_core(core, cpu), "") << "kept " << core << ", which the rule replaces";
  } else {
    const std::string was = j.at("library_choice");
    EXPECT_EQ(qlab::tensor::choose_blas_core(was, cpu), core) << "replaced " << was;
    std::printf("[ blas ] OpenBLAS picked %s; qlab runs %s\n", was.c_str(), core.c_str());
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
