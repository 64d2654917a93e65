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
// Weights read in place (weights.h, WeightPlacement::Host): the kernels read the host's bytes where
// they lie, through the GPU's pageable-memory access: no second copy. Opt-in until it has run on a
// GB10, where it is meant to become auto's choice for a model that does not fit.
// Models larger than a discrete GPU (or than the weight budget): weights are copied to the device
// until one does not fit; from then on the rest stream through a ring on the device (weights.h,
// weight_ring.h), each copied on a stream of its own while the layers before it compute, ordered by
// events (copy before use, use before the place is reused), never by waiting for the device. The
// order is learnt from the passes before, so the first pass streams on demand and later ones ahead.
// On the GB10 the same happens today (its "device memory" is the host's); free memory there is read
// from /proc/meminfo (context.h), since NVML reports none for a GPU without memory of its own.
#include "engine/model/backend.h"
#include "engine/model/device.h"

namespace qlab::cuda {

// The backend of device 0 for the given math (created on first use; an Error if no GPU is usable).
model::Backend& backend(model::GpuMath math);

// Device memory the weights take now (the ring included), how many weight uploads there have been,
// the bytes of weights the kernels read in place from host memory, the ring's size and the bytes
// copied through it so far (tests, bench).
struct WeightStats {
  std::uint64_t resident_bytes = 0, uploads = 0, in_place_bytes = 0, ring_bytes = 0, streamed_bytes = 0;
  bool staged_pinned = false;  // the ring's copies go through pinned staging (weight_ring.h)
};
WeightStats weight_stats();

// Device memory the weights may take, copies and ring together (QLAB_CUDA_WEIGHT_BUDGET=GiB sets it
// for a process; 0: all the GPU has). Weights past it stream. Applies to weights not yet copied.
void set_weight_budget(std::uint64_t bytes);
std::uint64_t weight_budget();

// Where the weights a pass uses live (QLAB_CUDA_WEIGHTS=auto|copy|host sets it for a process):
//   Auto   as Copy today (see above)
//   Copy   copied to device memory; weights that do not fit stream through the ring
//   Host   always read in place from host memory (needs pageable access: an Error names the GPU
//          that lacks it); on a discrete GPU every read crosses the bus
// Applies to weights not yet on the device; copies already made stay.
enum class WeightPlacement { Auto, Copy, Host };
void set_weight_placement(WeightPlacement p);
WeightPlacement weight_placement();

}  // namespace qlab::cuda
