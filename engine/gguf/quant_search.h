#pragma once
// The scale searches ggml's quantizers share (internal to engine/gguf). Each picks integer codes L
// and a scale (and for the asymmetric ones a min) for a short group of values, trying a few
// candidate scales and keeping the one with the smallest weighted error.
//   nearest_int         round to nearest, ties to even, by the 1.5 * 2^23 trick ggml uses
//   search_symmetric    codes in [-nmax, nmax-1], scale negative-signed, weighted least squares
//                       (ggml's make_qx_quants, rmse_type 1)
//   search_q3           Q3_K's symmetric 3-bit search with per-element refinement (make_q3_quants)
//   search_asymmetric   codes in [0, nmax] with a min <= 0: a grid of scales, each refit by least
//                       squares (make_qkx2_quants / make_qkx3_quants)
//   search_symmetric_x8, search_asymmetric_x8, search_q3_x8   the same for eight groups at once, bit for bit
//                       (quant_search_x8.cpp): a super-block's sub-blocks searched side by side
//   search_positive     non-negative values (sub-block scales) to codes in [0, nmax] with refinement
//                       (make_qp_quants)
// Source: ggml-quants.c. Every float operation keeps ggml's order and types, because the bytes of
// the result depend on it; the comments in quant_search.cpp say which order matters where.
#include <cstdint>

namespace qlab::gguf::detail {

inline constexpr float kGroupMaxEps = 1e-15f;  // a group whose max |x| is below this is all zero

// Round to nearest, ties to even, valid for |v| <= 4194303 (as ggml's helper: add 1.5 * 2^23 and
// read the low mantissa bits). Outside that range it returns the same wrapped value ggml does.
int nearest_int(float v);

// x[n] -> L[i] = l_i + nmax with l_i in [-nmax, nmax-1]; returns the scale s with x ~ s * l.
// weights == nullptr means w_i = x_i^2.
float search_symmetric(int n, int nmax, const float* x, std::int8_t* L, const float* weights);

// Q3_K's sub-block search (n values, nmax 4): L[i] in [0, 7] (= l + 4); returns the scale.
float search_q3(int n, int nmax, const float* x, std::int8_t* L);

// x[n] -> L[i] in [0, nmax] and *neg_min >= 0 with x ~ scale * L - *neg_min; returns the scale.
// Candidate scales (nmax + rmin + rdelta * k) / (max - min), k = 0..nstep; use_mad: weighted |error|
// instead of squared error. `zero_if_not_above`: the all-equal test is max <= min (the imatrix
// search) rather than max == min (the reference search); they differ only for NaN input.
float search_asymmetric(int n, int nmax, const float* x, const float* weights, std::uint8_t* L, float* neg_min,
                        float rmin, float rdelta, int nstep, bool use_mad, bool zero_if_not_above);

// Eight groups of n <= kMaxGroupX8 values, group g at x + g * n (and weights + g * n), codes to
// L + g * n, its scale to scales[g] (and -min to neg_min[g]): each exactly what the one-group search
// above gives for that group.
inline constexpr int kMaxGroupX8 = 32;
void search_symmetric_x8(int n, int nmax, const float* x, std::int8_t* L, const float* weights, float* scales);
void search_asymmetric_x8(int n, int nmax, const float* x, const float* weights, std::uint8_t* L, float* neg_min,
                          float* scales, float rmin, float rdelta, int nstep, bool use_mad, bool zero_if_not_above);
void search_q3_x8(int n, int nmax, const float* x, std::int8_t* L, float* scales);

// Non-negative x[n] (sub-block scales or mins) -> L[i] in [0, nmax]; returns the super-scale.
float search_positive(int n, int nmax, const float* x, std::uint8_t* L, const float* weights);

// float -> integer the way x86-64 converts (cvttss2si): truncation toward zero, and INT32_MIN for
// NaN or out of range. ggml's C casts (int8_t)(x + 8.5f) compile to this; qlab keeps the same bytes
// without the undefined behaviour of an out-of-range cast.
int truncate_to_int(float v);

}  // namespace qlab::gguf::detail
