#include "engine/model/attention.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <vector>

#include "engine/tensor/blas.h"
#include "engine/tensor/lanes.h"
#include "engine/tensor/ops.h"
#include "engine/tensor/vector_clones.h"

namespace qlab::model {

namespace {

using tensor::ilanes;
using tensor::lanes;

constexpr std::int64_t kLanes = tensor::kLaneCount;  // keys per score tile, values per output tile
static_assert(kLanes == kKeyTile);

// Query rows per tile. Each row is one chain of dependent multiply-adds, and a unit of 4-cycle FMA
// latency needs several chains in flight: four rows of lanes are 16 NEON or 8 AVX2 registers, enough
// for those units; a row of lanes is one AVX-512 register, and two AVX-512 FMA units need eight.
// The AVX-512 build of the kernels runs where the CPU has all of x86-64-v4 (QLAB_VECTOR_CLONES).
int tile_rows() {
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
  static const int rows = __builtin_cpu_supports("x86-64-v4") ? 8 : 4;
  return rows;
#else
  return 4;
#endif
}

std::int64_t round_up(std::int64_t n, std::int64_t m) { return (n + m - 1) / m * m; }

// Number of keys query t of the block sees.
std::int64_t visible(const AttentionBlock& a, std::int64_t t) { return a.first_visible + t + 1; }

// Scores of R queries (rows r0 ..) against keys [0, n_keys) (a multiple of kLanes) from the
// transposed keys: each tile is R x kLanes dot products, one broadcast query element times one row
// of kt at a time. Keys a row does not see are stored as -inf; each row's max goes to mx[r].
template <int R>
[[gnu::always_inline]] inline void score_rows(const AttentionBlock& a, std::int64_t r0, std::int64_t n_keys, float* S,
                                               std::int64_t lds, float* mx) {
  constexpr float kInf = std::numeric_limits<float>::infinity();
  const ilanes lane = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
  const lanes none = lanes{} - kInf;
  const float* q[R];
  lanes top[R];
  for (int r = 0; r < R; ++r) {
    q[r] = a.q + (r0 + r) * a.q_stride;
    top[r] = none;
  }
  for (std::int64_t j0 = 0; j0 < n_keys; j0 += kLanes) {
    lanes acc[R] = {};
    for (std::int64_t d = 0; d < a.head_dim; ++d) {
      lanes k;
      std::memcpy(&k, a.kt + d * a.kt_stride + j0, sizeof k);
      for (int r = 0; r < R; ++r) acc[r] += q[r][d] * k;
    }
    for (int r = 0; r < R; ++r) {
      lanes s = acc[r] * a.scale;
      const std::int64_t seen = visible(a, r0 + r) - j0;  // keys of this tile row r sees, if < kLanes
      if (seen < kLanes) s = lane < static_cast<std::int32_t>(seen) ? s : none;
      top[r] = s > top[r] ? s : top[r];
      std::memcpy(S + (r0 + r) * lds + j0, &s, sizeof s);
    }
  }
  for (int r = 0; r < R; ++r) mx[r] = tensor::tree_max(top[r]);
}

// Row r's scores become e^(s - mx[r]) in place (-inf becomes 0); returns 1 / their sum. exp as in
// the ops kernels, on whole vectors: the row is in cache right after its tile was scored.
[[gnu::always_inline]] inline float exp_row(float* row, std::int64_t n_keys, float mx) {
  // Float lanes of at most 64 terms each, totalled in double: a long context's row of thousands of
  // keys keeps a double-accurate sum.
  constexpr std::int64_t kFlush = 64 * kLanes;
  const lanes floor = lanes{} - 87.0f, zero = {};
  double total = 0.0;
  for (std::int64_t i0 = 0; i0 < n_keys; i0 += kFlush) {
    lanes sum = {};
    for (std::int64_t j0 = i0; j0 < std::min(n_keys, i0 + kFlush); j0 += kLanes) {
      lanes x;
      std::memcpy(&x, row + j0, sizeof x);
      x -= mx;
      const ilanes under = x < floor;
      lanes e = under ? floor : x;
      tensor::exp_core_in_place<lanes, tensor::ulanes>(e);
      e = under ? zero : e;
      sum += e;
      std::memcpy(row + j0, &e, sizeof e);
    }
    total += tensor::tree_sum(sum);
  }
  return static_cast<float>(1.0 / total);
}

// out rows r0 .. = (P V) scaled by inv_sum, over keys [0, n_keys): each tile is R x kLanes outputs,
// one broadcast probability times one value row slice at a time.
template <int R>
[[gnu::always_inline]] inline void weigh_rows(const AttentionBlock& a, std::int64_t r0, const float* S,
                                               std::int64_t lds, std::int64_t n_keys, const float* inv_sum) {
  const float* p[R];
  for (int r = 0; r < R; ++r) p[r] = S + (r0 + r) * lds;
  for (std::int64_t d0 = 0; d0 < a.head_dim; d0 += kLanes) {
    lanes acc[R] = {};
    for (std::int64_t j = 0; j < n_keys; ++j) {
      lanes v;
      std::memcpy(&v, a.v + j * a.v_stride + d0, sizeof v);
      for (int r = 0; r < R; ++r) acc[r] += p[r][j] * v;
    }
    for (int r = 0; r < R; ++r) {
      const lanes o = acc[r] * inv_sum[r0 + r];
      std::memcpy(a.out + (r0 + r) * a.out_stride + d0, &o, sizeof o);
    }
  }
}

// Softmax of row t in place over the keys it sees; entries from there to `upto` become 0 (the P V
// product reads them). Returns 1 / sum.
// The row is padded with -inf to a whole vector first, so the softmax has no ragged tail.
float softmax_row(const AttentionBlock& a, std::int64_t t, float* row, std::int64_t upto) {
  const std::int64_t n = visible(a, t), padded = round_up(n, kLanes);
  std::fill(row + n, row + padded, -std::numeric_limits<float>::infinity());
  const float inv = tensor::softmax_exp(row, padded);
  if (upto > padded) std::fill(row + padded, row + upto, 0.0f);
  return inv;
}

template <int R>
[[gnu::always_inline]] inline void attend_rows(const AttentionBlock& a, std::int64_t r0, float* S, std::int64_t lds,
                                                float* inv_sum) {
  // The tile's last query sees the most keys; the others' extra keys score -inf, so weigh zero.
  const std::int64_t n_keys = visible(a, r0 + R - 1), n_tiles = round_up(n_keys, kLanes);
  float mx[R];
  score_rows<R>(a, r0, n_tiles, S, lds, mx);
  for (int r = 0; r < R; ++r) inv_sum[r0 + r] = exp_row(S + (r0 + r) * lds, n_tiles, mx[r]);
  weigh_rows<R>(a, r0, S, lds, n_keys, inv_sum);
}

}  // namespace

void attend_block_gemm(const AttentionBlock& a) {
  thread_local std::vector<float> S, inv_sum;
  const std::int64_t lds = round_up(a.L, kLanes);
  S.resize(static_cast<std::size_t>(a.nt * lds));
  inv_sum.resize(static_cast<std::size_t>(a.nt));
  tensor::sgemm(false, false, a.nt, a.L, a.head_dim, a.scale, a.q, a.q_stride, a.kt, a.kt_stride, 0.0f, S.data(), lds);
  for (std::int64_t t = 0; t < a.nt; ++t)
    inv_sum[static_cast<std::size_t>(t)] = softmax_row(a, t, S.data() + t * lds, a.L);
  tensor::sgemm_nn(a.nt, a.head_dim, a.L, S.data(), lds, a.v, a.v_stride, a.out, a.out_stride);
  for (std::int64_t t = 0; t < a.nt; ++t)
    tensor::scale(a.out + t * a.out_stride, inv_sum[static_cast<std::size_t>(t)], a.head_dim);
}

QLAB_VECTOR_CLONES
void attend_block_tiles(const AttentionBlock& a, int rows_per_tile) {
  thread_local std::vector<float> S, inv_sum;
  const std::int64_t lds = round_up(a.L, kLanes);
  S.resize(static_cast<std::size_t>(a.nt * lds));
  inv_sum.resize(static_cast<std::size_t>(a.nt));
  std::int64_t r0 = 0;
  if ((rows_per_tile > 0 ? rows_per_tile : tile_rows()) == 8)
    for (; r0 + 8 <= a.nt; r0 += 8) attend_rows<8>(a, r0, S.data(), lds, inv_sum.data());
  for (; r0 + 4 <= a.nt; r0 += 4) attend_rows<4>(a, r0, S.data(), lds, inv_sum.data());
  switch (a.nt - r0) {
    case 3: attend_rows<3>(a, r0, S.data(), lds, inv_sum.data()); break;
    case 2: attend_rows<2>(a, r0, S.data(), lds, inv_sum.data()); break;
    case 1: attend_rows<1>(a, r0, S.data(), lds, inv_sum.data()); break;
    default: break;
  }
}

void attend_block(const AttentionBlock& a) {
  if (a.head_dim % kLanes == 0) {
    attend_block_tiles(a);
  } else {
    attend_block_gemm(a);
  }
}

}  // namespace qlab::model
