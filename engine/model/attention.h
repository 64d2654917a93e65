#pragma once
// Causal attention of one block of queries of one head over the keys they can see, in two paths
// side by side (same inputs, same result up to float summation order):
//   AttentionBlock        the operands: nt query rows, L cached key/value rows, causal offset
//   attend_block_gemm     scores q K^T, softmax, P V through BLAS (any head_dim; the reference)
//   attend_block_tiles    register tiles of 4 queries (8 on x86-64-v4) x 16 keys over the transposed
//                         keys, scores masked and exponentiated while the tile is in cache, P V
//                         over only the keys each tile sees (head_dim a multiple of 16, as every
//                         Llama-family model's is). A small model's heads make BLAS calls of a few
//                         thousand multiply-adds, where packing and masking cost more than the
//                         arithmetic.
//   attend_block          the tiled path where it applies, else the GEMM path
#include <cstdint>

namespace qlab::model {

// Keys per score tile: a transposed key row (and so the KV cache's key stride) is padded to a
// multiple of this, so a tile never reads past it.
inline constexpr std::int64_t kKeyTile = 16;

struct AttentionBlock {
  const float* q = nullptr;  // nt rows of head_dim, q_stride apart
  std::int64_t q_stride = 0;
  const float* kt = nullptr;  // the keys transposed: head_dim rows of kt_stride (>= L rounded up to
  std::int64_t kt_stride = 0;  // kKeyTile, readable past L), key j's element d at kt[d * kt_stride + j]
  const float* v = nullptr;    // L rows of head_dim, v_stride apart
  std::int64_t v_stride = 0;
  float* out = nullptr;  // nt rows of head_dim, out_stride apart
  std::int64_t out_stride = 0;
  std::int64_t nt = 0, L = 0, head_dim = 0;
  std::int64_t first_visible = 0;  // query t sees keys [0, first_visible + t]; L = first_visible + nt
  float scale = 1.0f;              // applied to q . k before the softmax
};

void attend_block_gemm(const AttentionBlock& a);
// rows_per_tile: 4 or 8; 0 picks by the CPU (8 where the AVX-512 build runs). Results are the same.
void attend_block_tiles(const AttentionBlock& a, int rows_per_tile = 0);
void attend_block(const AttentionBlock& a);

}  // namespace qlab::model
