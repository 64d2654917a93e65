#include "engine/cuda/check.h"

#include "engine/core/error.h"

namespace qlab::cuda {

namespace {

const char* hint(cudaError_t e) {
  switch (e) {
    case cudaErrorMemoryAllocation:
      return "; the GPU is out of memory: use a shorter --ctx or fewer sequences, or --device cpu";
    case cudaErrorInsufficientDriver:
      return "; the NVIDIA driver is older than this build's CUDA runtime: update the driver, or use --device cpu";
    case cudaErrorNoKernelImageForDevice:
      return "; this build has no code for this GPU's architecture: rebuild with CMAKE_CUDA_ARCHITECTURES naming it";
    case cudaErrorIllegalAddress:
    case cudaErrorLaunchFailure:
      return "; the GPU context is lost: restart qlab (and report this as a bug)";
    default:
      return "";
  }
}

}  // namespace

void check(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return;
  // Clear a non-sticky error so that it is not reported again by the next, unrelated check.
  (void)cudaGetLastError();
  fail("CUDA: {} failed: {} ({}){}", what, cudaGetErrorName(e), cudaGetErrorString(e), hint(e));
}

void check(cublasStatus_t s, const char* what) {
  if (s == CUBLAS_STATUS_SUCCESS) return;
  fail("cuBLAS: {} failed: {} ({}){}", what, cublasGetStatusName(s), cublasGetStatusString(s),
       s == CUBLAS_STATUS_ALLOC_FAILED ? "; the GPU is out of memory: use --device cpu" : "");
}

void check_launch(const char* kernel) { check(cudaGetLastError(), kernel); }

}  // namespace qlab::cuda
