// Decoding's product on one thread: one activation row against a weight matrix as stored (the
// row-dot kernels of engine/tensor/row_dot.h), per storage format, in bytes of weights read per
// second, beside the engine's read-bandwidth measurement on one thread over as many bytes as the
// bf16 matrix (the read ceiling of one core, measured in the same run). The matrix (65536 x 4096,
// 256 Mi weights: 512 MiB as bf16, 128 MiB as 4-bit) is larger than the caches, as a model's Linears
// together are; QLAB_ROW_DOT_ROWS sets another row count (8192 fits a large L3: the kernels' own
// rate without memory). Ratios, not absolute speeds, are what to read:
//   bench_row_dot [--benchmark_filter=...]
// Formats with integer kernels run them as the runtime does, their activation row quantized to int8
// blocks inside each product (timed): ggml's types (a GGUF file's weights, under llama.cpp's
// activation rounding) and, named "<format>_native", qlab's formats under ProductMath::Native. A ggml
// type's matrix repeats the quantized bytes of its first 2048 rows (the k-quant search over the
// whole matrix would take minutes; the kernels' speed does not depend on the values). "<type>_x8" is a
// ggml type, "<format>_x8" one of qlab's (float activations, ProductMath::Fast) or "<format>_native_x8"
// (Native), with its rows interleaved by 8 (engine/tensor/row_interleave.h), as the runtime decodes
// it where the CPU has the kernel (bytes counted as the plain blocks'); without _x8 the row-at-a-time
// kernels. "_threads2": two threads, through tensor::matmul as decoding calls it (ReadCeiling/2 beside).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "engine/bench/ceilings.h"
#include "engine/core/threads.h"
#include "engine/formats/format_lookup.h"
#include "engine/formats/scalar_fast.h"
#include "engine/gguf/ggml_activations.h"
#include "engine/gguf/ggml_codec.h"
#include "engine/gguf/ggml_type.h"
#include "engine/tensor/matrix.h"
#include "engine/tensor/quantize_matrix.h"
#include "engine/tensor/row_dot_activations.h"
#include "engine/tensor/row_dot_table.h"
#include "engine/tensor/row_interleave.h"

namespace {

using namespace qlab;

constexpr std::int64_t kCols = 4096;
const std::int64_t kRows = [] {
  const char* e = std::getenv("QLAB_ROW_DOT_ROWS");
  const long v = e ? std::strtol(e, nullptr, 10) : 0;
  return v >= 64 && v <= (1 << 20) ? static_cast<std::int64_t>(v) : std::int64_t{65536};
}();

std::vector<float> gaussian(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.f, 0.02f);
  std::vector<float> v(n);
  for (auto& e : v) e = d(rng);
  return v;
}

const tensor::Matrix& dense() {
  static const tensor::Matrix m = tensor::Matrix::owned_f32(gaussian(kRows * kCols, 1), kRows, kCols);
  return m;
}

// A ggml type ("ggml-q4_K"): the first rows quantized by qlab's ggml codec, repeated to kRows.
tensor::Matrix ggml_weights(const std::string& format) {
  const auto type = gguf::type_from_name(format.substr(5));
  const formats::BlockFormatSpec& spec = *gguf::ggml_block_spec(*type);
  const std::int64_t tile = std::min<std::int64_t>(kRows, 2048);
  const std::vector<float> all = dense().to_f32();
  const std::vector<float> first(all.begin(), all.begin() + tile * kCols);
  formats::QuantizedTensor q = formats::quantize(spec, first, tile, kCols);
  const std::size_t tile_bytes = q.data.size();
  q.data.resize(tile_bytes * static_cast<std::size_t>(kRows / tile));
  for (std::size_t t = 1; t < static_cast<std::size_t>(kRows / tile); ++t)
    std::copy_n(q.data.begin(), tile_bytes, q.data.begin() + static_cast<std::ptrdiff_t>(t * tile_bytes));
  q.rows = tile * (kRows / tile);
  tensor::Matrix m = tensor::Matrix::owned_packed(std::move(q), spec, kCols);
  m.round_input = gguf::llama_cpp_input_rounding(*type);
  return m;
}

