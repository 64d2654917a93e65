// The CUDA backend (backend.h): host code that enqueues kernels and cuBLAS calls on the context's
// stream, and the device workspaces they use.
#include "engine/cuda/backend.h"

#include <cuda_bf16.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "engine/core/error.h"
#include "engine/cuda/check.h"
#include "engine/cuda/context.h"
#include "engine/cuda/gptq_solver.h"
#include "engine/cuda/kernels.h"
#include "engine/cuda/op_profile.h"
#include "engine/cuda/weights.h"

namespace qlab::cuda {

namespace {

using model::KVCache;
using model::Pass;

// Scratch for widened or dequantized weight rows before a product: bounded, so a 128k-row lm_head
// goes through in slabs rather than as a float32 copy of itself.
constexpr std::int64_t kSlabBytes = 256LL << 20;

struct CudaKV final : model::KVStorage {
  Buffer buf;  // per slot: keys [capacity, kv_dim], then values [capacity, kv_dim]
  std::int64_t capacity = 0, kv_dim = 0;
  float* k(int slot) const { return buf.as<float>() + static_cast<std::int64_t>(slot) * 2 * capacity * kv_dim; }
  float* v(int slot) const { return k(slot) + capacity * kv_dim; }
};

CudaKV& kv(KVCache& c) { return static_cast<CudaKV&>(c.storage()); }

// A device buffer that grows to the largest size asked of it.
class Scratch {
 public:
  explicit Scratch(const char* what) : what_(what) {}
  void* get(std::size_t bytes, WeightCache& weights) {
    if (bytes > buf_.bytes()) {
      check(cudaStreamSynchronize(Context::get().stream()), what_);  // queued kernels may still use it
      buf_ = Buffer();
      buf_ = weights.alloc(bytes + bytes / 4, what_);
    }
    return buf_.get();
  }
  template <typename T>
  T* get(std::int64_t n, WeightCache& weights) {
    return static_cast<T*>(get(static_cast<std::size_t>(n) * sizeof(T), weights));
  }

 private:
  const char* what_;
  Buffer buf_;
};

struct CudaPass : Pass {
  bool same_start = true;
  std::int64_t max_pos0 = 0;
  const float* cs = nullptr;             // [n_pos, hd/2]
  const float* sn = nullptr;
  const float* const* k_ptrs = nullptr;  // [layers][B]: sequence b's keys of layer l
  const float* const* v_ptrs = nullptr;
  const std::int64_t* pos0 = nullptr;    // [B]
  float* k_stage = nullptr;              // [R, kv_dim] (several sequences)
  float* v_stage = nullptr;
};

// What both math modes share: one copy of the weights, the workspaces, the pass.
class DeviceState {
 public:
  Context& ctx = Context::get();
  WeightCache weights;
  CudaPass pass;
  Scratch acts{"the pass's activations"}, tables{"the pass's position tables"}, ids{"the token ids"},
      slab{"a slab of widened weights"}, x16{"bf16 activations"}, attn{"the attention workspace"},
      logits{"the logits"}, reduce{"per-token results"};
  // Matrix-vector products waiting to go out together (they share x): see CudaBackend::matmul.
  kernels::GemvBatch pending;
  WeightType pending_type = WeightType::F32;
  const float* pending_x = nullptr;
  std::int64_t pending_K = 0;
  int pending_M = 0;
  // Host copies of what begin_pass uploads (kept until the next pass: the copies read them).
  std::vector<float> cs, sn;
  std::vector<const float*> ptrs;
  std::vector<std::int64_t> pos0;
  OpProfile profile;  // QLAB_CUDA_PROFILE=1: GPU time per operation, printed at exit
  // The input whose bf16 rounding x16 holds (x16_n values), shared by the backends of both math
  // modes as the buffers are.
  const float* x16_of = nullptr;
  std::int64_t x16_n = 0;
};

DeviceState& state() {
  static DeviceState s;
  return s;
}

class CudaBackend final : public model::Backend {
 public:
  explicit CudaBackend(model::GpuMath math) : math_(math), st_(state()) {}
  const char* name() const override { return math_ == model::GpuMath::BF16 ? "cuda-bf16" : "cuda"; }

