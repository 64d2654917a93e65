#pragma once
// bitsandbytes' signed "dynamic" 8-bit map and its encoder: the second level of NF4 double
// quantization (block-formats.md section 3.2).
//   bnb_dynamic_map      the 256 values create_dynamic_map(signed=True) builds, ascending
//   bnb_dynamic_encode   the nearest map value, as bnb's default (PyTorch) backend picks it
#include <array>
#include <cstdint>

namespace qlab::formats {

std::array<float, 256> make_bnb_dynamic_map();
// The same, built once.
const std::array<float, 256>& bnb_dynamic_map();

// x (scaled by the block's absmax) -> code: x is clamped to [-1, 1], then the code whose value has
// the smallest float32 |x - value|, the lowest code on ties (torch.argmin).
std::uint8_t bnb_dynamic_encode(const std::array<float, 256>& map, float x);

}  // namespace qlab::formats
