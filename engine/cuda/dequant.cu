// Rows of a weight as float32 or bfloat16: the slab a product needs, or gathered rows (embedding).
// Packed rows are dequantized exactly as the CPU's codecs do it (formats/*.cpp dequantize_rows):
//   nvfp4     (E2M1[c] * E4M3[s]) * s2, scale per 16, low nibble = even element
//   mxfp4     E2M1[c] * E8M0[s], scale per 32
//   nf4       NF4[c] * absmax over the flattened tensor in blocks of 64, high nibble = even element;
//   nf4-dq    absmax = DYN[s] * absmax2[block / 256] + offset (two roundings, no fused multiply-add)
//   intB-gG   f16 scale * (code - zero), codes LSB-first within a row, zero points packed alike (or
//             2^(B-1) when symmetric)
//   int8-ch   int8(code) * row scale;  fp8  E4M3/E5M2[c] * (tensor or row) scale
// The scalar decodes are table lookups of the CPU's own values (DecodeTables) and every product or
// sum is rounded on its own (__fmul_rn / __fadd_rn: nvcc would otherwise fuse a multiply and an add),
// so each float equals the CPU's bit for bit. bfloat16 output rounds that float to nearest even.
// One thread per output element pair; the packed tensor's padding columns (pcols > cols) are skipped.
#include <cuda_bf16.h>

#include "engine/cuda/check.h"
#include "engine/cuda/kernels.h"
#include "engine/cuda/packed_value.cuh"

namespace qlab::cuda::kernels {

namespace {

__device__ inline float stored_value(const DeviceWeight& w, std::int64_t r, std::int64_t c) {
  const std::int64_t i = r * w.cols + c;
  switch (w.type) {
    case WeightType::F32: return static_cast<const float*>(w.data)[i];
    case WeightType::BF16: return __uint_as_float(static_cast<unsigned>(static_cast<const unsigned short*>(w.data)[i]) << 16);
    case WeightType::F16: return f16_bits_to_f32(static_cast<const unsigned short*>(w.data)[i]);
    case WeightType::Packed: break;
  }
  return 0.0f;
}

__device__ inline void store(float* out, std::int64_t i, float v) { out[i] = v; }
__device__ inline void store(__nv_bfloat16* out, std::int64_t i, float v) { out[i] = __float2bfloat16_rn(v); }

template <typename Out>
__global__ void rows_kernel(DeviceWeight w, const DecodeTables* t, const std::int32_t* ids, std::int64_t row0,
                            std::int64_t n, Out* out) {
  const std::int64_t cols = w.cols, pairs = (cols + 1) / 2;
  for (std::int64_t e = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; e < n * pairs;
       e += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    const std::int64_t i = e / pairs, c = (e % pairs) * 2;
    const std::int64_t r = ids ? ids[i] : row0 + i;
    for (std::int64_t cc = c; cc < c + 2 && cc < cols; ++cc) {
      const float v = w.type == WeightType::Packed ? packed_value(w, t, r, cc) : stored_value(w, r, cc);
      store(out, i * cols + cc, v);
    }
  }
}

template <typename Out>
void launch(const DeviceWeight& w, const DecodeTables* t, const std::int32_t* ids, std::int64_t row0, std::int64_t n,
            Out* out, cudaStream_t s) {
  if (n <= 0) return;
  const std::int64_t work = n * ((w.cols + 1) / 2);
  const std::int64_t blocks = (work + 255) / 256;
  rows_kernel<Out><<<static_cast<unsigned>(blocks < 65535 * 16 ? blocks : 65535 * 16), 256, 0, s>>>(w, t, ids, row0,
                                                                                                     n, out);
  check_launch(w.type == WeightType::Packed ? "dequantize kernel" : "weight widening kernel");
}

}  // namespace

void rows_to_f32(const DeviceWeight& w, const DecodeTables* t, const std::int32_t* ids, std::int64_t row0,
                 std::int64_t n, float* out, cudaStream_t s) {
  launch(w, t, ids, row0, n, out, s);
}

void rows_to_bf16(const DeviceWeight& w, const DecodeTables* t, const std::int32_t* ids, std::int64_t row0,
                  std::int64_t n, __nv_bfloat16* out, cudaStream_t s) {
  launch(w, t, ids, row0, n, out, s);
}

}  // namespace qlab::cuda::kernels
