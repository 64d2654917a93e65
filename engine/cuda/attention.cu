// Causal grouped-query attention, float32 throughout (the f32 and bf16 GPU modes both use it).
//
// Tiled kernel (head_dim 16, 32, 64, 128, 256 when its shared memory fits): a block of 256 threads
// takes a tile of 64 query rows and walks the keys in tiles of 64 with FlashAttention's online
// softmax (running max m, running sum l, output rescaled by e^(m_old - m_new)), so scores never
// reach device memory. The 64 rows of a tile are (position, head) pairs of ONE KV group: the
// `group` query heads that share a key/value head sit in one tile and read each key tile once
// (decoding: one position, `group` heads). Thread (ty, tx) of a 16 x 16 grid owns 4 rows x 4 keys
// of a score tile and 4 rows x head_dim/16 columns of the output, in registers.
//   shared memory   Q^T [hd][68] (a row's 4 queries as one 16-byte read), the key tile K^T [hd][65]
//                   then (same buffer) the value tile V [64][hd], P^T [64][65]; odd strides keep the
//                   transposing writes off a single bank
// The key range is split across blocks when the tiles alone would leave the GPU idle (decoding: B x
// kv_heads blocks) or unbalanced (a causal prompt's last tiles see all keys, its first almost none):
// each block writes its (m, l, unnormalised output) and a combine kernel merges them. Heavy tiles
// are scheduled first, and a warp whose rows are all past the sequence (decoding fills 4 of a tile's
// 64 rows) only helps load the tiles.
// Other head sizes take the generic kernel: one warp per (row, head), keys one at a time.
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>

#include "engine/cuda/check.h"
#include "engine/cuda/kernels.h"

