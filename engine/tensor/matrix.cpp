#include "engine/tensor/matrix.h"

#include <algorithm>
#include <cstring>
#include <optional>

#if defined(__linux__)
#include <sys/mman.h>
#include <unistd.h>
#endif

#include "engine/core/error.h"
#include "engine/core/threads.h"
#include "engine/tensor/blas.h"
#include "engine/tensor/convert.h"
#include "engine/formats/scalar_fast.h"
#include "engine/tensor/cpu_features.h"
#include "engine/tensor/gemm_bf16.h"
#include "engine/tensor/row_dot_activations.h"
#include "engine/tensor/row_dot_table.h"
#include "engine/tensor/row_interleave.h"

namespace qlab::tensor {

namespace {

// Bytes per element of the unpacked types (a packed matrix's layout belongs to its format).
std::size_t elem_size(ElemType t) { return t == ElemType::F32 ? 4 : 2; }

// Rows widened per BLAS call for half-precision weights. BLAS re-packs X on every call, so a slab
// must span many output columns for that cost to vanish next to the multiply (4 MiB: ~500 rows
// of a 2048-wide weight).
constexpr std::int64_t kSlabBytes = 4 * 1024 * 1024;
// Scratch for widening half-precision weights before one all-threads BLAS call: bounded so a
// 128k-row lm_head does not need a float32 copy of itself.
constexpr std::int64_t kBatchedSlabBytes = 64 * 1024 * 1024;
// From this many rows of X on, a product is compute-bound and goes to BLAS in one call...
constexpr std::int64_t kBatchedMinRows = 16;
// ...if it is also big enough to repay BLAS's own threads (multiply-adds). Below this the pool's
// threads split it into bands instead: BLAS threads that keep spinning after a small call would
// fight the pool's workers for the cores through the elementwise work that follows.
constexpr double kBatchedMinWork = 128.0 * 1024 * 1024;

}  // namespace

void Matrix::rows_to_f32(std::int64_t r0, std::int64_t n, float* out) const {
  if (type == ElemType::Packed) {
    if (packed.cols == cols) {
      formats::dequantize_rows(packed, r0, n, out);
      return;
    }
    // Rows padded to whole blocks: widen them whole, keep the first `cols` values of each.
    thread_local std::vector<float> padded;
    padded.resize(static_cast<std::size_t>(n * packed.cols));
    formats::dequantize_rows(packed, r0, n, padded.data());
    for (std::int64_t r = 0; r < n; ++r) std::memcpy(out + r * cols, padded.data() + r * packed.cols, 4 * static_cast<std::size_t>(cols));
    return;
  }
  const std::size_t count = static_cast<std::size_t>(n * cols);
  const auto* base = static_cast<const std::byte*>(data) + static_cast<std::size_t>(r0 * cols) * elem_size(type);
  switch (type) {
    case ElemType::F32:
      std::memcpy(out, base, count * 4);
      break;
    case ElemType::BF16: {
      // Mapped tensors are only 2-byte aligned by the file format; uint16 access is fine.
      bf16_to_f32(reinterpret_cast<const std::uint16_t*>(base), out, count);
      break;
    }
    case ElemType::F16:
      f16_to_f32(reinterpret_cast<const std::uint16_t*>(base), out, count);
      break;
    case ElemType::Packed:
      break;  // widened above
  }
}

const float* Matrix::f32_row(std::int64_t r) const {
  if (type != ElemType::F32) return nullptr;
  // float32 data inside a safetensors mapping may be misaligned; BLAS copes, loads here use memcpy.
  return static_cast<const float*>(data) + r * cols;
}

std::vector<float> Matrix::to_f32() const {
  std::vector<float> out(static_cast<std::size_t>(rows * cols));
  rows_to_f32(0, rows, out.data());
  return out;
}

void Matrix::release_mapped_pages() const {
#if defined(__linux__)
  if (owner || !data || type == ElemType::Packed) return;
  const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
  const auto begin = reinterpret_cast<std::uintptr_t>(data);
  const std::uintptr_t end = begin + static_cast<std::uintptr_t>(rows * cols) * elem_size(type);
  // Only whole pages inside the tensor: neighbours sharing its first or last page stay resident.
  const std::uintptr_t b = (begin + page - 1) / page * page, e = end / page * page;
  if (e > b) ::madvise(reinterpret_cast<void*>(b), e - b, MADV_DONTNEED);
#endif
}

std::uint64_t Matrix::storage_bytes() const {
  if (type == ElemType::Packed) return packed.storage_bytes();
  return static_cast<std::uint64_t>(rows) * static_cast<std::uint64_t>(cols) * elem_size(type);
}

Matrix Matrix::owned_packed(formats::QuantizedTensor q, const formats::BlockFormatSpec& spec, std::int64_t cols) {
  // The spec travels with the bytes, so a caller's copy of a table row may go out of scope.
  struct Held {
    formats::QuantizedTensor q;
    formats::BlockFormatSpec spec;
  };
  auto holder = std::make_shared<Held>(Held{std::move(q), spec});
  Matrix m = borrowed_packed(holder->q.view(holder->spec), cols);
  m.owner = std::shared_ptr<const void>(holder, holder.get());
  return m;
}

Matrix Matrix::borrowed_packed(const formats::QuantizedView& q, std::int64_t cols, std::shared_ptr<const void> keep_alive) {
  formats::check_parts(q);
  if (cols <= 0 || cols > q.cols || formats::padded_cols(*q.spec, cols) != q.cols)
    fail("{}: a packed matrix of {} columns cannot hold rows of {} (they pad to {})", q.spec->name, q.cols, cols,
         formats::padded_cols(*q.spec, cols));
  Matrix m;
  m.type = ElemType::Packed;
  m.data = q.data.data();
  m.rows = q.rows;
  m.cols = cols;
  m.packed = q;
  m.owner = std::move(keep_alive);
  if (interleaved_bytes(m) > 0) m.interleaved = std::make_shared<InterleavedRows>();  // filled at first use
  return m;
}

Matrix Matrix::owned_f32(std::vector<float> values, std::int64_t rows, std::int64_t cols) {
  auto holder = std::make_shared<std::vector<float>>(std::move(values));
  Matrix m;
  m.type = ElemType::F32;
  m.data = holder->data();
  m.rows = rows;
  m.cols = cols;
  m.owner = std::shared_ptr<const void>(holder, holder->data());
  return m;
}

namespace {

// Many rows of X: one BLAS call using every thread, BLAS partitioning the product in two
// dimensions itself (the pool is idle meanwhile, so the cores are not oversubscribed).
// Half-precision weights are widened by the pool a slab at a time into a scratch buffer first.
void matmul_batched(const float* X, std::int64_t M, const Matrix& W, float* Y) {
  const std::int64_t N = W.rows, K = W.cols;
  const int threads = thread_count();
  if (W.type == ElemType::F32) {
    set_blas_threads(threads);
    sgemm_nt(M, N, K, X, K, W.f32_row(0), K, Y, N);
    set_blas_threads(1);
    return;
  }
  const std::int64_t slab = std::max<std::int64_t>(64, kBatchedSlabBytes / (4 * std::max<std::int64_t>(K, 1)));
  thread_local std::vector<float> scratch;
  for (std::int64_t r0 = 0; r0 < N; r0 += slab) {
    const std::int64_t n = std::min(slab, N - r0);
    scratch.resize(static_cast<std::size_t>(n * K));
    float* buf = scratch.data();  // a thread_local named inside the lambda would be each worker's own
    parallel_for(
        static_cast<std::size_t>(n),
        [&](std::size_t b, std::size_t e) {
          W.rows_to_f32(r0 + static_cast<std::int64_t>(b), static_cast<std::int64_t>(e - b), buf + b * K);
        },
        16);
    set_blas_threads(threads);
    sgemm_nt(M, n, K, X, K, buf, K, Y + r0, N);
    set_blas_threads(1);
  }
}

// One row of X against half or packed weights: the row-dot kernels read the stored bytes, each pool
// worker a band of rows. X as the caller gives it: W.round_input is applied here (or, for a ggml
// type's integer kernel, is the quantization to its int8 blocks). An integer kernel's activations are
// quantized once, before the workers start. False when no kernel serves W on this CPU, or X holds a
// NaN or infinity an integer kernel cannot take (the caller widens slabs instead).
bool matmul_row_dot(const float* X, const Matrix& W, float* Y) {
  const kernels::RowDotSet* set = row_dot_set();
  if (!set) return false;
  std::optional<BoundRowDot> b = bind_row_dot(W, *set);
  if (!b) return false;
  const std::int64_t cols = b->args.cols;
  const bool round_first = W.round_input && (b->activations == kernels::ActivationBlocks::Float || b->native);
  thread_local std::vector<float> x;
  if (cols != W.cols || round_first) {  // rows padded to whole blocks: the activations get zeros there too
    x.assign(static_cast<std::size_t>(cols), 0.0f);
    std::copy_n(X, W.cols, x.begin());
    if (round_first) W.round_input(x.data(), 1, W.cols);
    X = x.data();
  }
  thread_local QuantizedActivations xq;
  if (b->activations == kernels::ActivationBlocks::Float) {
    b->args.x = X;
  } else {
    if (!quantize_activations(X, cols, b->activations, xq)) return false;
    b->args.xq = xq.q.data();
    b->args.xd = xq.d.data();
    b->args.xs = xq.s.data();
  }
  const BoundRowDot bound = *b;
  const auto threads = static_cast<std::size_t>(thread_count());
  // Bands of whole row groups (an interleaved copy's kernel takes its rows eight at a time).
  const auto group = static_cast<std::size_t>(bound.row_group);
  const auto N = static_cast<std::size_t>(W.rows) / group;
  const auto grain = std::max({std::size_t{16} / group, (N + threads - 1) / threads,
                               grain_for_work(static_cast<double>(W.cols * bound.row_group))});
  parallel_for(
      N,
      [&](std::size_t b0, std::size_t e0) {
        bound.fn(bound.args, static_cast<std::int64_t>(b0 * group), static_cast<std::int64_t>((e0 - b0) * group),
                 Y + b0 * group);
      },
      grain);
  return true;
}

kernels::Bf16Gemm native_bf16_gemm() {
  const CpuFeatures& f = cpu_features();
  if (f.avx512_bf16 && kernels::avx512::kBf16Gemm) return kernels::avx512::kBf16Gemm;
  if (f.neon_bf16 && kernels::neon::kBf16Gemm) return kernels::neon::kBf16Gemm;
  return nullptr;
}

// Several rows of X against bf16 weights with the CPU's bf16 dot products (ProductMath::Native):
// X rounded to bf16 once, then each pool worker takes a contiguous share of the weight rows.
// False when the CPU has no such instruction or K is not whole vectors of pairs.
bool matmul_bf16_native(const float* X, std::int64_t M, const Matrix& W, float* Y) {
  const kernels::Bf16Gemm gemm = native_bf16_gemm();
  const std::int64_t N = W.rows, K = W.cols;
  if (!gemm || K % kernels::kBf16GemmK != 0) return false;
  thread_local std::vector<std::uint16_t> rounded;
  rounded.resize(static_cast<std::size_t>(M * K));
  std::uint16_t* xb = rounded.data();  // the caller's buffer, named outside the workers' lambdas
  parallel_for(
      static_cast<std::size_t>(M * K),
      [&](std::size_t b, std::size_t e) {
        for (std::size_t i = b; i < e; ++i) xb[i] = formats::f32_to_bf16(X[i]);
      },
      std::size_t{1} << 16);
  const auto* w = static_cast<const std::uint16_t*>(W.data);
  const auto threads = static_cast<std::size_t>(thread_count());
  parallel_for(
      static_cast<std::size_t>(N),
      [&](std::size_t b, std::size_t e) {
        gemm(xb, M, w, static_cast<std::int64_t>(b), static_cast<std::int64_t>(e), K, Y, N);
      },
      std::max<std::size_t>(6, (static_cast<std::size_t>(N) + threads - 1) / threads));
  return true;
}

// Few rows: memory-bound; each pool worker streams its own band of weight rows, widening them a
// slab at a time, with BLAS single-threaded inside the worker.
void matmul_banded(const float* X, std::int64_t M, const Matrix& W, float* Y) {
  const std::int64_t N = W.rows, K = W.cols;
  const std::int64_t half_slab = std::max<std::int64_t>(16, kSlabBytes / (4 * std::max<std::int64_t>(K, 1)));
  const auto threads = static_cast<std::int64_t>(thread_count());
  // One band per thread, but no band so small that handing it over costs more than computing it.
  const auto grain = std::max({static_cast<std::size_t>(16), static_cast<std::size_t>((N + threads - 1) / threads),
                               grain_for_work(static_cast<double>(M) * static_cast<double>(K))});
  parallel_for(
      static_cast<std::size_t>(N),
      [&](std::size_t b, std::size_t e) {
        thread_local std::vector<float> buf;
        const std::int64_t slab = W.type == ElemType::F32 ? static_cast<std::int64_t>(e - b) : half_slab;
        for (std::int64_t r0 = static_cast<std::int64_t>(b); r0 < static_cast<std::int64_t>(e); r0 += slab) {
          const float* w = W.f32_row(r0);
          const std::int64_t n = std::min<std::int64_t>(slab, static_cast<std::int64_t>(e) - r0);
          if (!w) {
            buf.resize(static_cast<std::size_t>(n * K));
            W.rows_to_f32(r0, n, buf.data());
            w = buf.data();
          }
          if (M == 1) {
            sgemv_n(n, K, w, K, X, Y + r0);
          } else {
            sgemm_nt(M, n, K, X, K, w, K, Y + r0, N);
          }
        }
      },
      grain);
}

}  // namespace

void matmul(const float* X, std::int64_t M, const Matrix& W, float* Y) {
  ensure_blas_single_threaded();
  // bf16 weights under Native, decoding too: the CPU's bf16 dot products on X rounded to bf16, as llama.cpp's
  // vec_dot for a bf16 model (its rounding is the bf16 round_input such a matrix may carry).
  if (M == 1 && W.type == ElemType::BF16 && W.math == ProductMath::Native && matmul_bf16_native(X, 1, W, Y)) return;
  // One row of X against half or packed weights: the row-dot kernels (which round X themselves).
  if (M == 1 && W.math != ProductMath::Exact && W.type != ElemType::F32 && matmul_row_dot(X, W, Y)) return;
  if (W.round_input) {
    thread_local std::vector<float> rounded;
    rounded.assign(X, X + M * W.cols);
    W.round_input(rounded.data(), M, W.cols);
    X = rounded.data();
  }
  const double work = static_cast<double>(M) * static_cast<double>(W.rows) * static_cast<double>(W.cols);
  if (M > 1 && W.type == ElemType::BF16 && W.math == ProductMath::Native && matmul_bf16_native(X, M, W, Y)) return;
  if (M >= kBatchedMinRows && thread_count() > 1 && work >= kBatchedMinWork) {
    matmul_batched(X, M, W, Y);
  } else {
    matmul_banded(X, M, W, Y);
  }
}

}  // namespace qlab::tensor