  // ---- memory ------------------------------------------------------------------------------------
  std::unique_ptr<model::KVStorage> new_kv_storage(const io::ModelConfig& c, int layers, std::int64_t capacity) override {
    flush();
    auto s = std::make_unique<CudaKV>();
    s->capacity = capacity;
    s->kv_dim = static_cast<std::int64_t>(c.num_key_value_heads) * c.head_dim;
    const auto bytes = static_cast<std::size_t>(layers) * 2 * static_cast<std::size_t>(capacity * s->kv_dim) * 4;
    while (!Buffer::try_make(bytes, "the KV cache", s->buf))
      if (!st_.weights.evict_for(bytes)) s->buf = Buffer(bytes, "the KV cache");
    return s;
  }

  Pass& begin_pass(const model::Model& m, std::span<KVCache* const> caches, std::int64_t T) override {
    flush();
    mark("begin_pass (tables)");
    const io::ModelConfig& c = m.config();
    const std::int64_t B = static_cast<std::int64_t>(caches.size()), R = B * T;
    const std::int64_t H = c.hidden_size, I = c.intermediate_size, half = c.head_dim / 2;
    const std::int64_t q_dim = static_cast<std::int64_t>(c.num_attention_heads) * c.head_dim;
    const std::int64_t kv_dim = static_cast<std::int64_t>(c.num_key_value_heads) * c.head_dim;
    const int layers = c.num_hidden_layers;
    cudaStream_t s = st_.ctx.stream();
    CudaPass& p = st_.pass;
    p.model = &m;
    p.caches = caches;
    p.B = B;
    p.T = T;
    p.R = R;
    // Activations, one allocation: x, h [R, H]; q, att [R, q_dim]; gate, up [R, I]; k, v staging.
    const std::int64_t stage = B > 1 ? R * kv_dim : 0;
    float* a = st_.acts.get<float>(2 * R * H + 2 * R * q_dim + 2 * R * I + 2 * stage, st_.weights);
    p.x = a;
    p.h = p.x + R * H;
    p.q = p.h + R * H;
    p.att = p.q + R * q_dim;
    p.gate = p.att + R * q_dim;
    p.up = p.gate + R * I;
    p.k_stage = B > 1 ? p.up + R * I : nullptr;
    p.v_stage = B > 1 ? p.k_stage + stage : nullptr;
    // RoPE angles of each distinct position, by the CPU's Rope (the same floats): rows of sequences
    // that start alike share table row r % T.
    p.same_start = true;
    p.max_pos0 = 0;
    for (KVCache* cache : caches) {
      p.same_start = p.same_start && cache->size() == caches[0]->size();
      p.max_pos0 = std::max(p.max_pos0, cache->size());
    }
    const std::int64_t n_pos = p.same_start ? T : R;
    st_.cs.resize(static_cast<std::size_t>(n_pos * half));
    st_.sn.resize(st_.cs.size());
    for (std::int64_t r = 0; r < n_pos; ++r)
      m.rope().cos_sin(caches[static_cast<std::size_t>(r / T)]->size() + r % T, st_.cs.data() + r * half,
                       st_.sn.data() + r * half);
    // Each sequence's keys and values of every layer, and its first position.
    st_.ptrs.resize(static_cast<std::size_t>(2 * layers * B));
    st_.pos0.resize(static_cast<std::size_t>(B));
    for (int l = 0; l < layers; ++l)
      for (std::int64_t b = 0; b < B; ++b) {
        KVCache& cache = *caches[static_cast<std::size_t>(b)];
        const int slot = cache.slot(l);
        st_.ptrs[static_cast<std::size_t>(l * B + b)] = kv(cache).k(slot);
        st_.ptrs[static_cast<std::size_t>((layers + l) * B + b)] = kv(cache).v(slot);
      }
    for (std::int64_t b = 0; b < B; ++b) st_.pos0[static_cast<std::size_t>(b)] = caches[static_cast<std::size_t>(b)]->size();
    const std::size_t angle_bytes = st_.cs.size() * 4, ptr_bytes = st_.ptrs.size() * sizeof(float*);
    auto* t = static_cast<std::uint8_t*>(st_.tables.get(2 * angle_bytes + ptr_bytes + st_.pos0.size() * 8 + 64, st_.weights));
    auto* ptrs = reinterpret_cast<const float**>(t);
    auto* pos0 = reinterpret_cast<std::int64_t*>(t + ptr_bytes);
    auto* cs = reinterpret_cast<float*>(t + ptr_bytes + st_.pos0.size() * 8);
    auto* sn = cs + st_.cs.size();
    check(cudaMemcpyAsync(ptrs, st_.ptrs.data(), ptr_bytes, cudaMemcpyHostToDevice, s), "copying the KV pointers");
    check(cudaMemcpyAsync(pos0, st_.pos0.data(), st_.pos0.size() * 8, cudaMemcpyHostToDevice, s), "copying positions");
    check(cudaMemcpyAsync(cs, st_.cs.data(), angle_bytes, cudaMemcpyHostToDevice, s), "copying RoPE angles");
    check(cudaMemcpyAsync(sn, st_.sn.data(), angle_bytes, cudaMemcpyHostToDevice, s), "copying RoPE angles");
    p.k_ptrs = ptrs;
    p.v_ptrs = ptrs + layers * B;
    p.pos0 = pos0;
    p.cs = cs;
    p.sn = sn;
    return p;
  }

