#pragma once
// One element of a packed weight as its CPU codec decodes it (formats/*.cpp dequantize_rows), for the
// kernels that read packed weights: dequant.cu (rows widened for a GEMM) and gemv_packed.cu (decode's
// products, dequantized in registers). The layouts are device_weight.h's; every product or sum is
// rounded on its own (__fmul_rn / __fadd_rn), so the value is the CPU's bit for bit.
#include <cstdint>

#include "engine/cuda/device_weight.h"

namespace qlab::cuda::kernels {

__device__ inline float f16_bits_to_f32(unsigned h) {
  // formats::f16_to_f32: exact for every code, NaN payloads kept.
  const unsigned sign = (h & 0x8000u) << 16, mag = h & 0x7FFFu, e = mag >> 10;
  unsigned normal = (mag << 13) + 0x38000000u;
  if (e == 31) normal += 0x38000000u;
  const unsigned sub = __float_as_uint(__fmul_rn(static_cast<float>(mag), 0x1p-24f));
  return __uint_as_float(sign | (e == 0 ? sub : normal));
}

__device__ inline float load_f32(const std::uint8_t* p) {
  return __uint_as_float(static_cast<unsigned>(p[0]) | static_cast<unsigned>(p[1]) << 8 |
                         static_cast<unsigned>(p[2]) << 16 | static_cast<unsigned>(p[3]) << 24);
}

// Code i of a row of `bits`-bit codes packed LSB-first (formats' unpack_bits).
__device__ inline unsigned unpack(const std::uint8_t* row, std::int64_t i, int bits) {
  if (bits == 8) return row[i];
  const std::int64_t bit = i * bits;
  unsigned v = row[bit / 8] >> (bit % 8);
  if ((bit % 8) + bits > 8) v |= static_cast<unsigned>(row[bit / 8 + 1]) << (8 - bit % 8);
  return v & ((1u << bits) - 1u);
}

// Element (r, c) of the packed tensor (c < pcols), as its codec decodes it.
__device__ inline float packed_value(const DeviceWeight& w, const DecodeTables* t, std::int64_t r, std::int64_t c) {
  const auto* data = static_cast<const std::uint8_t*>(w.data);
  const std::int64_t pc = w.pcols;
  switch (w.family) {
    case PackedFamily::NVFP4: {
      const std::uint8_t byte = data[(r * pc + c) / 2];
      const unsigned code = c % 2 == 0 ? byte & 0xF : byte >> 4;
      const std::uint8_t sc = w.scales[r * (pc / 16) + c / 16];
      return __fmul_rn(__fmul_rn(t->e2m1[code], t->e4m3[sc]), w.tensor_scale);
    }
    case PackedFamily::MXFP4: {
      const std::uint8_t byte = data[(r * pc + c) / 2];
      const unsigned code = c % 2 == 0 ? byte & 0xF : byte >> 4;
      return __fmul_rn(t->e2m1[code], t->e8m0[w.scales[r * (pc / 32) + c / 32]]);
    }
    case PackedFamily::NF4:
    case PackedFamily::NF4DQ: {
      const std::int64_t i = r * pc + c, b = i / 64;
      const std::uint8_t byte = data[i / 2];
      const unsigned code = i % 2 == 0 ? byte >> 4 : byte & 0xF;
      float absmax;
      if (w.family == PackedFamily::NF4DQ)
        absmax = __fadd_rn(__fmul_rn(t->bnb_dynamic[w.scales[b]], load_f32(w.aux + (b / 256) * 4)), w.tensor_scale);
      else
        absmax = load_f32(w.scales + b * 4);
      return __fmul_rn(t->nf4[code], absmax);
    }
    case PackedFamily::IntGroup: {
      const std::int64_t g = w.group, groups = pc / g, k = c / g;
      const std::int64_t row_bytes = (pc * w.bits + 7) / 8, zero_row_bytes = (groups * w.bits + 7) / 8;
      const unsigned code = unpack(data + r * row_bytes, c, w.bits);
      const std::uint8_t* sp = w.scales + (r * groups + k) * 2;
      const float scale = f16_bits_to_f32(static_cast<unsigned>(sp[0]) | static_cast<unsigned>(sp[1]) << 8);
      const float zero = w.symmetric ? static_cast<float>(1 << (w.bits - 1))
                                     : static_cast<float>(unpack(w.zeros + r * zero_row_bytes, k, w.bits));
      return __fmul_rn(scale, __fsub_rn(static_cast<float>(code), zero));
    }
    case PackedFamily::Int8Channel:
      return __fmul_rn(static_cast<float>(static_cast<signed char>(data[r * pc + c])), load_f32(w.scales + r * 4));
    case PackedFamily::FP8Tensor:
    case PackedFamily::FP8Channel: {
      const std::uint8_t code = data[r * pc + c];
      const float v = w.e5m2 ? t->e5m2[code] : t->e4m3[code];
      return __fmul_rn(v, w.family == PackedFamily::FP8Tensor ? w.tensor_scale : load_f32(w.scales + r * 4));
    }
  }
  return 0.0f;
}

}  // namespace qlab::cuda::kernels
