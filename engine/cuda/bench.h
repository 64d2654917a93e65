#pragma once
// The GPU's own ceilings, measured in the run that reports against them (`qlab bench forward
// --device cuda`): cuBLAS's matrix-product rate on given shapes and the device's copy bandwidth.
// Random operands (never zeros: a product of zeros runs faster than real data), warm-up first,
// CUDA events around the timed calls, the median of the repetitions.
#include <cstddef>
#include <cstdint>

namespace qlab::cuda {

// Seconds of one C[M, N] = A[M, K] B[N, K]^T through cuBLAS with float32 accumulation: bfloat16
// operands (bf16) or float32 ones (true float32, no TF32).
double gemm_seconds(std::int64_t M, std::int64_t N, std::int64_t K, bool bf16, int reps);
// Device-to-device copy of a `bytes` buffer: bytes read plus bytes written per second.
double copy_bandwidth(std::size_t bytes, int reps);
// Host-to-device copy of a `bytes` buffer in bytes per second: from pageable memory (as streamed
// weights come, from the model's mapping) or from pinned memory.
double host_to_device_bandwidth(std::size_t bytes, int reps, bool pinned);

}  // namespace qlab::cuda
