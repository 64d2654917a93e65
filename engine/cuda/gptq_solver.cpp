// The CUDA GPTQ solver (gptq_solver.h). Everything is enqueued on the context's stream; the host
// waits only where it needs a number: a factorisation's status and U's diagonal, a group's ranges,
// the results.
#include "engine/cuda/gptq_solver.h"

#include <cusolverDn.h>

#include <cmath>
#include <vector>

#include "engine/core/error.h"
#include "engine/cuda/check.h"
#include "engine/cuda/context.h"
#include "engine/cuda/kernels.h"

namespace qlab::cuda {

namespace {

void check_solver(cusolverStatus_t s, const char* what) {
  if (s == CUSOLVER_STATUS_SUCCESS) return;
  fail("cuSOLVER: {} failed (status {}){}", what, static_cast<int>(s),
       s == CUSOLVER_STATUS_ALLOC_FAILED ? "; the GPU is out of memory: use --device cpu" : "");
}

// One handle for the process, on the context's stream (never destroyed: it may outlive the
// context's static at exit).
cusolverDnHandle_t solver_handle() {
  static cusolverDnHandle_t h = [] {
    cusolverDnHandle_t made = nullptr;
    check_solver(cusolverDnCreate(&made), "starting cuSOLVER");
    check_solver(cusolverDnSetStream(made, Context::get().stream()), "setting cuSOLVER's stream");
    return made;
  }();
  return h;
}

class CudaGptqSolver final : public model::GptqSolver {
 public:
  explicit CudaGptqSolver(WeightCache& weights) : weights_(weights) {}

  void begin(const float* w, std::int64_t rows, std::int64_t cols, std::int64_t block_size,
             std::span<const std::int32_t> slot_of_column, std::int64_t slots) override {
    if (rows < 1 || cols < 1 || block_size < 1 || slots < 1 || static_cast<std::int64_t>(slot_of_column.size()) != cols)
      fail("GPTQ on the GPU: bad shapes ({} x {}, block {}, {} slots)", rows, cols, block_size, slots);
    if (cols > (1LL << 31) / cols) fail("GPTQ on the GPU: {} input columns make a Hessian cuSOLVER cannot index", cols);
    rows_ = rows;
    cols_ = cols;
    const auto R = static_cast<std::size_t>(rows), C = static_cast<std::size_t>(cols), B = static_cast<std::size_t>(std::min(block_size, cols));
    w_ = weights_.alloc(R * C * 4, "GPTQ's weight");
    u_ = weights_.alloc(C * C * 4, "GPTQ's Hessian factor");
    w1_ = weights_.alloc(B * R * 4, "GPTQ's block");
    err_ = weights_.alloc(B * R * 4, "GPTQ's block errors");
    codes1_ = weights_.alloc(B * R, "GPTQ's block codes");
    codes_ = weights_.alloc(R * C, "GPTQ's codes");
    slot_ = weights_.alloc(C * 4, "GPTQ's column slots");
    params_ = weights_.alloc(static_cast<std::size_t>(slots) * R * sizeof(float4), "GPTQ's group parameters");
    small_ = weights_.alloc(R * 12 + 64, "GPTQ's ranges");
    cudaStream_t s = Context::get().stream();
    check(cudaMemcpyAsync(w_.get(), w, R * C * 4, cudaMemcpyHostToDevice, s), "copying W to the GPU");
    check(cudaMemcpyAsync(slot_.get(), slot_of_column.data(), C * 4, cudaMemcpyHostToDevice, s),
          "copying GPTQ's column slots");
    check(cudaMemsetAsync(loss(), 0, sizeof(double), s), "clearing GPTQ's loss");
  }

  bool factor(const float* h, float add) override {
    cudaStream_t s = Context::get().stream();
    const auto C = static_cast<std::size_t>(cols_);
    const int n = static_cast<int>(cols_);
    float* u = u_.as<float>();
    check(cudaMemcpyAsync(u, h, C * C * 4, cudaMemcpyHostToDevice, s), "copying the Hessian to the GPU");
    kernels::add_diagonal(u, cols_, add, s);
    cusolverDnHandle_t hd = solver_handle();
    int lwork = 0, lwork_inv = 0;
    check_solver(cusolverDnSpotrf_bufferSize(hd, CUBLAS_FILL_MODE_LOWER, n, u, n, &lwork), "sizing the Cholesky workspace");
    check_solver(cusolverDnSpotri_bufferSize(hd, CUBLAS_FILL_MODE_LOWER, n, u, n, &lwork_inv), "sizing the inverse's workspace");
    const auto need = static_cast<std::size_t>(std::max(lwork, lwork_inv)) * 4;
    if (need > work_.bytes()) {
      work_ = Buffer();
      work_ = weights_.alloc(need, "cuSOLVER's workspace");
    }
    int* info = info_ptr();
    float* work = work_.as<float>();
    const int ws = static_cast<int>(need / 4);
    // H = L L^T; H^-1 from L; H^-1 = L2 L2^T. L2 column-major is U row-major (upper).
    check_solver(cusolverDnSpotrf(hd, CUBLAS_FILL_MODE_LOWER, n, u, n, work, ws, info), "the Cholesky factorisation");
    if (!info_ok()) return false;
    check_solver(cusolverDnSpotri(hd, CUBLAS_FILL_MODE_LOWER, n, u, n, work, ws, info), "inverting the Hessian");
    if (!info_ok()) return false;
    check_solver(cusolverDnSpotrf(hd, CUBLAS_FILL_MODE_LOWER, n, u, n, work, ws, info), "the inverse's Cholesky factorisation");
    if (!info_ok()) return false;
    std::vector<float> diag(C);
    check(cudaMemcpy2DAsync(diag.data(), 4, u, (C + 1) * 4, 4, C, cudaMemcpyDeviceToHost, s), "copying U's diagonal");
    Context::get().sync("GPTQ's factorisations");
    for (float d : diag)
      if (!std::isfinite(d) || d <= 0.0f) return false;
    return true;
  }