namespace qlab::cuda::kernels {

namespace {

constexpr int kBR = 64;   // query rows per tile
constexpr int kBC = 64;   // keys per tile
constexpr int kQStride = kBR + 4;
constexpr int kKStride = kBC + 1;
constexpr int kPStride = kBR + 1;

template <int HD>
constexpr int tiled_smem_bytes() {
  constexpr int kv = HD * kKStride > kBC * HD ? HD * kKStride : kBC * HD;
  return (HD * kQStride + kv + kBC * kPStride) * 4;
}

struct TileGeometry {
  int group, q_tiles, kv_heads;
};

// A key or value tile, rows j0 .. j0 + 63 of the cache (zeros from row n on), as 16-byte loads, all of
// a thread's issued before any is used: the tile's latency is paid once, not once per element.
// Element e = tid + 256 u of the tile's float4s is row e / (HD / 4), columns 4 (e % (HD / 4)) ...
// (a warp reads whole rows: coalesced). The cache rows are 16-byte aligned: kv_dim and the head's
// offset are multiples of 4, and each layer's keys start at a multiple of capacity * kv_dim floats.
template <int HD>
constexpr int kTileVecs = kBC * HD / 4 / 256;

template <int HD>
__device__ inline void load_tile(const float* base, int kv_dim, std::int64_t j0, std::int64_t n, int tid,
                                 float4 (&rows)[kTileVecs<HD>]) {
#pragma unroll
  for (int u = 0; u < kTileVecs<HD>; ++u) {
    const int e = tid + 256 * u, j = e / (HD / 4), d = e % (HD / 4) * 4;
    rows[u] = j0 + j < n ? __ldg(reinterpret_cast<const float4*>(base + (j0 + j) * kv_dim + d))
                         : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
  }
}

// Tile `qt` of sequence b, KV head g: row i is pair p = qt * 64 + i -> position t = p / group, head
// g * group + p % group.
template <int HD>
__global__ void __launch_bounds__(256) attention_tiled(AttentionArgs a, TileGeometry geo, int splits,
                                                      int tiles_per_split) {
  extern __shared__ float smem[];
  float* qs = smem;                        // [HD][kQStride]
  float* kv = qs + HD * kQStride;          // K^T [HD][kKStride] or V [kBC][HD]
  float* ps = kv + (HD * kKStride > kBC * HD ? HD * kKStride : kBC * HD);  // P^T [kBC][kPStride]

  const int qt = static_cast<int>(gridDim.x - 1 - blockIdx.x), g = blockIdx.y % geo.kv_heads, b = blockIdx.y / geo.kv_heads, split = blockIdx.z;
  const int tid = threadIdx.x, ty = tid / 16, tx = tid % 16;
  const int group = geo.group, T = a.T, q_dim = a.nh * HD, kv_dim = a.nkv * HD;
  const std::int64_t pos0 = a.pos0[b];
  const int first_pair = qt * kBR;
  const int last_t = min(T - 1, (first_pair + kBR - 1) / group);
  const std::int64_t n_keys = pos0 + last_t + 1;  // keys the tile's last position sees
  const int n_tiles = static_cast<int>((n_keys + kBC - 1) / kBC);
  const int tile0 = split * tiles_per_split, tile1 = min(n_tiles, tile0 + tiles_per_split);

  // Q^T of the tile (rows past the sequence's T are zeros, never written out).
  for (int e = tid; e < kBR * HD; e += 256) {
    const int i = e / HD, d = e % HD, p = first_pair + i, t = p / group;
    float v = 0.0f;
    if (t < T) v = a.q[(static_cast<std::int64_t>(b) * T + t) * q_dim + (g * group + p % group) * HD + d];
    qs[d * kQStride + i] = v;
  }
  // Each thread's 4 rows: their positions (-1 past T).
  std::int64_t row_pos[4];
  for (int r = 0; r < 4; ++r) {
    const int t = (first_pair + ty * 4 + r) / group;
    row_pos[r] = t < T ? pos0 + t : -1;
  }
  constexpr int OC = HD / 16;
  float o[4][OC];
  float m[4], l[4];
  for (int r = 0; r < 4; ++r) {
    m[r] = -INFINITY;
    l[r] = 0.0f;
    for (int c = 0; c < OC; ++c) o[r][c] = 0.0f;
  }
  // The warp's 8 rows (two ty of 4): any of them inside the sequence?
  const int warp_first_t = (first_pair + (ty & ~1) * 4) / group;
  const bool warp_active = warp_first_t < T;
  const float* kbase = a.k[b] + g * HD;
  const float* vbase = a.v[b] + g * HD;

  for (int tile = tile0; tile < tile1; ++tile) {
    const std::int64_t j0 = static_cast<std::int64_t>(tile) * kBC;
    __syncthreads();  // the previous tile's V and P are no longer read
    {
      float4 rows[kTileVecs<HD>];
      load_tile<HD>(kbase, kv_dim, j0, n_keys, tid, rows);
      for (int u = 0; u < kTileVecs<HD>; ++u) {
        const int e = tid + 256 * u, j = e / (HD / 4), d = e % (HD / 4) * 4;
        kv[d * kKStride + j] = rows[u].x;
        kv[(d + 1) * kKStride + j] = rows[u].y;
        kv[(d + 2) * kKStride + j] = rows[u].z;
        kv[(d + 3) * kKStride + j] = rows[u].w;
      }
    }
    __syncthreads();
    float sc[4][4];
    for (int r = 0; r < 4; ++r)
      for (int c = 0; c < 4; ++c) sc[r][c] = 0.0f;
    if (warp_active) {
#pragma unroll 4
    for (int d = 0; d < HD; ++d) {
      const float4 qv = *reinterpret_cast<const float4*>(qs + d * kQStride + ty * 4);
      const float qr[4] = {qv.x, qv.y, qv.z, qv.w};
      float kc[4];
      for (int c = 0; c < 4; ++c) kc[c] = kv[d * kKStride + tx + 16 * c];
      for (int r = 0; r < 4; ++r)
        for (int c = 0; c < 4; ++c) sc[r][c] = fmaf(qr[r], kc[c], sc[r][c]);
    }
    // Scale, mask (a key after the row's position, or a row past T), online softmax per row.
    for (int r = 0; r < 4; ++r) {
      float mx = -INFINITY;
      for (int c = 0; c < 4; ++c) {
        const std::int64_t j = j0 + tx + 16 * c;
        sc[r][c] = row_pos[r] >= 0 && j <= row_pos[r] ? sc[r][c] * a.scale : -INFINITY;
        mx = fmaxf(mx, sc[r][c]);
      }
      for (int off = 8; off > 0; off >>= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, off));
      const float m_new = fmaxf(m[r], mx);
      const float corr = m_new == -INFINITY ? 1.0f : expf(m[r] - m_new);
      float sum = 0.0f;
      for (int c = 0; c < 4; ++c) {
        const float p = sc[r][c] == -INFINITY ? 0.0f : expf(sc[r][c] - m_new);
        sum += p;
        ps[(tx + 16 * c) * kPStride + ty * 4 + r] = p;
      }
      for (int off = 8; off > 0; off >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, off);
      l[r] = l[r] * corr + sum;
      m[r] = m_new;
      for (int c = 0; c < OC; ++c) o[r][c] *= corr;
    }
    }  // warp_active
    __syncthreads();  // scores done with K^T; P^T complete
    {
      float4 rows[kTileVecs<HD>];
      load_tile<HD>(vbase, kv_dim, j0, n_keys, tid, rows);
      for (int u = 0; u < kTileVecs<HD>; ++u) reinterpret_cast<float4*>(kv)[tid + 256 * u] = rows[u];
    }
    __syncthreads();
    const int jn = warp_active ? static_cast<int>(n_keys - j0 < kBC ? n_keys - j0 : kBC) : 0;
    for (int j = 0; j < jn; ++j) {
      float pr[4];
      for (int r = 0; r < 4; ++r) pr[r] = ps[j * kPStride + ty * 4 + r];
      for (int c = 0; c < OC; ++c) {
        const float vv = kv[j * HD + tx + 16 * c];
        for (int r = 0; r < 4; ++r) o[r][c] = fmaf(pr[r], vv, o[r][c]);
      }
    }
  }

