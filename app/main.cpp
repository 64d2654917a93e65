// qlab — entry point. Everything lives in the registered commands (cmd_*.cpp) and the tutor.
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "app/cli.h"
#include "engine/tensor/blas_core.h"

int main(int argc, char** argv) {
  // OpenBLAS chose generic kernels for a CPU it does not know: run again with the set the CPU's
  // instruction sets support (blas_core.h). Once: the marker stops a second round; if exec fails,
  // qlab runs on as it is.
  if (!std::getenv("QLAB_BLAS_CORE_WAS")) {
    const std::string better = qlab::tensor::better_blas_core();
    if (!better.empty()) {
      ::setenv("QLAB_BLAS_CORE_WAS", qlab::tensor::blas_core_name().c_str(), 1);
      ::setenv("OPENBLAS_CORETYPE", better.c_str(), 1);
      ::execv("/proc/self/exe", argv);
    }
  }
  return qlab::app::run_main(argc, argv);
}
