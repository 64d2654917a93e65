// to_f32: widen a F32/F16/BF16 tensor to float32 with the tensor library's whole-array converters.
// A tensor's bytes need not be 2- or 4-byte aligned (the format pads headers to 8 by convention
// only), so misaligned data is staged through an aligned buffer rather than read through a cast.
#include <algorithm>
#include <cstring>

#include "engine/core/error.h"
#include "engine/core/threads.h"
#include "engine/io/safetensors.h"
#include "engine/io/strict_json.h"
#include "engine/tensor/convert.h"

namespace qlab::io {

namespace {

void half_range_to_f32(DType d, const std::byte* src, float* out, std::size_t n) {
  constexpr std::size_t kStage = 4096;
  std::uint16_t stage[kStage];
  const bool aligned = reinterpret_cast<std::uintptr_t>(src) % alignof(std::uint16_t) == 0;
  for (std::size_t i = 0; i < n; i += kStage) {
    const std::size_t m = std::min(kStage, n - i);
    const std::uint16_t* p;
    if (aligned) {
      p = reinterpret_cast<const std::uint16_t*>(src) + i;
    } else {
      std::memcpy(stage, src + 2 * i, 2 * m);
      p = stage;
    }
    if (d == DType::BF16)
      tensor::bf16_to_f32(p, out + i, m);
    else
      tensor::f16_to_f32(p, out + i, m);
  }
}

}  // namespace

void to_f32(const TensorRef& t, std::span<float> out) {
  const auto n = static_cast<std::size_t>(t.numel());
  if (out.size() != n)
    fail("{}: tensor {}: output holds {} floats, the tensor has {}", t.file, printable(t.name), out.size(), n);
  if (t.dtype != DType::F32 && t.dtype != DType::F16 && t.dtype != DType::BF16)
    fail("{}: tensor {} is {}; only F32, F16 and BF16 tensors convert to float32", t.file, printable(t.name),
         dtype_name(t.dtype));
  if (t.bytes.size() != n * dtype_size(t.dtype))
    fail("{}: tensor {}: {} bytes do not match its shape", t.file, printable(t.name), t.bytes.size());
  const std::byte* src = t.bytes.data();
  float* dst = out.data();
  const DType d = t.dtype;
  parallel_for(
      n,
      [&](std::size_t b, std::size_t e) {
        if (d == DType::F32)
          std::memcpy(dst + b, src + 4 * b, 4 * (e - b));
        else
          half_range_to_f32(d, src + 2 * b, dst + b, e - b);
      },
      std::size_t{1} << 18);
}

std::vector<float> to_f32(const TensorRef& t) {
  std::vector<float> out(static_cast<std::size_t>(std::max<std::int64_t>(t.numel(), 0)));
  to_f32(t, out);
  return out;
}

}  // namespace qlab::io