  // Out: normalised rows (one split), or the split's partial state for the combine kernel.
  for (int r = 0; r < 4; ++r) {
    if (row_pos[r] < 0) continue;
    const int p = first_pair + ty * 4 + r, t = p / group, h = g * group + p % group;
    const std::int64_t row = static_cast<std::int64_t>(b) * T + t;
    if (splits == 1) {
      const float inv = 1.0f / l[r];
      for (int c = 0; c < OC; ++c) a.out[row * q_dim + h * HD + tx + 16 * c] = o[r][c] * inv;
    } else {
      const std::int64_t slot = (static_cast<std::int64_t>(split) * a.B * T + row) * a.nh + h;
      float* po = a.workspace + slot * (HD + 2);
      for (int c = 0; c < OC; ++c) po[2 + tx + 16 * c] = o[r][c];
      if (tx == 0) {
        po[0] = m[r];
        po[1] = l[r];
      }
    }
  }
}

// Merges the splits of each (row, head): M = max m_s, L = sum l_s e^(m_s - M), out = sum o_s e^(m_s - M) / L.
__global__ void attention_combine(AttentionArgs a, int splits) {
  const std::int64_t rh = blockIdx.x;  // row * nh + head
  const int hd = a.hd;
  const std::int64_t n = static_cast<std::int64_t>(a.B) * a.T * a.nh;
  float M = -INFINITY;
  for (int s = 0; s < splits; ++s) M = fmaxf(M, a.workspace[(s * n + rh) * (hd + 2)]);
  float L = 0.0f;
  for (int s = 0; s < splits; ++s) {
    const float* po = a.workspace + (s * n + rh) * (hd + 2);
    if (po[1] > 0.0f) L += po[1] * expf(po[0] - M);
  }
  for (int d = threadIdx.x; d < hd; d += blockDim.x) {
    float acc = 0.0f;
    for (int s = 0; s < splits; ++s) {
      const float* po = a.workspace + (s * n + rh) * (hd + 2);
      if (po[1] > 0.0f) acc += po[2 + d] * expf(po[0] - M);
    }
    a.out[rh * hd + d] = acc / L;
  }
}

// Any head size: one warp per (row, head), keys in order with the online softmax; lane owns
// elements d = lane, lane + 32, ... of the output (up to 512 / 32 = 16 each).
constexpr int kGenericMaxHd = 512;
__global__ void attention_generic(AttentionArgs a) {
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const std::int64_t rh = static_cast<std::int64_t>(blockIdx.x) * 4 + warp;
  const std::int64_t n = static_cast<std::int64_t>(a.B) * a.T * a.nh;
  if (rh >= n) return;
  const std::int64_t row = rh / a.nh;
  const int h = static_cast<int>(rh % a.nh), b = static_cast<int>(row / a.T), t = static_cast<int>(row % a.T);
  const int hd = a.hd, group = a.nh / a.nkv, g = h / group, kv_dim = a.nkv * hd;
  const float* q = a.q + row * a.nh * hd + h * hd;
  const float* kb = a.k[b] + g * hd;
  const float* vb = a.v[b] + g * hd;
  float o[kGenericMaxHd / 32];
  for (auto& x : o) x = 0.0f;
  float m = -INFINITY, l = 0.0f;
  const std::int64_t last = a.pos0[b] + t;
  for (std::int64_t j = 0; j <= last; ++j) {
    float s = 0.0f;
    for (int d = lane; d < hd; d += 32) s = fmaf(q[d], kb[j * kv_dim + d], s);
    for (int off = 16; off > 0; off >>= 1) s += __shfl_xor_sync(0xffffffffu, s, off);
    s *= a.scale;
    const float m_new = fmaxf(m, s), corr = expf(m - m_new), p = expf(s - m_new);
    l = l * corr + p;
    m = m_new;
    for (int i = 0, d = lane; d < hd; ++i, d += 32) o[i] = fmaf(p, vb[j * kv_dim + d], o[i] * corr);
  }
  for (int i = 0, d = lane; d < hd; ++i, d += 32) a.out[row * a.nh * hd + h * hd + d] = o[i] / l;
}

struct Plan {
  TileGeometry geo;
  int splits = 1, tiles_per_split = 1;
};

Plan plan(const AttentionArgs& a, int sm_count) {
  Plan p;
  p.geo.group = a.nh / a.nkv;
  p.geo.kv_heads = a.nkv;
  p.geo.q_tiles = (a.T * p.geo.group + kBR - 1) / kBR;
  const std::int64_t max_keys = a.max_pos0 + a.T;
  const int key_tiles = static_cast<int>((max_keys + kBC - 1) / kBC);
  const std::int64_t blocks = static_cast<std::int64_t>(p.geo.q_tiles) * a.nkv * a.B;
  // Split the keys when the tiles fill less than eight blocks per multiprocessor (two resident, four
  // waves) and there are keys to share: decoding's few tiles, and a prompt's unequal ones.
  if (blocks < 8 * sm_count && key_tiles > 1) {
    const int want = static_cast<int>((8 * sm_count + blocks - 1) / blocks);
    p.splits = std::min(want, key_tiles);
    p.tiles_per_split = (key_tiles + p.splits - 1) / p.splits;
    p.splits = (key_tiles + p.tiles_per_split - 1) / p.tiles_per_split;
  } else {
    p.tiles_per_split = key_tiles;
  }
  return p;
}

template <int HD>
bool launch_tiled(const AttentionArgs& a, int sm_count, int max_smem, cudaStream_t s) {
  constexpr int smem = tiled_smem_bytes<HD>();
  if (smem > max_smem) return false;
  static bool configured = false;  // per instantiation: raise the dynamic shared-memory limit once
  if (!configured) {
    check(cudaFuncSetAttribute(attention_tiled<HD>, cudaFuncAttributeMaxDynamicSharedMemorySize, smem),
          "raising the attention kernel's shared memory");
    configured = true;
  }
  const Plan p = plan(a, sm_count);
  const dim3 grid(static_cast<unsigned>(p.geo.q_tiles), static_cast<unsigned>(a.nkv * a.B),
                  static_cast<unsigned>(p.splits));
  attention_tiled<HD><<<grid, 256, smem, s>>>(a, p.geo, p.splits, p.tiles_per_split);
  check_launch("attention kernel");
  if (p.splits > 1) {
    attention_combine<<<static_cast<unsigned>(static_cast<std::int64_t>(a.B) * a.T * a.nh), 128, 0, s>>>(a, p.splits);
    check_launch("attention combine kernel");
  }
  return true;
}

bool tiled_head_dim(int hd) { return hd == 16 || hd == 32 || hd == 64 || hd == 128 || hd == 256; }

}  // namespace