  void ranges(std::int64_t c, std::int64_t n, model::GptqRowRange* out) override {
    cudaStream_t s = Context::get().stream();
    kernels::gptq_ranges(w_.as<float>(), rows_, cols_, c, n, range_ptr(), s);
    static_assert(sizeof(model::GptqRowRange) == 12);
    check(cudaMemcpyAsync(out, range_ptr(), static_cast<std::size_t>(rows_) * 12, cudaMemcpyDeviceToHost, s),
          "copying a group's ranges");
    Context::get().sync("a group's ranges");
  }

  void set_params(std::int64_t slot, const model::GptqRowParams* params) override {
    static_assert(sizeof(model::GptqRowParams) == sizeof(float4));
    const auto R = static_cast<std::size_t>(rows_);
    // Pageable memory: the copy is complete (staged) when the call returns, so `params` may change.
    check(cudaMemcpyAsync(params_.as<float4>() + static_cast<std::size_t>(slot) * R, params, R * sizeof(float4),
                          cudaMemcpyHostToDevice, Context::get().stream()),
          "copying group parameters");
  }

  void block(std::int64_t i1, std::int64_t i2) override {
    cudaStream_t s = Context::get().stream();
    const int count = static_cast<int>(i2 - i1);
    kernels::gptq_gather(w_.as<float>(), rows_, cols_, i1, count, w1_.as<float>(), s);
    kernels::GptqBlockArgs a;
    a.w1 = w1_.as<float>();
    a.err = err_.as<float>();
    a.codes1 = codes1_.as<std::uint8_t>();
    a.u = u_.as<float>();
    a.slot = slot_.as<std::int32_t>();
    a.params = params_.as<float4>();
    a.loss = loss();
    a.rows = rows_;
    a.cols = cols_;
    a.i1 = i1;
    a.count = count;
    kernels::gptq_block(a, s);
    kernels::gptq_scatter(w1_.as<float>(), codes1_.as<std::uint8_t>(), rows_, cols_, i1, count, w_.as<float>(),
                          codes_.as<std::uint8_t>(), s);
    if (i2 >= cols_) return;
    // W[:, i2:] -= Err [rows, count] U[i1:i2, i2:]; column-major: W^T (cols - i2 x rows) -=
    // U^T-block (cols - i2 x count, ld cols) x Err (count x rows: err_ is rows x count column-major).
    const float minus_one = -1.0f, one = 1.0f;
    const float* u = u_.as<float>() + i1 * cols_ + i2;
    check(cublasGemmEx(Context::get().cublas(), CUBLAS_OP_N, CUBLAS_OP_T, static_cast<int>(cols_ - i2),
                       static_cast<int>(rows_), count, &minus_one, u, CUDA_R_32F, static_cast<int>(cols_),
                       err_.as<float>(), CUDA_R_32F, static_cast<int>(rows_), &one, w_.as<float>() + i2, CUDA_R_32F,
                       static_cast<int>(cols_), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
          "GPTQ's block update");
  }

  double finish(std::uint8_t* codes, float* q) override {
    cudaStream_t s = Context::get().stream();
    const auto n = static_cast<std::size_t>(rows_ * cols_);
    double total = 0;
    check(cudaMemcpyAsync(codes, codes_.get(), n, cudaMemcpyDeviceToHost, s), "copying GPTQ's codes");
    check(cudaMemcpyAsync(q, w_.get(), n * 4, cudaMemcpyDeviceToHost, s), "copying GPTQ's weights");
    check(cudaMemcpyAsync(&total, loss(), sizeof(double), cudaMemcpyDeviceToHost, s), "copying GPTQ's loss");
    Context::get().sync("GPTQ's column loop");
    return total;
  }

 private:
  // small_: ranges [rows, 3] floats, then the loss (double) and cuSOLVER's status (int).
  float* range_ptr() const { return small_.as<float>(); }
  double* loss() const {
    const std::size_t at = (static_cast<std::size_t>(rows_) * 12 + 7) / 8 * 8;
    return reinterpret_cast<double*>(small_.as<std::uint8_t>() + at);
  }
  int* info_ptr() const { return reinterpret_cast<int*>(loss() + 1); }
  bool info_ok() {
    int info = 0;
    check(cudaMemcpyAsync(&info, info_ptr(), sizeof(int), cudaMemcpyDeviceToHost, Context::get().stream()),
          "copying cuSOLVER's status");
    Context::get().sync("GPTQ's factorisations");
    return info == 0;
  }

  WeightCache& weights_;
  std::int64_t rows_ = 0, cols_ = 0;
  Buffer w_, u_, w1_, err_, codes1_, codes_, slot_, params_, small_, work_;
};

}  // namespace

std::unique_ptr<model::GptqSolver> new_gptq_solver(WeightCache& weights) {
  return std::make_unique<CudaGptqSolver>(weights);
}

}  // namespace qlab::cuda
