// Every dequantize kernel against its CPU codec, bit for bit: each block format of the traits table,
// on data with zero blocks, outliers and rows padded to whole blocks; slabs and gathered rows; the
// bfloat16 output as the CPU's float rounded to nearest even. And the f16 / bf16 widening.
#include <gtest/gtest.h>

#include <cuda_bf16.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "cuda_test_util.h"
#include "engine/cuda/check.h"
#include "engine/cuda/kernels.h"
#include "engine/cuda/weights.h"
#include "engine/formats/block.h"
#include "engine/formats/scalar.h"
#include "engine/tensor/quantize_matrix.h"

namespace qlab::cuda {
namespace {

std::vector<float> test_data(std::int64_t rows, std::int64_t cols, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> g(0.0f, 1.0f);
  std::vector<float> x(static_cast<std::size_t>(rows * cols));
  for (auto& v : x) v = g(rng);
  // A zero stretch (whole blocks of every size), outliers, tiny values.
  for (std::int64_t i = 0; i < std::min<std::int64_t>(cols, 256); ++i) x[static_cast<std::size_t>(cols + i)] = 0.0f;
  x[7] = 40.0f;
  x[static_cast<std::size_t>(2 * cols + 3)] = -75.0f;
  x[static_cast<std::size_t>(3 * cols + 1)] = 1e-6f;
  return x;
}

std::vector<float> device_rows(const DeviceWeight& w, const std::int32_t* ids_host, std::int64_t row0, std::int64_t n,
                               bool bf16) {
  Context& ctx = Context::get();
  const std::int64_t cols = w.cols;
  Buffer out(static_cast<std::size_t>(n * cols) * 4, "test output");
  Buffer ids(ids_host ? static_cast<std::size_t>(n) * 4 : 0, "test ids");
  if (ids_host) check(cudaMemcpy(ids.get(), ids_host, static_cast<std::size_t>(n) * 4, cudaMemcpyHostToDevice), "ids");
  check(cudaMemset(out.get(), 0xFF, out.bytes()), "poison");  // every element must be written
  std::vector<float> host(static_cast<std::size_t>(n * cols));
  if (bf16) {
    kernels::rows_to_bf16(w, ctx.tables(), ids.as<std::int32_t>(), row0, n, out.as<__nv_bfloat16>(), ctx.stream());
    std::vector<std::uint16_t> h16(host.size());
    ctx.sync("test");
    check(cudaMemcpy(h16.data(), out.get(), h16.size() * 2, cudaMemcpyDeviceToHost), "download");
    for (std::size_t i = 0; i < h16.size(); ++i) host[i] = formats::bf16_to_f32(h16[i]);
  } else {
    kernels::rows_to_f32(w, ctx.tables(), ids.as<std::int32_t>(), row0, n, out.as<float>(), ctx.stream());
    ctx.sync("test");
    check(cudaMemcpy(host.data(), out.get(), host.size() * 4, cudaMemcpyDeviceToHost), "download");
  }
  return host;
}

void expect_bits(const std::vector<float>& got, const std::vector<float>& want, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (std::size_t i = 0; i < got.size(); ++i) {
    std::uint32_t a, b;
    std::memcpy(&a, &got[i], 4);
    std::memcpy(&b, &want[i], 4);
    ASSERT_EQ(a, b) << what << " at element " << i << ": " << got[i] << " vs " << want[i];
  }
}

std::vector<float> round_bf16(std::vector<float> v) {
  for (auto& x : v) x = formats::bf16_to_f32(formats::f32_to_bf16(x));
  return v;
}

TEST(Dequantize, EveryBlockFormatBitIdenticalToItsCodec) {
  QLAB_REQUIRE_GPU();
  int formats_checked = 0;
  for (const formats::BlockFormatSpec& spec : formats::all_block_formats()) {
    // 1000 columns: padded to whole blocks for the formats that need it (the rows run past `cols`).
    for (const std::int64_t cols : {std::int64_t{512}, std::int64_t{1000}}) {
      const std::int64_t rows = 9;
      const auto x = test_data(rows, cols, static_cast<std::uint32_t>(cols + formats_checked));
      const tensor::Matrix src = tensor::Matrix::owned_f32(x, rows, cols);
      const tensor::Matrix packed = tensor::quantize_matrix(src, spec, tensor::QuantizedStorage::Packed);
      ASSERT_EQ(packed.type, tensor::ElemType::Packed) << spec.name;
      const std::vector<float> want = packed.to_f32();  // the codec's dequantize (the reference)
      WeightCache cache;
      cache.begin_op();
      const DeviceWeight w = cache.get(packed);
      ASSERT_EQ(w.type, WeightType::Packed) << spec.name << " has no kernel";
      const std::string what = spec.name + " cols " + std::to_string(cols);
      expect_bits(device_rows(w, nullptr, 0, rows, false), want, what + " (all rows)");
      // A slab from row 3, and gathered rows in any order.
      expect_bits(device_rows(w, nullptr, 3, 4, false),
                  std::vector<float>(want.begin() + 3 * cols, want.begin() + 7 * cols), what + " (slab)");
      const std::int32_t ids[3] = {8, 0, 5};
      std::vector<float> gathered;
      for (const std::int32_t r : ids) gathered.insert(gathered.end(), want.begin() + r * cols, want.begin() + (r + 1) * cols);
      expect_bits(device_rows(w, ids, 0, 3, false), gathered, what + " (gathered)");
      expect_bits(device_rows(w, nullptr, 0, rows, true), round_bf16(want), what + " (bf16)");
    }
    ++formats_checked;
  }
  EXPECT_EQ(formats_checked, static_cast<int>(formats::all_block_formats().size()));
  std::printf("%d block formats bit-identical (f32 and bf16 out, slabs, gathered rows, padded rows)\n",
              formats_checked);
}

// Decode's product over packed weights, dequantized in registers (gemv_packed.cu): for every block
// format, 1 to 3 rows of x against the codec's dequantized matrix, the dot products in double on the
// host. Row widths that take the wide paths (512, 4096) and ones that fall back to element-wise
// (1000: padded rows; 200: not a whole chunk).
TEST(Dequantize, PackedMatrixVectorProductEqualsTheDequantizedMatrix) {
  QLAB_REQUIRE_GPU();
  Context& ctx = Context::get();
  double worst = 0;
  for (const formats::BlockFormatSpec& spec : formats::all_block_formats())
    for (const std::int64_t cols : {std::int64_t{512}, std::int64_t{4096}, std::int64_t{1000}, std::int64_t{200}}) {
      const std::int64_t rows = 37;
      const tensor::Matrix packed = tensor::quantize_matrix(
          tensor::Matrix::owned_f32(test_data(rows, cols, static_cast<std::uint32_t>(cols)), rows, cols), spec,
          tensor::QuantizedStorage::Packed);
      const std::vector<float> wq = packed.to_f32();
      WeightCache cache;
      cache.begin_op();
      const DeviceWeight w = cache.get(packed);
      for (const int M : {1, 3}) {
        std::vector<float> x = test_data(4, cols, 99);  // test_data shapes its first four rows
        x.resize(static_cast<std::size_t>(M * cols));
        Buffer xd(x.size() * 4, "x"), yd(static_cast<std::size_t>(M * rows) * 4, "y");
        check(cudaMemcpy(xd.get(), x.data(), x.size() * 4, cudaMemcpyHostToDevice), "x");
        check(cudaMemset(yd.get(), 0xFF, yd.bytes()), "poison");
        kernels::gemv_packed(w, ctx.tables(), xd.as<float>(), M, yd.as<float>(), rows, ctx.stream());
        ctx.sync("test");
        std::vector<float> y(static_cast<std::size_t>(M * rows));
        check(cudaMemcpy(y.data(), yd.get(), y.size() * 4, cudaMemcpyDeviceToHost), "y");
        for (int m = 0; m < M; ++m)
          for (std::int64_t r = 0; r < rows; ++r) {
            double want = 0, mag = 0;
            for (std::int64_t k = 0; k < cols; ++k) {
              const double p = double(wq[static_cast<std::size_t>(r * cols + k)]) * x[static_cast<std::size_t>(m * cols + k)];
              want += p;
              mag += std::fabs(p);
            }
            const double err = std::fabs(y[static_cast<std::size_t>(m * rows + r)] - want) / std::max(mag, 1e-30);
            ASSERT_LE(err, 1e-6) << spec.name << " cols " << cols << " row " << r << " m " << m << ": "
                                 << y[static_cast<std::size_t>(m * rows + r)] << " vs " << want;
            worst = std::max(worst, err);
          }
      }
    }
  std::printf("packed GEMV: every block format within %.1e of the dequantized matrix (relative to sum |w x|)\n",
              worst);
}

TEST(Dequantize, HalfPrecisionWideningEqualsTheCpu) {
  QLAB_REQUIRE_GPU();
  const std::int64_t rows = 5, cols = 300;
  std::mt19937 rng(3);
  std::normal_distribution<float> g(0.0f, 3.0f);
  for (const bool bf16 : {false, true}) {
    auto h = std::make_shared<std::vector<std::uint16_t>>(static_cast<std::size_t>(rows * cols));
    for (auto& v : *h) v = bf16 ? formats::f32_to_bf16(g(rng)) : formats::f32_to_f16(g(rng));
    (*h)[0] = 0x0001;  // subnormal (f16) / tiny (bf16)
    (*h)[1] = 0x8000;  // -0
    (*h)[2] = 0x7C00;  // inf (f16), a large value (bf16)
    tensor::Matrix m;
    m.type = bf16 ? tensor::ElemType::BF16 : tensor::ElemType::F16;
    m.data = h->data();
    m.rows = rows;
    m.cols = cols;
    m.owner = std::shared_ptr<const void>(h, h->data());
    WeightCache cache;
    cache.begin_op();
    const DeviceWeight w = cache.get(m);
    expect_bits(device_rows(w, nullptr, 0, rows, false), m.to_f32(), bf16 ? "bf16" : "f16");
  }
}

}  // namespace
}  // namespace qlab::cuda
