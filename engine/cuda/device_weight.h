#pragma once
// A weight matrix as the GPU holds it: the bytes of its stored type, never widened as a whole.
//   F32 / F16 / BF16   rows x cols elements, row-major
//   Packed             a block format's parts, as the CPU's codec lays them out (formats/block.h):
//                      `data` codes, `scales`, `zeros`, `aux` bytes; the one per-tensor scalar the
//                      format has (NVFP4's weight_scale_2, NF4-DQ's offset, FP8's tensor scale) by value
// Plain data shared by host code and kernels (no engine headers, so nvcc sees only this).
#include <cstdint>

namespace qlab::cuda {

enum class WeightType : int { F32, F16, BF16, Packed };
// The block-format families with a dequantize kernel (dequant.cu), each bit-identical to its codec.
enum class PackedFamily : int { NVFP4, MXFP4, NF4, NF4DQ, IntGroup, Int8Channel, FP8Tensor, FP8Channel };

struct DeviceWeight {
  WeightType type = WeightType::F32;
  std::int64_t rows = 0, cols = 0;  // the matrix's shape (packed rows may be padded: pcols >= cols)
  const void* data = nullptr;
  // Packed only.
  PackedFamily family = PackedFamily::NVFP4;
  std::int64_t pcols = 0;  // columns of the packed rows (whole blocks)
  int bits = 4;            // IntGroup: bits per code
  int group = 0;           // IntGroup: elements per scale (the whole packed row for "ch")
  bool symmetric = false;  // IntGroup: no zero points
  bool e5m2 = false;       // FP8: E5M2 codes
  const std::uint8_t* scales = nullptr;
  const std::uint8_t* zeros = nullptr;
  const std::uint8_t* aux = nullptr;
  float tensor_scale = 0;
};

// The scalar decoders' values, computed on the host by the CPU's own functions (formats/scalar.h,
// block_dynamic_map.h) and looked up by the kernels: the same float for every code by construction.
struct DecodeTables {
  float e4m3[256];
  float e5m2[256];
  float e8m0[256];
  float e2m1[16];
  float nf4[16];
  float bnb_dynamic[256];
};

}  // namespace qlab::cuda