std::int64_t attention_workspace_floats(const AttentionArgs& a, int sm_count) {
  if (!tiled_head_dim(a.hd)) return 0;
  const Plan p = plan(a, sm_count);
  return p.splits > 1 ? static_cast<std::int64_t>(p.splits) * a.B * a.T * a.nh * (a.hd + 2) : 0;
}

void attention(const AttentionArgs& a, int sm_count, int max_smem, cudaStream_t s) {
  if (a.B <= 0 || a.T <= 0) return;
  bool done = false;
  switch (a.hd) {
    case 16: done = launch_tiled<16>(a, sm_count, max_smem, s); break;
    case 32: done = launch_tiled<32>(a, sm_count, max_smem, s); break;
    case 64: done = launch_tiled<64>(a, sm_count, max_smem, s); break;
    case 128: done = launch_tiled<128>(a, sm_count, max_smem, s); break;
    case 256: done = launch_tiled<256>(a, sm_count, max_smem, s); break;
    default: break;
  }
  if (done) return;
  if (a.hd > kGenericMaxHd) check(cudaErrorInvalidValue, "attention: head_dim above 512");
  const std::int64_t n = static_cast<std::int64_t>(a.B) * a.T * a.nh;
  attention_generic<<<static_cast<unsigned>((n + 3) / 4), 128, 0, s>>>(a);
  check_launch("attention kernel (generic head size)");
}

}  // namespace qlab::cuda::kernels