tensor::Matrix stored_weights(const std::string& format) {
  if (format.starts_with("ggml-")) return ggml_weights(format);
  if (format.ends_with("_native")) {
    tensor::Matrix m = stored_weights(format.substr(0, format.size() - 7));
    m.math = tensor::ProductMath::Native;
    return m;
  }
  if (format == "bf16" || format == "f16") {
    const bool brain = format == "bf16";
    auto halves = std::make_shared<std::vector<std::uint16_t>>();
    for (const float v : dense().to_f32()) halves->push_back(brain ? formats::f32_to_bf16(v) : formats::f32_to_f16(v));
    tensor::Matrix m;
    m.type = brain ? tensor::ElemType::BF16 : tensor::ElemType::F16;
    m.data = halves->data();
    m.rows = kRows;
    m.cols = kCols;
    m.owner = halves;
    return m;
  }
  return tensor::quantize_matrix(dense(), formats::block_format(format), tensor::QuantizedStorage::Packed);
}

tensor::Matrix weights(const std::string& format) {
  if (format.ends_with("_x8")) {  // rows interleaved by 8 for decoding, as the runtime holds them
    tensor::Matrix m = weights(format.substr(0, format.size() - 3));
    tensor::interleave_for_decode(m);
    return m;
  }
  tensor::Matrix m = stored_weights(format);
  m.interleaved.reset();  // the row-at-a-time kernels, without the copy a product would make
  return m;
}

// threads > 1: through tensor::matmul, as decoding multiplies (the pool's threads take bands of rows;
// an integer kernel's activations quantized once, before them).
void BM_RowDot(benchmark::State& state, const std::string& format, int threads = 1) {
  set_thread_count(threads);
  const tensor::Matrix w = weights(format);
  const tensor::kernels::RowDotSet* set = tensor::row_dot_set();
  const auto bound = set ? tensor::bind_row_dot(w, *set) : std::nullopt;
  if (!bound) {
    state.SkipWithError("no row-dot kernel for this format on this CPU");
    return;
  }
  const std::vector<float> x = gaussian(static_cast<std::size_t>(kCols), 2);
  std::vector<float> y(static_cast<std::size_t>(w.rows));
  tensor::kernels::RowDotArgs args = bound->args;
  args.x = x.data();
  tensor::QuantizedActivations xq;
  for (auto _ : state) {
    if (threads > 1) {
      tensor::matmul(x.data(), 1, w, y.data());
      benchmark::DoNotOptimize(y.data());
      continue;
    }
    if (bound->activations != tensor::kernels::ActivationBlocks::Float) {  // once per product, as matmul does
      tensor::quantize_activations(x.data(), kCols, bound->activations, xq);
      args.xq = xq.q.data();
      args.xd = xq.d.data();
      args.xs = xq.s.data();
    }
    bound->fn(args, 0, w.rows, y.data());
    benchmark::DoNotOptimize(y.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(w.storage_bytes()));
  state.counters["bits/weight"] = 8.0 * static_cast<double>(w.storage_bytes()) / static_cast<double>(w.rows * kCols);
}

// The engine's STREAM-style read (bench infer's ceiling) on state.range(0) threads, over the bf16
// matrix's bytes.
void BM_ReadCeiling(benchmark::State& state) {
  const int threads = static_cast<int>(state.range(0));
  set_thread_count(threads);
  const std::uint64_t bytes = static_cast<std::uint64_t>(kRows * kCols) * 2;
  double best = 0;
  for (auto _ : state) best = std::max(best, bench::measure_read_bandwidth(1, bytes).best);
  state.counters["GB/s"] = best;
}

}  // namespace