  // Enough sequences to give the products a few thousand rows.
  std::int64_t sequences_per_batch(const io::ModelConfig&, std::int64_t T) const override {
    return std::clamp<std::int64_t>(8192 / std::max<std::int64_t>(T, 1), 1, 64);
  }

  bool host_memory() const override { return false; }
  void upload(const float* host, std::int64_t n, float* dst) override {
    flush();
    mark("upload");
    check(cudaMemcpyAsync(dst, host, static_cast<std::size_t>(n) * 4, cudaMemcpyHostToDevice, st_.ctx.stream()),
          "copying to the GPU");
  }
  void download(const float* src, std::int64_t n, float* host) override {
    flush();
    mark("download");
    check(cudaMemcpyAsync(host, src, static_cast<std::size_t>(n) * 4, cudaMemcpyDeviceToHost, st_.ctx.stream()),
          "copying from the GPU");
    st_.ctx.sync("copying from the GPU");
    st_.profile.settle();
  }
  std::shared_ptr<float> alloc(std::int64_t n) override {
    flush();
    auto b = std::make_shared<Buffer>();
    const auto bytes = static_cast<std::size_t>(n) * 4;
    while (!Buffer::try_make(bytes, "a logits buffer", *b))
      if (!st_.weights.evict_for(bytes)) *b = Buffer(bytes, "a logits buffer");
    return std::shared_ptr<float>(b, b->as<float>());
  }
  float* logits_buffer(std::int64_t n) override {
    flush();
    return st_.logits.get<float>(n, st_.weights);
  }

  // ---- operations ----------------------------------------------------------------------------------
  void embed(const tensor::Matrix& table, std::span<const std::int32_t> tokens, float* x) override {
    flush();
    mark("embed");
    st_.weights.begin_op();
    mark_weights();
    const DeviceWeight w = st_.weights.get(table);
    auto* ids = st_.ids.get<std::int32_t>(static_cast<std::int64_t>(tokens.size()), st_.weights);
    check(cudaMemcpyAsync(ids, tokens.data(), tokens.size() * 4, cudaMemcpyHostToDevice, st_.ctx.stream()),
          "copying the token ids");
    kernels::rows_to_f32(w, st_.ctx.tables(), ids, 0, static_cast<std::int64_t>(tokens.size()), x, st_.ctx.stream());
  }

  void rmsnorm(const float* x, std::span<const float> w, float eps, std::int64_t rows, std::int64_t n,
               float* out) override {
    flush();
    mark("rmsnorm");
    kernels::rmsnorm(x, st_.weights.vec(w), eps, rows, n, out, st_.ctx.stream());
  }

