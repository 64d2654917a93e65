#pragma once
// Every CUDA runtime and cuBLAS status is checked: a failure throws qlab::Error with one line that
// says what was being done, CUDA's own name for the error, and what to try (an out-of-memory names
// --device cpu and smaller batches). An error a kernel raises asynchronously (an illegal address)
// surfaces at the next synchronisation, which checks too; after such a sticky error every later
// call fails the same way, so a broken context is reported, never used for a silent wrong answer.
#include <cublas_v2.h>
#include <cuda_runtime.h>

namespace qlab::cuda {

// Throws unless e == cudaSuccess. `what`: the step, "copying the logits to the host".
void check(cudaError_t e, const char* what);
void check(cublasStatus_t s, const char* what);
// After a kernel launch: a launch error (bad configuration, no kernel image for this GPU).
void check_launch(const char* kernel);

}  // namespace qlab::cuda
