// The native bf16 GEMM (gemm_bf16.h) against a reference written here: the activations rounded to
// bf16 by the scalar reference codec, each product and sum in double.
// Tolerance from the instructions' arithmetic: a bf16 x bf16 product is exact in float32; each step
// of a lane rounds at most twice (the pair's sum, then its addition to the lane) and the lanes meet
// in a tree of at most 4 levels. A lane takes K / 32 steps on AVX-512's 16 lanes and K / 8 on NEON's
// 4, so |kernel - exact| <= (2 K / 8 + 4) u sum |x_b w| (u = 2^-24) covers both; the test allows 9
// more. Inputs are kept normal, as the instructions flush denormals to zero.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "engine/core/threads.h"
#include "engine/formats/scalar.h"
#include "engine/tensor/cpu_features.h"
#include "engine/tensor/gemm_bf16.h"
#include "engine/tensor/matrix.h"
#include "tests/random_values.h"

namespace qlab::tensor {
namespace {

struct GemmCase {
  const char* name;
  kernels::Bf16Gemm gemm;
};

std::vector<GemmCase> runnable() {
  std::vector<GemmCase> out;
  const CpuFeatures& f = cpu_features();
  if (f.avx512_bf16 && kernels::avx512::kBf16Gemm) out.push_back({"avx512-bf16", kernels::avx512::kBf16Gemm});
  if (f.neon_bf16 && kernels::neon::kBf16Gemm) out.push_back({"neon-bf16", kernels::neon::kBf16Gemm});
  return out;
}

std::uint16_t to_bf16(float x) { return static_cast<std::uint16_t>(formats::encode(formats::ScalarFormat::BF16, x)); }
double from_bf16(std::uint16_t b) { return formats::decode(formats::ScalarFormat::BF16, b); }

using qlab::testing::gaussian;

// Normal values rounded to bf16, and a bf16 matrix over them.
std::vector<std::uint16_t> bf16_values(std::size_t n, unsigned seed, float sd) {
  const auto f = gaussian(n, seed, sd);
  std::vector<std::uint16_t> b(f.size());
  for (std::size_t i = 0; i < b.size(); ++i) b[i] = to_bf16(f[i]);
  return b;
}
Matrix bf16_matrix(const std::vector<std::uint16_t>& w, std::int64_t rows, std::int64_t cols) {
  Matrix W;
  W.type = ElemType::BF16;
  W.data = w.data();
  W.rows = rows;
  W.cols = cols;
  return W;
}

TEST(GemmBf16, TilesAndEdgesMatchTheRoundedReference) {
  const auto cases = runnable();
  if (cases.empty()) GTEST_SKIP() << "no bf16 dot-product instructions on this CPU";
  for (const auto& c : cases) {
    for (std::int64_t K : {std::int64_t{64}, std::int64_t{2048}}) {
      const std::int64_t N = 37;
      const auto wf = gaussian(static_cast<std::size_t>(N * K), 3, 0.02f);
      std::vector<std::uint16_t> w(wf.size());
      for (std::size_t i = 0; i < w.size(); ++i) w[i] = to_bf16(wf[i]);
      for (std::int64_t M : {1, 3, 4, 7, 64}) {
        const auto x = gaussian(static_cast<std::size_t>(M * K), 4, 1.0f);
        std::vector<std::uint16_t> xb(x.size());
        for (std::size_t i = 0; i < x.size(); ++i) xb[i] = to_bf16(x[i]);
        std::vector<float> y(static_cast<std::size_t>(M * N), -1);
        // two calls over halves of the rows, as two threads would take them
        c.gemm(xb.data(), M, w.data(), 0, 20, K, y.data(), N);
        c.gemm(xb.data(), M, w.data(), 20, N, K, y.data(), N);
        for (std::int64_t m = 0; m < M; ++m)
          for (std::int64_t n = 0; n < N; ++n) {
            double ref = 0, mag = 0;
            for (std::int64_t k = 0; k < K; ++k) {
              const double p = from_bf16(xb[static_cast<std::size_t>(m * K + k)]) * from_bf16(w[static_cast<std::size_t>(n * K + k)]);
              ref += p;
              mag += std::fabs(p);
            }
            const double tol = (2.0 * static_cast<double>(K) / 8 + 13) * std::ldexp(1.0, -24) * mag;
            ASSERT_NEAR(y[static_cast<std::size_t>(m * N + n)], ref, tol)
                << c.name << " K " << K << " M " << M << " at (" << m << ", " << n << ")";
          }
      }
    }
  }
}

// Through tensor::matmul: ProductMath::Native on a bf16 matrix differs from Exact by the rounding of
// the activations to bf16 (relative 2^-9 each) and the sums: within 2^-8 sum |x w| per output.
TEST(GemmBf16, NativeProductsStayWithinTheActivationRoundingOfExact) {
  if (runnable().empty()) GTEST_SKIP() << "no bf16 dot-product instructions on this CPU";
  set_thread_count(2);
  const std::int64_t M = 19, N = 301, K = 512;
  const std::vector<std::uint16_t> w = bf16_values(static_cast<std::size_t>(N * K), 5, 0.02f);
  Matrix W = bf16_matrix(w, N, K);
  const auto x = gaussian(static_cast<std::size_t>(M * K), 6, 1.0f);
  std::vector<float> native(static_cast<std::size_t>(M * N)), exact(native.size());
  W.math = ProductMath::Native;
  matmul(x.data(), M, W, native.data());
  W.math = ProductMath::Exact;
  matmul(x.data(), M, W, exact.data());
  for (std::int64_t m = 0; m < M; ++m)
    for (std::int64_t n = 0; n < N; ++n) {
      double mag = 0;
      for (std::int64_t k = 0; k < K; ++k)
        mag += std::fabs(static_cast<double>(x[static_cast<std::size_t>(m * K + k)]) * from_bf16(w[static_cast<std::size_t>(n * K + k)]));
      ASSERT_NEAR(native[static_cast<std::size_t>(m * N + n)], exact[static_cast<std::size_t>(m * N + n)], std::ldexp(mag, -8))
          << m << ", " << n;
    }
}

// Decoding (one row of activations) under Native takes the bf16 dot products too: its result is the
// product of the bf16-rounded activations (in double, to float rounding), not of the activations as
// given -- which differ here by far more than float rounding, since every activation is chosen off
// the bf16 grid (a third to two thirds of a bf16 ulp above a bf16 value).
TEST(GemmBf16, DecodeUnderNativeMultipliesTheRoundedActivations) {
  if (runnable().empty()) GTEST_SKIP() << "no bf16 dot-product instructions on this CPU";
  set_thread_count(2);
  const std::int64_t N = 77, K = 1024;
  const std::vector<std::uint16_t> w = bf16_values(static_cast<std::size_t>(N * K), 7, 0.02f);
  Matrix W = bf16_matrix(w, N, K);
  W.math = ProductMath::Native;
  std::vector<float> x = gaussian(static_cast<std::size_t>(K), 8, 1.0f);
  for (float& v : x) v = static_cast<float>(from_bf16(to_bf16(v))) * (1.0f + 0x1.7p-9f);
  std::vector<float> y(static_cast<std::size_t>(N));
  matmul(x.data(), 1, W, y.data());
  int apart = 0;
  for (std::int64_t n = 0; n < N; ++n) {
    double rounded = 0, given = 0, mag = 0;
    for (std::int64_t k = 0; k < K; ++k) {
      const double wk = from_bf16(w[static_cast<std::size_t>(n * K + k)]);
      const float xk = x[static_cast<std::size_t>(k)];
      rounded += wk * from_bf16(to_bf16(xk));
      given += wk * xk;
      mag += std::fabs(wk * xk);
    }
    const double tol = std::ldexp(mag, -18);  // float sums of 1024 products (2^-24 each), with room
    EXPECT_NEAR(y[static_cast<std::size_t>(n)], rounded, tol) << n;
    if (std::fabs(rounded - given) > 4 * tol) ++apart;
  }
  EXPECT_GT(apart, N / 2) << "the test cannot tell the two products apart";
}

}  // namespace
}  // namespace qlab::tensor