  // Decoding's products of one input (q, k, v; gate, up) are held back and go out as one launch
  // when the next operation of any other kind comes (every other entry point flushes first); their
  // weights stay protected from eviction meanwhile (the weight cache's operation starts at the first).
  void matmul(const float* x, std::int64_t rows, const tensor::Matrix& wm, float* y) override {
    if (rows <= 0) return;
    const bool small = rows <= kernels::kGemvMaxRows;
    if (small) st_.x16_of = nullptr;  // its output is written later, when the batch goes out
    DeviceState& st = st_;
    if (!(small && st.pending.count > 0 && st.pending_x == x && st.pending_M == rows &&
          st.pending.count < kernels::kGemvMaxParts))
      launch_pending();
    if (st.pending.count == 0) st.weights.begin_op();
    mark_weights();
    const DeviceWeight w = st.weights.get(wm);
    const std::int64_t N = w.rows, K = w.cols;
    cudaStream_t s = st_.ctx.stream();
    const std::int64_t slab = std::max<std::int64_t>(1, kSlabBytes / (4 * std::max<std::int64_t>(K, 1)));
    if (small) {
      const int M = static_cast<int>(rows);
      if (w.type != WeightType::Packed) {
        if (st.pending.count > 0 && (st.pending_type != w.type || st.pending_K != K)) launch_pending();
        mark(matmul_label(small, w.type));
        kernels::GemvBatch& b = st.pending;
        if (b.count == 0) {
          st.pending_x = x;
          st.pending_M = M;
          st.pending_K = K;
          st.pending_type = w.type;
          b.start[0] = 0;
        }
        b.w[b.count] = w.data;
        b.y[b.count] = y;
        b.ldy[b.count] = N;
        b.start[b.count + 1] = b.start[b.count] + N;
        ++b.count;
        return;
      }
      launch_pending();
      mark(matmul_label(small, w.type));
      // Packed weights are read in place and dequantized in registers (gemv_packed.cu): 4 bits
      // read per weight instead of a float32 slab written and read back.
      kernels::gemv_packed(w, st_.ctx.tables(), x, M, y, N, s);
      return;
    }
    mark(matmul_label(small, w.type));
    if (math_ == model::GpuMath::F32) {
      if (w.type == WeightType::F32) {
        gemm(w.data, CUDA_R_32F, N, K, x, CUDA_R_32F, rows, y, N);
        return;
      }
      float* buf = st_.slab.get<float>(std::min(slab, N) * K, st_.weights);
      for (std::int64_t r0 = 0; r0 < N; r0 += slab) {
        const std::int64_t n = std::min(slab, N - r0);
        kernels::rows_to_f32(w, st_.ctx.tables(), nullptr, r0, n, buf, s);
        gemm(buf, CUDA_R_32F, n, K, x, CUDA_R_32F, rows, y + r0, N);
      }
      return;
    }
    // bf16 math: the activations rounded to bfloat16 once, the weights as stored when bf16.
    // q, k and v (gate and up) read the same x: it is rounded once for all of them.
    auto* xb = st_.x16.get<__nv_bfloat16>(rows * K, st_.weights);
    if (st_.x16_of != x || st_.x16_n != rows * K) {
      kernels::to_bf16(x, rows * K, xb, s);
      st_.x16_of = x;
      st_.x16_n = rows * K;
    }
    if (y < x + rows * K && x < y + rows * N) st_.x16_of = nullptr;  // the product overwrites its own input
    if (w.type == WeightType::BF16) {
      gemm(w.data, CUDA_R_16BF, N, K, xb, CUDA_R_16BF, rows, y, N);
      return;
    }
    const std::int64_t slab16 = 2 * slab;
    auto* buf = st_.slab.get<__nv_bfloat16>(std::min(slab16, N) * K, st_.weights);
    for (std::int64_t r0 = 0; r0 < N; r0 += slab16) {
      const std::int64_t n = std::min(slab16, N - r0);
      kernels::rows_to_bf16(w, st_.ctx.tables(), nullptr, r0, n, buf, s);
      gemm(buf, CUDA_R_16BF, n, K, xb, CUDA_R_16BF, rows, y + r0, N);
    }
  }

