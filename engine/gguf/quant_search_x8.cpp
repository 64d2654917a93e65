// The scale searches of quant_search.cpp for eight groups at once, one group per lane of an
// eight-float vector (formats/block_simd.h). A lane performs its group's float operations exactly as
// the one-group search does -- the same candidates, the same index-order sums, the same comparisons,
// no contraction (the gguf library builds with -ffp-contract=off) -- so its scale, min and codes are
// bit for bit those of search_symmetric / search_asymmetric on that group (the byte-exact tests against
// llama-quantize's files check every caller). Where the one-group search branches per group (a group
// of zeros, an accepted candidate), the lanes carry masks and a candidate updates only the lanes that
// accept it. What is gained: the groups of a super-block are independent, and a search is a long
// chain of dependent float sums that one group alone cannot spread over a vector.
#include <cmath>
#include <cstring>

#include "engine/formats/block_simd.h"
#include "engine/gguf/quant_lanes.h"
#include "engine/gguf/quant_search.h"

namespace qlab::gguf::detail {

namespace {

using formats::simd::f8;
using formats::simd::i8v;
using namespace lanes;

constexpr int kLanes = 8;

// Group g's values at x + g * n become lane g of X[i] (and likewise the weights).
void transpose_in(int n, const float* x, f8* X) {
  for (int i = 0; i < n; ++i)
    for (int g = 0; g < kLanes; ++g) X[i][g] = x[g * n + i];
}

// Each lane's element of largest magnitude with its sign (the first one wins a tie); *amax_out its
// magnitude.
QLAB_SIMD_INLINE f8 signed_absmax8(int n, const f8* X, f8* amax_out) {
  f8 amax = splat(0), max = splat(0);
  for (int i = 0; i < n; ++i) {
    const f8 ax = abs8(X[i]);
    const i8v larger = ax > amax;
    amax = pick(larger, ax, amax);
    max = pick(larger, X[i], max);
  }
  *amax_out = amax;
  return max;
}

// search_asymmetric's weighted error of a fit scale * code + m.
QLAB_SIMD_INLINE f8 error8(int n, f8 scale, f8 m, const f8* codes, const f8* X, const f8* W, bool use_mad) {
  f8 err = splat(0);
  for (int i = 0; i < n; ++i) {
    f8 diff = scale * codes[i] + m - X[i];
    diff = use_mad ? abs8(diff) : diff * diff;
    err += W[i] * diff;
  }
  return err;
}

QLAB_SIMD_KERNEL
void symmetric8(int n, int nmax, const float* x, std::int8_t* L, const float* weights, float* scales) {
  f8 X[kMaxGroupX8] = {}, W[kMaxGroupX8] = {};  // (zeroed: GCC cannot see that n >= 1)
  transpose_in(n, x, X);
  if (weights) {
    transpose_in(n, weights, W);
  } else {
    for (int i = 0; i < n; ++i) W[i] = X[i] * X[i];
  }
  f8 amax;
  const f8 max = signed_absmax8(n, X, &amax);
  const i8v zero = amax < splat(kGroupMaxEps);

  // First guess: the largest element on code -nmax; its least-squares scale.
  const f8 fnmax = splat(static_cast<float>(nmax));
  f8 iscale = splat(static_cast<float>(-nmax)) / max;
  f8 sumlx = splat(0), suml2 = splat(0);
  for (int i = 0; i < n; ++i) {
    const f8 l = to_float(clamp8(nearest8(iscale * X[i]), -nmax, nmax - 1));
    sumlx += W[i] * X[i] * l;
    suml2 += W[i] * l * l;
  }
  f8 scale = pick(suml2 != splat(0), sumlx / suml2, splat(0));
  f8 best = scale * sumlx;
  f8 best_iscale = iscale;
  // The nudged code ranges, each kept in the lanes whose fit it improves.
  for (int is = -9; is <= 9; ++is) {
    if (is == 0) continue;
    iscale = -(fnmax + splat(0.1f) * splat(static_cast<float>(is))) / max;
    sumlx = suml2 = splat(0);
    for (int i = 0; i < n; ++i) {
      const f8 l = to_float(clamp8(nearest8(iscale * X[i]), -nmax, nmax - 1));
      sumlx += W[i] * X[i] * l;
      suml2 += W[i] * l * l;
    }
    const i8v accept = (suml2 > splat(0)) & (sumlx * sumlx > best * suml2);
    scale = pick(accept, sumlx / suml2, scale);
    best = pick(accept, scale * sumlx, best);
    best_iscale = pick(accept, iscale, best_iscale);
  }
  // The codes of the kept range (all 0 in a group of zeros, as search_symmetric leaves them).
  for (int i = 0; i < n; ++i) {
    const i8v l = pick(zero, splat_int(0), clamp8(nearest8(best_iscale * X[i]), -nmax, nmax - 1) + nmax);
    for (int g = 0; g < kLanes; ++g) L[g * n + i] = static_cast<std::int8_t>(l[g]);
  }
  for (int g = 0; g < kLanes; ++g) scales[g] = zero[g] ? 0.f : scale[g];
}

QLAB_SIMD_KERNEL
void asymmetric8(int n, int nmax, const float* x, const float* weights, std::uint8_t* L, float* neg_min,
                 float* scales, float rmin, float rdelta, int nstep, bool use_mad, bool zero_if_not_above) {
  f8 X[kMaxGroupX8] = {}, W[kMaxGroupX8] = {};  // (zeroed: GCC cannot see that n >= 1)
  transpose_in(n, x, X);
  transpose_in(n, weights, W);
  f8 min = X[0], max = X[0];
  f8 sum_w = W[0];
  f8 sum_x = sum_w * X[0];
  for (int i = 1; i < n; ++i) {
    min = pick(X[i] < min, X[i], min);
    max = pick(X[i] > max, X[i], max);
    sum_w += W[i];
    sum_x += W[i] * X[i];
  }
  min = pick(min > splat(0), splat(0), min);
  const i8v zero = zero_if_not_above ? ~(max > min) : (max == min);
  const f8 zero_min = min;

  // Start: the plain min..max grid.
  const f8 fnmax = splat(static_cast<float>(nmax));
  f8 iscale = fnmax / (max - min);
  f8 scale = splat(1) / iscale;
  f8 codes[kMaxGroupX8], best_codes[kMaxGroupX8];
  for (int i = 0; i < n; ++i) best_codes[i] = to_float(clamp8(nearest8(iscale * (X[i] - min)), 0, nmax));
  f8 best_error = error8(n, scale, min, best_codes, X, W, use_mad);
  // Then nstep + 1 grids, each refit by weighted least squares on its codes. An accepted one moves
  // its lanes' min, which the later grids of those lanes start from.
  for (int is = 0; is <= nstep && nstep >= 1; ++is) {
    iscale = (splat(rmin) + splat(rdelta) * splat(static_cast<float>(is)) + fnmax) / (max - min);
    f8 sum_l = splat(0), sum_l2 = splat(0), sum_xl = splat(0);
    for (int i = 0; i < n; ++i) {
      const f8 fl = to_float(clamp8(nearest8(iscale * (X[i] - min)), 0, nmax));
      codes[i] = fl;
      sum_l += W[i] * fl;
      sum_l2 += W[i] * fl * fl;
      sum_xl += W[i] * fl * X[i];
    }
    const f8 D = sum_w * sum_l2 - sum_l * sum_l;
    f8 this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
    f8 this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
    const i8v positive_min = this_min > splat(0);
    this_min = pick(positive_min, splat(0), this_min);
    this_scale = pick(positive_min, sum_xl / sum_l2, this_scale);
    const f8 err = error8(n, this_scale, this_min, codes, X, W, use_mad);
    const i8v accept = (D > splat(0)) & (err < best_error);
    for (int i = 0; i < n; ++i) best_codes[i] = pick(accept, codes[i], best_codes[i]);
    best_error = pick(accept, err, best_error);
    scale = pick(accept, this_scale, scale);
    min = pick(accept, this_min, min);
  }
  for (int i = 0; i < n; ++i) {
    const i8v l = pick(zero, splat_int(0), __builtin_convertvector(best_codes[i], i8v));
    for (int g = 0; g < kLanes; ++g) L[g * n + i] = static_cast<std::uint8_t>(l[g]);
  }
  for (int g = 0; g < kLanes; ++g) {
    neg_min[g] = zero[g] ? -zero_min[g] : -min[g];
    scales[g] = zero[g] ? 0.f : scale[g];
  }
}

// search_q3 for eight groups: the first fit, then the coordinate descent with each lane's moves
// accepted by its own test. A lane whose sweep changed nothing stops there, as the one-group search
// does (another sweep would change nothing either: the same state gives the same tests).
QLAB_SIMD_KERNEL
void q3_8(int n, int nmax, const float* x, std::int8_t* L, float* scales) {
  f8 X[kMaxGroupX8] = {}, W[kMaxGroupX8] = {}, Lf[kMaxGroupX8] = {};  // (zeroed: GCC cannot see that n >= 1)
  transpose_in(n, x, X);
  for (int i = 0; i < n; ++i) W[i] = X[i] * X[i];
  f8 amax;
  const f8 max = signed_absmax8(n, X, &amax);
  const i8v zero = amax < splat(kGroupMaxEps);
  const f8 iscale = splat(static_cast<float>(-nmax)) / max;
  f8 sumlx = splat(0), suml2 = splat(0);
  for (int i = 0; i < n; ++i) {
    const f8 l = to_float(clamp8(nearest8(iscale * X[i]), -nmax, nmax - 1));
    Lf[i] = l;
    sumlx += W[i] * X[i] * l;
    suml2 += W[i] * l * l;
  }
  i8v live = ~zero;
  for (int sweep = 0; sweep < 5; ++sweep) {
    i8v changed = splat_int(0);
    for (int i = 0; i < n; ++i) {
      const f8 li = Lf[i];
      f8 slx = sumlx - W[i] * X[i] * li;
      f8 sl2 = suml2 - W[i] * li * li;
      const f8 nl = to_float(clamp8(nearest8(X[i] * sl2 / slx), -nmax, nmax - 1));
      const i8v moved = (slx > splat(0)) & (nl != li);
      slx += W[i] * X[i] * nl;
      sl2 += W[i] * nl * nl;
      const i8v accept = live & moved & (sl2 > splat(0)) & (slx * slx * suml2 > sumlx * sumlx * sl2);
      Lf[i] = pick(accept, nl, li);
      sumlx = pick(accept, slx, sumlx);
      suml2 = pick(accept, sl2, suml2);
      changed |= accept;
    }
    live &= changed;
    bool any = false;
    for (int g = 0; g < kLanes; ++g) any = any || live[g] != 0;
    if (!any) break;
  }
  for (int i = 0; i < n; ++i) {
    const i8v l = pick(zero, splat_int(0), __builtin_convertvector(Lf[i], i8v) + nmax);  // search_q3 leaves 0 in a zero group
    for (int g = 0; g < kLanes; ++g) L[g * n + i] = static_cast<std::int8_t>(l[g]);
  }
  const f8 scale = pick(suml2 > splat(0), sumlx / suml2, splat(0));
  for (int g = 0; g < kLanes; ++g) scales[g] = zero[g] ? 0.f : scale[g];
}

}  // namespace

void search_symmetric_x8(int n, int nmax, const float* x, std::int8_t* L, const float* weights, float* scales) {
  symmetric8(n, nmax, x, L, weights, scales);
}

void search_asymmetric_x8(int n, int nmax, const float* x, const float* weights, std::uint8_t* L, float* neg_min,
                          float* scales, float rmin, float rdelta, int nstep, bool use_mad, bool zero_if_not_above) {
  asymmetric8(n, nmax, x, weights, L, neg_min, scales, rmin, rdelta, nstep, use_mad, zero_if_not_above);
}

void search_q3_x8(int n, int nmax, const float* x, std::int8_t* L, float* scales) { q3_8(n, nmax, x, L, scales); }

}  // namespace qlab::gguf::detail
