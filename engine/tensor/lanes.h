#pragma once
// Sixteen floats as one value, and the arithmetic the row kernels share, for a float or for lanes:
//   lanes, ilanes,     16 x float, int32, uint32 (GCC/Clang vector extension): one AVX-512 register,
//   ulanes             two AVX2 ones, four SSE2 or NEON ones; for loops a vectorizer leaves scalar
//   exp_core           e^x for x in [-87, 88], plain arithmetic and bit operations, so it runs the
//                      same in a scalar loop the compiler vectorizes and in an explicit lanes kernel
//   tree_max, tree_sum horizontal max / sum of 16 values in a tree (depth 4, not a chain of 15)
// Kernels built with QLAB_VECTOR_CLONES get these at each clone's width. Values are passed by
// reference and bits cast with the builtin: a 64-byte vector returned by a function changes the
// calling convention between the clones.
#include <cstdint>
#include <cstring>

namespace qlab::tensor {

inline constexpr int kLaneCount = 16;
using lanes = float __attribute__((vector_size(kLaneCount * sizeof(float))));
using ilanes = std::int32_t __attribute__((vector_size(kLaneCount * sizeof(std::int32_t))));
using ulanes = std::uint32_t __attribute__((vector_size(kLaneCount * sizeof(std::uint32_t))));

// Cody-Waite reduction x = n ln2 + r (|r| <= ln2/2, ln2 split so n ln2 is exact), then Cephes'
// degree-7 expansion of e^r, then 2^n put into the exponent field. Rounding to n uses the
// 1.5 * 2^23 trick. For x in [-87, 88], where n stays within [-126, 127]; a NaN gives NaN.
// F is float (U uint32) or lanes (U ulanes); the bit arithmetic is unsigned, so a NaN's pattern
// cannot overflow a signed integer.
template <typename F, typename U>
inline void exp_core_in_place(F& x) {
  constexpr float kShift = 0x1.8p23f;
  const F t = x * 1.44269504088896341f + kShift;
  const F n = t - kShift;
  const U ni = __builtin_bit_cast(U, t) - __builtin_bit_cast(std::uint32_t, kShift);  // n (mod 2^32)
  F r = x - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  F p = r * 1.9875691500e-4f + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  x = p * __builtin_bit_cast(F, (ni + 127u) << 23);
}

inline float exp_core(float x) {
  exp_core_in_place<float, std::uint32_t>(x);
  return x;
}

inline float tree_max(const lanes& v) {
  float a[kLaneCount];
  std::memcpy(a, &v, sizeof a);
  for (int w = kLaneCount / 2; w >= 1; w /= 2)
    for (int j = 0; j < w; ++j) a[j] = a[j + w] > a[j] ? a[j + w] : a[j];
  return a[0];
}

inline float tree_sum(const float* in) {
  float a[kLaneCount];
  std::memcpy(a, in, sizeof a);
  for (int w = kLaneCount / 2; w >= 1; w /= 2)
    for (int j = 0; j < w; ++j) a[j] += a[j + w];
  return a[0];
}

inline float tree_sum(const lanes& v) {
  float a[kLaneCount];
  std::memcpy(a, &v, sizeof a);
  return tree_sum(a);
}

}  // namespace qlab::tensor