  model::NewKV new_kv(Pass& p, int layer) override {
    flush();
    auto& cp = static_cast<CudaPass&>(p);
    if (p.B > 1) return {cp.k_stage, cp.v_stage};
    // One sequence: straight into its cache rows (RoPE then rotates the keys in place).
    KVCache& cache = *p.caches[0];
    const std::int64_t at = cache.size() * kv(cache).kv_dim;
    return {kv(cache).k(cache.slot(layer)) + at, kv(cache).v(cache.slot(layer)) + at};
  }

  void bias_rope(Pass& p, const model::LayerWeights& lw, model::NewKV nkv) override {
    flush();
    mark("bias_rope");
    const io::ModelConfig& c = p.model->config();
    const auto& cp = static_cast<const CudaPass&>(p);
    kernels::RopeArgs a;
    a.q = p.q;
    a.k = nkv.k;
    a.v = nkv.v;
    a.bq = st_.weights.vec(lw.bq);
    a.bk = st_.weights.vec(lw.bk);
    a.bv = st_.weights.vec(lw.bv);
    a.cs = cp.cs;
    a.sn = cp.sn;
    a.rows = p.R;
    a.T = p.T;
    a.same_start = cp.same_start;
    a.nh = c.num_attention_heads;
    a.nkv = c.num_key_value_heads;
    a.hd = c.head_dim;
    kernels::bias_rope(a, st_.ctx.stream());
  }

  void store_kv(Pass& p, int layer, model::NewKV nkv) override {
    flush();
    mark("store_kv");
    if (p.B == 1) return;  // written in place (new_kv)
    cudaStream_t s = st_.ctx.stream();
    for (std::int64_t b = 0; b < p.B; ++b) {
      KVCache& cache = *p.caches[static_cast<std::size_t>(b)];
      const std::int64_t kvd = kv(cache).kv_dim, at = cache.size() * kvd, n = p.T * kvd;
      const int slot = cache.slot(layer);
      check(cudaMemcpyAsync(kv(cache).k(slot) + at, nkv.k + b * n, static_cast<std::size_t>(n) * 4,
                            cudaMemcpyDeviceToDevice, s),
            "storing keys in the KV cache");
      check(cudaMemcpyAsync(kv(cache).v(slot) + at, nkv.v + b * n, static_cast<std::size_t>(n) * 4,
                            cudaMemcpyDeviceToDevice, s),
            "storing values in the KV cache");
    }
  }

  void attention(Pass& p, int layer) override {
    flush();
    mark("attention");
    const io::ModelConfig& c = p.model->config();
    const auto& cp = static_cast<const CudaPass&>(p);
    kernels::AttentionArgs a;
    a.q = p.q;
    a.out = p.att;
    a.k = cp.k_ptrs + static_cast<std::int64_t>(layer) * p.B;
    a.v = cp.v_ptrs + static_cast<std::int64_t>(layer) * p.B;
    a.pos0 = cp.pos0;
    a.B = static_cast<int>(p.B);
    a.T = static_cast<int>(p.T);
    a.nh = c.num_attention_heads;
    a.nkv = c.num_key_value_heads;
    a.hd = c.head_dim;
    a.scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));
    a.max_pos0 = cp.max_pos0;
    const DeviceInfo& d = st_.ctx.info();
    const std::int64_t ws = kernels::attention_workspace_floats(a, d.sm_count);
    a.workspace = ws > 0 ? st_.attn.get<float>(ws, st_.weights) : nullptr;
    kernels::attention(a, d.sm_count, d.max_smem_per_block, st_.ctx.stream());
  }

  void residual_rmsnorm(float* x, const float* h, std::span<const float> w, float eps, std::int64_t rows,
                        std::int64_t n, float* out) override {
    flush();
    mark("residual_rmsnorm");
    kernels::residual_rmsnorm(x, h, st_.weights.vec(w), eps, rows, n, out, st_.ctx.stream());
  }

