// y = x W^T for up to 8 rows of x over a packed weight, dequantized in registers: decoding reads the
// packed bytes once and writes nothing else (a dequantized slab in scratch would cost 4 bytes written
// and read again per weight, more than the packed weight itself). One warp per output row, as gemv.cu.
// Each weight is the value its codec decodes (packed_value.cuh's arithmetic), multiplied and summed in
// float32, so the result equals the product with the dequantized matrix to float rounding.
//   wide chunks   the formats most checkpoints use read a scale's run of codes in one load per lane:
//                 nvfp4 (16 codes, 8 bytes), mxfp4 (32, 16 bytes), 4-bit int groups (16 codes, 8 bytes)
//                 and 8-bit ones, int8-ch and fp8 (16 codes, 16 bytes), a warp reading consecutive runs
//   element-wise  every other layout (nf4, 2- and 3-bit groups, unaligned rows) through packed_value
#include "engine/cuda/check.h"
#include "engine/cuda/gemv_dot.cuh"
#include "engine/cuda/kernels.h"
#include "engine/cuda/packed_value.cuh"

namespace qlab::cuda::kernels {

namespace {

constexpr int kWarps = 8;

enum class Path : int { Nvfp4, Mxfp4, Int4, Bytes, Elements };

struct Args {
  DeviceWeight w;
  const DecodeTables* t;
  const float* x;  // [M, cols]
  float* y;        // y[m * ldy + r]
  std::int64_t ldy;
  int M;
  Path path;
};

// The low nibble is the even element (nvfp4, mxfp4, int groups' LSB-first packing).
template <int BYTES>
__device__ inline void nibbles(const std::uint8_t* p, unsigned (&code)[2 * BYTES]) {
  unsigned words[BYTES / 4];
  if constexpr (BYTES == 8) {
    const uint2 u = __ldg(reinterpret_cast<const uint2*>(p));
    words[0] = u.x;
    words[1] = u.y;
  } else {
    const uint4 u = __ldg(reinterpret_cast<const uint4*>(p));
    words[0] = u.x;
    words[1] = u.y;
    words[2] = u.z;
    words[3] = u.w;
  }
#pragma unroll
  for (int i = 0; i < 2 * BYTES; ++i) code[i] = (words[i / 8] >> (4 * (i % 8))) & 0xFu;
}

__global__ void __launch_bounds__(kWarps * 32) gemv_packed_kernel(Args a) {
  const int lane = threadIdx.x % 32;
  const std::int64_t r = static_cast<std::int64_t>(blockIdx.x) * kWarps + threadIdx.x / 32;
  if (r >= a.w.rows) return;
  const DeviceWeight& w = a.w;
  const DecodeTables* t = a.t;
  const std::int64_t K = w.cols, pc = w.pcols;
  const auto* data = static_cast<const std::uint8_t*>(w.data);
  float acc[kGemvMaxRows];
  for (int m = 0; m < kGemvMaxRows; ++m) acc[m] = 0.0f;
  switch (a.path) {
    case Path::Nvfp4: {  // chunk = one scale's 16 codes
      for (std::int64_t ch = lane; ch < K / 16; ch += 32) {
        unsigned code[16];
        nibbles<8>(data + (r * pc + ch * 16) / 2, code);
        const float s = t->e4m3[w.scales[r * (pc / 16) + ch]];
        float v[16];
#pragma unroll
        for (int j = 0; j < 16; ++j) v[j] = __fmul_rn(__fmul_rn(t->e2m1[code[j]], s), w.tensor_scale);
        dot_rows(v, a.x, K, ch * 16, a.M, acc);
      }
      break;
    }
    case Path::Mxfp4: {  // chunk = one scale's 32 codes
      for (std::int64_t ch = lane; ch < K / 32; ch += 32) {
        unsigned code[32];
        nibbles<16>(data + (r * pc + ch * 32) / 2, code);
        const float s = t->e8m0[w.scales[r * (pc / 32) + ch]];
        float v[32];
#pragma unroll
        for (int j = 0; j < 32; ++j) v[j] = __fmul_rn(t->e2m1[code[j]], s);
        dot_rows(v, a.x, K, ch * 32, a.M, acc);
      }
      break;
    }
    case Path::Int4: {  // chunk = 16 codes of one group (the group a multiple of 16)
      const std::int64_t groups = pc / w.group, row_bytes = pc / 2, zero_row_bytes = (groups * 4 + 7) / 8;
      for (std::int64_t ch = lane; ch < K / 16; ch += 32) {
        unsigned code[16];
        nibbles<8>(data + r * row_bytes + ch * 8, code);
        const std::int64_t k = ch * 16 / w.group;
        const std::uint8_t* sp = w.scales + (r * groups + k) * 2;
        const float scale = f16_bits_to_f32(static_cast<unsigned>(sp[0]) | static_cast<unsigned>(sp[1]) << 8);
        const float zero = w.symmetric ? 8.0f : static_cast<float>(unpack(w.zeros + r * zero_row_bytes, k, 4));
        float v[16];
#pragma unroll
        for (int j = 0; j < 16; ++j) v[j] = __fmul_rn(scale, __fsub_rn(static_cast<float>(code[j]), zero));
        dot_rows(v, a.x, K, ch * 16, a.M, acc);
      }
      break;
    }
    case Path::Bytes: {  // one byte per code: 8-bit int groups, int8-ch, fp8; chunk = 16 codes
      for (std::int64_t ch = lane; ch < K / 16; ch += 32) {
        const uint4 u = __ldg(reinterpret_cast<const uint4*>(data + r * pc + ch * 16));
        const unsigned words[4] = {u.x, u.y, u.z, u.w};
        float v[16];
        if (w.family == PackedFamily::IntGroup) {
          const std::int64_t groups = pc / w.group, k = ch * 16 / w.group;
          const std::uint8_t* sp = w.scales + (r * groups + k) * 2;
          const float scale = f16_bits_to_f32(static_cast<unsigned>(sp[0]) | static_cast<unsigned>(sp[1]) << 8);
          const float zero = w.symmetric ? 128.0f : static_cast<float>(w.zeros[r * groups + k]);
#pragma unroll
          for (int j = 0; j < 16; ++j)
            v[j] = __fmul_rn(scale, __fsub_rn(static_cast<float>((words[j / 4] >> (8 * (j % 4))) & 0xFFu), zero));
        } else if (w.family == PackedFamily::Int8Channel) {
          const float scale = load_f32(w.scales + r * 4);
#pragma unroll
          for (int j = 0; j < 16; ++j)
            v[j] = __fmul_rn(static_cast<float>(static_cast<signed char>((words[j / 4] >> (8 * (j % 4))) & 0xFFu)), scale);
        } else {
          const float scale = w.family == PackedFamily::FP8Tensor ? w.tensor_scale : load_f32(w.scales + r * 4);
          const float* table = w.e5m2 ? t->e5m2 : t->e4m3;
#pragma unroll
          for (int j = 0; j < 16; ++j) v[j] = __fmul_rn(table[(words[j / 4] >> (8 * (j % 4))) & 0xFFu], scale);
        }
        dot_rows(v, a.x, K, ch * 16, a.M, acc);
      }
      break;
    }
    case Path::Elements: {
      for (std::int64_t c = lane; c < K; c += 32) {
        const float v = packed_value(w, t, r, c);
        for (int m = 0; m < kGemvMaxRows; ++m) {
          if (m >= a.M) break;
          acc[m] = fmaf(v, __ldg(a.x + m * K + c), acc[m]);
        }
      }
      break;
    }
  }
  for (int m = 0; m < kGemvMaxRows; ++m) {
    if (m >= a.M) break;
    float sum = acc[m];
    for (int o = 16; o > 0; o >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, o);
    if (lane == 0) a.y[m * a.ldy + r] = sum;
  }
}

bool aligned(const void* p, std::size_t n) { return reinterpret_cast<std::uintptr_t>(p) % n == 0; }

// The wide path the weight's layout allows (every chunk whole inside the unpadded row, its loads
// aligned), else element by element.
Path path_of(const DeviceWeight& w, const float* x) {
  const std::int64_t K = w.cols;
  if (!aligned(x, 16) || K % 4 != 0 || K != w.pcols) return Path::Elements;
  switch (w.family) {
    case PackedFamily::NVFP4:
      return K % 16 == 0 && aligned(w.data, 8) ? Path::Nvfp4 : Path::Elements;
    case PackedFamily::MXFP4:
      return K % 32 == 0 && aligned(w.data, 16) ? Path::Mxfp4 : Path::Elements;
    case PackedFamily::IntGroup:
      if (w.group % 16 != 0 || K % 16 != 0) return Path::Elements;
      if (w.bits == 4 && aligned(w.data, 8)) return Path::Int4;
      if (w.bits == 8 && aligned(w.data, 16)) return Path::Bytes;
      return Path::Elements;
    case PackedFamily::Int8Channel:
    case PackedFamily::FP8Tensor:
    case PackedFamily::FP8Channel:
      return K % 16 == 0 && aligned(w.data, 16) ? Path::Bytes : Path::Elements;
    case PackedFamily::NF4:
    case PackedFamily::NF4DQ:
      return Path::Elements;
  }
  return Path::Elements;
}

}  // namespace

void gemv_packed(const DeviceWeight& w, const DecodeTables* t, const float* x, int M, float* y, std::int64_t ldy,
                 cudaStream_t s) {
  if (w.rows <= 0 || M <= 0) return;
  if (M > kGemvMaxRows) check(cudaErrorInvalidValue, "matrix-vector product of more than 8 rows");
  const Args a{w, t, x, y, ldy, M, path_of(w, x)};
  gemv_packed_kernel<<<static_cast<unsigned>((w.rows + kWarps - 1) / kWarps), kWarps * 32, 0, s>>>(a);
  check_launch("packed matrix-vector product kernel");
}

}  // namespace qlab::cuda::kernels