BENCHMARK(BM_ReadCeiling)->Unit(benchmark::kMillisecond)->Iterations(3)->Arg(1)->Arg(2);
BENCHMARK_CAPTURE(BM_RowDot, bf16, std::string("bf16"))->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_RowDot, f16, std::string("f16"))->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_RowDot, int8_ch, std::string("int8-ch"))->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_RowDot, int8_g128, std::string("int8-g128"))->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_RowDot, fp8_tensor, std::string("fp8-tensor"))->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_RowDot, int4_g128, std::string("int4-g128"))->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_RowDot, int4_g32, std::string("int4-g32"))->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_RowDot, nvfp4, std::string("nvfp4"))->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_RowDot, mxfp4, std::string("mxfp4"))->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_RowDot, int8_g128_x8, std::string("int8-g128_x8"))->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_RowDot, int4_g128_x8, std::string("int4-g128_x8"))->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_RowDot, int4_g32_x8, std::string("int4-g32_x8"))->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_RowDot, int4_g32_sym_x8, std::string("int4-g32-sym_x8"))->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_RowDot, nvfp4_x8, std::string("nvfp4_x8"))->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_RowDot, mxfp4_x8, std::string("mxfp4_x8"))->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_RowDot, int8_g128_threads2, std::string("int8-g128"), 2)
    ->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_RowDot, int4_g128_threads2, std::string("int4-g128"), 2)
    ->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_RowDot, nvfp4_threads2, std::string("nvfp4"), 2)
    ->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_RowDot, int8_g128_x8_threads2, std::string("int8-g128_x8"), 2)
    ->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_RowDot, int4_g128_x8_threads2, std::string("int4-g128_x8"), 2)
    ->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_RowDot, int4_g32_x8_threads2, std::string("int4-g32_x8"), 2)
    ->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_RowDot, nvfp4_x8_threads2, std::string("nvfp4_x8"), 2)
    ->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_RowDot, mxfp4_x8_threads2, std::string("mxfp4_x8"), 2)
    ->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_RowDot, int8_ch_native, std::string("int8-ch_native"))->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_RowDot, int8_g128_native, std::string("int8-g128_native"))->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_RowDot, int4_g128_native, std::string("int4-g128_native"))->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_RowDot, int4_g32_native, std::string("int4-g32_native"))->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_RowDot, nvfp4_native, std::string("nvfp4_native"))->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_RowDot, mxfp4_native, std::string("mxfp4_native"))->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_RowDot, int8_g128_native_x8, std::string("int8-g128_native_x8"))->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_RowDot, int4_g128_native_x8, std::string("int4-g128_native_x8"))->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_RowDot, int4_g32_native_x8, std::string("int4-g32_native_x8"))->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_RowDot, nvfp4_native_x8, std::string("nvfp4_native_x8"))->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_RowDot, mxfp4_native_x8, std::string("mxfp4_native_x8"))->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_RowDot, ggml_q8_0, std::string("ggml-q8_0"))->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_RowDot, ggml_q8_0_x8, std::string("ggml-q8_0_x8"))->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_RowDot, ggml_q4_0, std::string("ggml-q4_0"))->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_RowDot, ggml_q4_0_x8, std::string("ggml-q4_0_x8"))->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_RowDot, ggml_q4_1, std::string("ggml-q4_1"))->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_RowDot, ggml_q5_0, std::string("ggml-q5_0"))->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_RowDot, ggml_mxfp4, std::string("ggml-mxfp4"))->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_RowDot, ggml_q2_K, std::string("ggml-q2_K"))->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_RowDot, ggml_q3_K, std::string("ggml-q3_K"))->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_RowDot, ggml_q4_K, std::string("ggml-q4_K"))->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_RowDot, ggml_q4_K_x8, std::string("ggml-q4_K_x8"))->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_RowDot, ggml_q5_K, std::string("ggml-q5_K"))->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_RowDot, ggml_q6_K, std::string("ggml-q6_K"))->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_RowDot, ggml_q6_K_x8, std::string("ggml-q6_K_x8"))->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
