#pragma once
// A weight matrix as the runtime holds it, and the product every Linear layer needs.
//   ElemType     the storage type of the elements (computation is always float32)
//   Matrix       [rows, cols] row-major: borrowed from a memory mapping, or owned; float32, half
//                precision, or packed in a block format (formats/block.h)
//   matmul       Y[M, rows] = X[M, cols] * W^T, threaded over output rows
// Half-precision and packed weights stay as they are in memory, so neither a bf16 model nor a 4-bit
// one becomes a float32 copy; float32 weights are used in place. Several rows of X (a prompt) widen
// a slab of weight rows at a time inside each worker and multiply with BLAS. A single row of X
// (decoding) is read against the stored bytes by the row-dot kernels (row_dot.h: blocks decoded in
// registers, one pass over the weights), unless the matrix asks for ProductMath::Exact.
// A packed matrix gives the products exactly the float32 values its format dequantizes to: the same
// numbers a fake-quantized float32 copy holds (formats::dequantize_rows equals dequantize bit for bit).
#include <cstdint>
#include <memory>
#include <vector>

#include "engine/formats/block.h"

namespace qlab::tensor {

class InterleavedRows;  // row_interleave.h

enum class ElemType { F32, F16, BF16, Packed };

// How a product with a matrix sums its float32 terms.
//   Exact  every product widens rows to float32 and BLAS multiplies: bit for bit what a float32 copy
//          of the weights gives (a packed matrix: what the fake-quantized float32 model gives)
//   Fast   the default: as Exact, except that one row of activations (decoding) against half or
//          packed weights goes through the row-dot kernels, whose sums run in another order (the
//          results differ from Exact by float rounding; float32 weights stay with BLAS). On AVX-512,
//          nvfp4, mxfp4 and int4 / int8 groups with whole groups of 8 rows read a copy of their rows
//          interleaved by 8 (row_interleave.h), made at the first such product: the same products,
//          summed in another order
//   Native as Fast, and activations against bf16 weights (a prompt, and decoding's single row) use
//          the CPU's bf16 dot products, the activations rounded to bf16 first (gemm_bf16.h; llama.cpp's
//          CPU arithmetic for a bf16 model); where the CPU has none, as Fast. One row of activations
//          against int4 / int8 groups, int8-ch, nvfp4 or mxfp4 is quantized to int8 blocks of 32
//          (llama.cpp's q8_0) and multiplied by integer dot products (row_dot.h), as llama.cpp
//          multiplies its own 4- and 8-bit types: Fast's result within the q8_0 rounding of the
//          activations (fp8 and the other formats: as Fast). On AVX-512 VNNI and NEON with SDOT,
//          nvfp4, mxfp4 and int4 / int8 groups read the interleaved copy too (the same one as
//          Fast's, row_interleave.h, made at the first such product): the same sums, added in
//          another order
enum class ProductMath { Exact, Fast, Native };

struct Matrix {
  ElemType type = ElemType::F32;
  const void* data = nullptr;  // rows * cols elements of `type`, row-major (Packed: packed.data's bytes)
  std::int64_t rows = 0, cols = 0;
  std::shared_ptr<const void> owner;  // set when the matrix owns its storage (or keeps a mapping alive)
  // Packed: the quantized tensor [rows, packed.cols]. packed.cols >= cols: a format whose blocks do
  // not divide `cols` holds rows zero-padded to whole blocks, and the columns past `cols` are dropped
  // when widening. The parts are borrowed; `owner` keeps them alive (or the caller does).
  formats::QuantizedView packed;
  // Packed: a copy of the rows in a layout made for decoding (row_interleave.h: eight rows interleaved
  // block by block), made at the first one-row product whose kernel reads it; that kernel then reads
  // the copy and every other product `packed`. nullptr: the format has no such layout.
  std::shared_ptr<InterleavedRows> interleaved;
  ProductMath math = ProductMath::Fast;
  // Set for a weight run as another runtime runs it: the activations a product with this matrix
  // takes are first rounded in place by this function (rows x cols, row-major) — e.g. a GGUF tensor
  // under llama.cpp's CPU kernels, which round them to the weight type's 8-bit or 16-bit dot-product
  // type (engine/gguf/ggml_activations.h). nullptr: the products use the activations as they are.
  void (*round_input)(float* x, std::int64_t rows, std::int64_t cols) = nullptr;

  // Widen rows [r0, r0 + n) to float32 into out[n * cols].
  void rows_to_f32(std::int64_t r0, std::int64_t n, float* out) const;
  // Pointer to row r when the storage already is float32, else nullptr.
  const float* f32_row(std::int64_t r) const;
  std::vector<float> to_f32() const;
  // Tell the OS the borrowed (memory-mapped) bytes are not needed now: their pages leave the
  // resident set and are read back from the file if touched again. No effect on owned storage.
  void release_mapped_pages() const;
  // Bytes of the elements as held in memory (packed: every part, scales included).
  std::uint64_t storage_bytes() const;
  // A float32 matrix that owns `values` (rows * cols of them).
  static Matrix owned_f32(std::vector<float> values, std::int64_t rows, std::int64_t cols);
  // A packed matrix that owns q, quantized in `spec` (copied: the matrix keeps its own). cols: the
  // matrix's own column count (q.cols, or fewer when q's rows are padded to whole blocks).
  static Matrix owned_packed(formats::QuantizedTensor q, const formats::BlockFormatSpec& spec, std::int64_t cols);
  // A packed matrix over parts someone else holds (a checkpoint's tensors in a file mapping);
  // keep_alive, if set, is held as the owner; q.spec must outlive the matrix. The parts are checked
  // against the format.
  static Matrix borrowed_packed(const formats::QuantizedView& q, std::int64_t cols,
                                std::shared_ptr<const void> keep_alive = {});
};

// Y[M, W.rows] = X[M, W.cols] * W^T. X and Y are dense row-major. Uses the engine's thread pool;
// BLAS runs single-threaded inside each worker.
void matmul(const float* X, std::int64_t M, const Matrix& W, float* Y);

}  // namespace qlab::tensor
