#pragma once
// The CUDA backend: backend.h's operations on one GPU, the CPU backend's results to float rounding.
//
//   weights      kept on the device in their stored type (weights.h): bf16 stays bf16, packed stays
//                packed; uploaded on first use, freed least-recently-used when memory runs out
//   products     y = x W^T. Up to 8 rows of x (decoding): the GEMV kernels, one pass over the stored
//                weights, float32 arithmetic: gemv.cu for f32/f16/bf16, gemv_packed.cu for packed
//                weights (dequantized in registers, never widened in memory). More rows: cuBLAS, f32 math = float32 operands and
//                accumulation (CUBLAS_COMPUTE_32F, default math mode: no TF32), half-precision and
//                packed weights widened a slab at a time; bf16 math = x rounded to bfloat16 (once
//                for the products that share it: q, k, v; gate, up; SwiGLU writes down_proj's as it
//                computes it), bf16 weights as stored (others narrowed a slab at a time), tensor
//                cores, float32 accumulation
//   attention    attention.cu (tiled, online softmax; split along the keys for decoding)
//   KV cache     float32 on the device, [capacity, kv_heads * head_dim] keys then values per layer
//   evaluation   nll and kl_rows reduce logit rows on the device; only per-token numbers come back
//
// Weights read in place (weights.h, WeightPlacement): on the GB10 a model that does not fit beside
// what is already copied is read where it lies, in host memory, by the GPU's pageable-memory access:
// no second copy, no eviction.
// Models larger than a discrete GPU. Today: weights that do not fit are evicted and re-uploaded as the
// layers come round (correct, synchronous: a pass costs the host-to-device copy of what did not
// fit). The overlapped design, for a later round: the first pass records the order in which
// weights are used (it is the same every pass); weights that fit stay resident; the rest go through
// a ring of two device slots, each layer's copy issued on a second stream from pinned staging
// buffers (filled from the memory mapping by a host thread) while the previous layer computes, an
// event per slot ordering copy before use and use before reuse. On the GB10 the GPU reads the
// host's memory directly: there the weights would not be copied at all but registered in place
// (cudaHostRegister of the mapping, read-only), which costs no second copy of a model that uses
// most of the 128 GB; free memory there is read from /proc/meminfo (context.h), since NVML
// reports none for a GPU without memory of its own.
#include "engine/model/backend.h"
#include "engine/model/device.h"

namespace qlab::cuda {

// The backend of device 0 for the given math (created on first use; an Error if no GPU is usable).
model::Backend& backend(model::GpuMath math);

// Device memory the weights take now, how many weight uploads there have been, and the bytes of
// weights the kernels read in place from host memory (tests, bench).
struct WeightStats {
  std::uint64_t resident_bytes = 0, uploads = 0, in_place_bytes = 0;
};
WeightStats weight_stats();

// Where the weights a pass uses live (QLAB_CUDA_WEIGHTS=auto|copy|host sets it for a process):
//   Auto   copied to device memory; on a GPU that shares the host's memory and can read pageable
//          memory (the GB10), a weight that would not fit is read in place instead of evicting others
//   Copy   always copied (weights that do not fit are evicted and uploaded again as they come round)
//   Host   always read in place from host memory (needs pageable access: an Error names the GPU
//          that lacks it); on a discrete GPU every read crosses the bus: for tests and comparisons
// Applies to weights not yet on the device; copies already made stay.
enum class WeightPlacement { Auto, Copy, Host };
void set_weight_placement(WeightPlacement p);
WeightPlacement weight_placement();

}  // namespace qlab::cuda