  void swiglu(float* gate, const float* up, std::int64_t rows, std::int64_t n) override {
    flush();
    mark("swiglu");
    if (math_ == model::GpuMath::BF16 && rows > kernels::kGemvMaxRows) {
      // down_proj's GEMM reads its input in bf16: written here in the same pass over the values, so
      // matmul finds it rounded already (st_.x16_of) instead of reading the float32 result again.
      auto* g16 = st_.x16.get<__nv_bfloat16>(rows * n, st_.weights);
      kernels::swiglu(gate, up, rows * n, st_.ctx.stream(), g16);
      st_.x16_of = gate;
      st_.x16_n = rows * n;
      return;
    }
    kernels::swiglu(gate, up, rows * n, st_.ctx.stream());
  }

  void residual_add(float* x, const float* h, std::int64_t rows, std::int64_t n) override {
    flush();
    mark("residual_add");
    kernels::residual_add(x, h, rows * n, st_.ctx.stream());
  }

  // Row-major g's upper triangle is column-major's lower: C (cols x cols) = A A^T for A = x read
  // column-major (cols x rows). Float32 operands and sums (the handle's default math: no TF32).
  void accumulate_gram(const float* x, std::int64_t rows, std::int64_t cols, float* g, bool accumulate) override {
    flush();
    mark("accumulate_gram");
    const float one = 1.0f, beta = accumulate ? 1.0f : 0.0f;
    if (rows <= 0) {
      if (!accumulate) check(cudaMemsetAsync(g, 0, static_cast<std::size_t>(cols * cols) * 4, st_.ctx.stream()), "clearing X^T X");
      return;
    }
    check(cublasSsyrk(st_.ctx.cublas(), CUBLAS_FILL_MODE_LOWER, CUBLAS_OP_N, static_cast<int>(cols),
                      static_cast<int>(rows), &one, x, static_cast<int>(cols), &beta, g, static_cast<int>(cols)),
          "accumulating X^T X");
  }

  std::unique_ptr<model::GptqSolver> gptq_solver() override {
    flush();
    return new_gptq_solver(st_.weights);
  }

  void nll(const float* logits, std::int64_t rows, std::int64_t vocab, const std::int32_t* targets,
           double* out) override {
    flush();
    mark("nll");
    if (rows <= 0) return;
    cudaStream_t s = st_.ctx.stream();
    auto* buf = static_cast<std::uint8_t*>(st_.reduce.get(static_cast<std::size_t>(rows) * 12 + 16, st_.weights));
    auto* dout = reinterpret_cast<double*>(buf);
    auto* tg = reinterpret_cast<std::int32_t*>(buf + rows * 8);
    check(cudaMemcpyAsync(tg, targets, static_cast<std::size_t>(rows) * 4, cudaMemcpyHostToDevice, s),
          "copying the targets");
    kernels::nll(logits, rows, vocab, tg, dout, s);
    check(cudaMemcpyAsync(out, dout, static_cast<std::size_t>(rows) * 8, cudaMemcpyDeviceToHost, s),
          "copying the NLLs");
    st_.ctx.sync("computing the NLLs");
    st_.profile.settle();
  }

  void kl_rows(const float* base, const float* test, std::int64_t rows, std::int64_t vocab,
               const std::int32_t* targets, model::TokenKL* out) override {
    flush();
    mark("kl_rows");
    if (rows <= 0) return;
    cudaStream_t s = st_.ctx.stream();
    const std::size_t row_bytes = sizeof(kernels::KLRow);
    auto* buf = static_cast<std::uint8_t*>(st_.reduce.get(static_cast<std::size_t>(rows) * (row_bytes + 4) + 16, st_.weights));
    auto* dout = reinterpret_cast<kernels::KLRow*>(buf);
    auto* tg = reinterpret_cast<std::int32_t*>(buf + rows * row_bytes);
    check(cudaMemcpyAsync(tg, targets, static_cast<std::size_t>(rows) * 4, cudaMemcpyHostToDevice, s),
          "copying the targets");
    kernels::kl_rows(base, test, rows, vocab, tg, dout, s);
    std::vector<kernels::KLRow> host(static_cast<std::size_t>(rows));
    check(cudaMemcpyAsync(host.data(), dout, host.size() * row_bytes, cudaMemcpyDeviceToHost, s),
          "copying the KL-divergences");
    st_.ctx.sync("computing the KL-divergences");
    st_.profile.settle();
    for (std::size_t i = 0; i < host.size(); ++i)
      out[i] = {host[i].kld, host[i].nll_base, host[i].nll_test, host[i].delta_p, host[i].same_top != 0};
  }

 private:
  void mark(const char* label) { st_.profile.mark(label, st_.ctx.stream()); }
  // The weight cache's lookup, and the upload of a weight not yet on the device (the first pass
  // uploads the whole model): its own line, not added to the operation before it.
  void mark_weights() {
    if (st_.profile.on()) mark("weights (lookup, upload)");
  }
  const char* matmul_label(bool small, WeightType t) const {
    // By WeightType: F32, F16, BF16, Packed.
    static constexpr const char* kSmall[] = {"gemv f32", "gemv f16", "gemv bf16", "gemv packed"};
    static constexpr const char* kF32[] = {"gemm f32", "gemm f32 (f16 widened)", "gemm f32 (bf16 widened)",
                                           "gemm f32 (packed widened)"};
    static constexpr const char* kBF16[] = {"gemm bf16 (f32 narrowed)", "gemm bf16 (f16 narrowed)", "gemm bf16",
                                            "gemm bf16 (packed widened)"};
    const auto i = static_cast<int>(t);
    return small ? kSmall[i] : math_ == model::GpuMath::F32 ? kF32[i] : kBF16[i];
  }
  // Every operation but matmul starts here: it may write any buffer, so the bf16 copy of a
  // product's input no longer stands for it.
  void flush() {
    st_.x16_of = nullptr;
    launch_pending();
  }
  // Launches the held-back matrix-vector products.
  void launch_pending() {
    kernels::GemvBatch& b = st_.pending;
    if (b.count == 0) return;
    const kernels::GemvBatch out = b;
    b = kernels::GemvBatch{};
    kernels::gemv(out, st_.pending_type, st_.pending_K, st_.pending_x, st_.pending_M, st_.ctx.stream());
  }

  // y[rows, n] (row stride ldy) = x[rows, K] w[n, K]^T: column-major, C (n x rows) = W^T' (n x K) x X' (K x rows).
  void gemm(const void* w, cudaDataType wt, std::int64_t n, std::int64_t K, const void* x, cudaDataType xt,
            std::int64_t rows, float* y, std::int64_t ldy) {
    const float one = 1.0f, zero = 0.0f;
    check(cublasGemmEx(st_.ctx.cublas(), CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(n), static_cast<int>(rows),
                       static_cast<int>(K), &one, w, wt, static_cast<int>(K), x, xt, static_cast<int>(K), &zero, y,
                       CUDA_R_32F, static_cast<int>(ldy), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
          "a matrix product");
  }

  model::GpuMath math_;
  DeviceState& st_;
};

}  // namespace

model::Backend& backend(model::GpuMath math) {
  if (math == model::GpuMath::BF16) {
    static CudaBackend b(model::GpuMath::BF16);
    return b;
  }
  static CudaBackend f(model::GpuMath::F32);
  return f;
}

WeightStats weight_stats() {
  const WeightCache& w = state().weights;
  return {w.resident_bytes(), w.uploads(), w.in_place_bytes(), w.ring_bytes(), w.streamed_bytes(), w.ring_pinned()};
}

void set_weight_budget(std::uint64_t bytes) { state().weights.set_budget(bytes); }
std::uint64_t weight_budget() { return state().weights.budget(); }

void set_weight_placement(WeightPlacement p) { state().weights.set_placement(p); }
WeightPlacement weight_placement() { return state().weights.placement(); }

}  // namespace qlab::cuda
