// The forward pass's kernels against hand-derived values and naive references written here.
#include <gtest/gtest.h>

#include <cmath>
#include <numbers>
#include <random>
#include <vector>

#include "engine/core/threads.h"
#include "engine/model/rope.h"
#include "engine/model/sampling.h"
#include "engine/tensor/convert.h"
#include "engine/tensor/matrix.h"
#include "engine/tensor/ops.h"
#include "fixture_util.h"

namespace qlab {
namespace {

TEST(Kernels, RmsNormByHand) {
  // x = (3, 4): mean square 12.5, 1/sqrt(12.5 + 0.5) = 1/sqrt(13).
  const float x[2] = {3, 4}, w[2] = {1, 2};
  float out[2];
  tensor::rmsnorm(x, w, 0.5f, 2, out);
  EXPECT_NEAR(out[0], 3 / std::sqrt(13.0), 1e-6);
  EXPECT_NEAR(out[1], 2 * 4 / std::sqrt(13.0), 1e-6);
}

TEST(Kernels, SoftmaxByHand) {
  // (0, ln 2, ln 3) -> (1, 2, 3) / 6
  float x[3] = {0, static_cast<float>(std::log(2.0)), static_cast<float>(std::log(3.0))};
  tensor::softmax(x, 3);
  EXPECT_NEAR(x[0], 1 / 6.0, 1e-6);
  EXPECT_NEAR(x[1], 2 / 6.0, 1e-6);
  EXPECT_NEAR(x[2], 3 / 6.0, 1e-6);
  // A large common offset must not overflow (float spacing at 1000 is 6e-5, hence the tolerance).
  float y[2] = {1000.0f, 1001.0f};
  tensor::softmax(y, 2);
  EXPECT_NEAR(y[1], 1 / (1 + std::exp(-1.0)), 1e-6);
}

// The vectorizable exp against libm's in double, over the whole range where a softmax or SiLU needs it,
// and its edges: 0 below -87 (true values there are below the smallest normal float), inf above
// float's largest exp argument, NaN kept.
TEST(Kernels, ExpFastWithinTwoUlpOfDoubleExp) {
  double worst = 0;
  for (float x = -87.0f; x <= 88.0f; x += 0.0137f) {
    const double want = std::exp(static_cast<double>(x));
    const double ulp = std::nextafter(static_cast<float>(want), INFINITY) - static_cast<float>(want);
    worst = std::max(worst, std::fabs(tensor::exp_fast(x) - want) / ulp);
  }
  EXPECT_LE(worst, 2.0);
  EXPECT_EQ(tensor::exp_fast(0.0f), 1.0f);
  EXPECT_EQ(tensor::exp_fast(-100.0f), 0.0f);
  EXPECT_EQ(tensor::exp_fast(-INFINITY), 0.0f);
  EXPECT_EQ(tensor::exp_fast(89.0f), INFINITY);
  EXPECT_TRUE(std::isnan(tensor::exp_fast(NAN)));
  std::printf("exp_fast: worst error %.2f ulp\n", worst);
}

TEST(Kernels, SiluMulByHand) {
  // silu(0) = 0, silu(1) = 1 / (1 + e^-1), silu(-2) = -2 / (1 + e^2)
  float g[3] = {0, 1, -2};
  const float u[3] = {5, 2, 3};
  tensor::silu_mul(g, u, 3);
  EXPECT_NEAR(g[0], 0, 1e-7);
  EXPECT_NEAR(g[1], 2 / (1 + std::exp(-1.0)), 1e-6);
  EXPECT_NEAR(g[2], 3 * -2 / (1 + std::exp(2.0)), 1e-6);
}

// SiLU times up against double precision, over the range activations take and past the clamps:
// within 3 ulp where the result is a normal float, and the limits at +-inf, NaN kept.
TEST(Kernels, SiluMulAgainstDouble) {
  std::vector<float> g, u;
  for (float x = -100.0f; x <= 100.0f; x += 0.00731f) {
    g.push_back(x);
    u.push_back(1.0f + 0.25f * std::sin(x));
  }
  std::vector<float> out = g;
  tensor::silu_mul(out.data(), u.data(), static_cast<std::int64_t>(out.size()));
  double worst = 0;
  for (std::size_t i = 0; i < g.size(); ++i) {
    const double want = g[i] / (1 + std::exp(-static_cast<double>(g[i]))) * u[i];
    if (std::fabs(want) < 1e-30) {
      EXPECT_LT(std::fabs(out[i]), 1e-30) << g[i];
      continue;
    }
    const auto wf = static_cast<float>(std::fabs(want));
    worst = std::max(worst, std::fabs(out[i] - want) / (std::nextafter(wf, INFINITY) - wf));
  }
  EXPECT_LE(worst, 3.0);
  float edge[4] = {INFINITY, -INFINITY, NAN, -1e30f};
  const float ones[4] = {1, 1, 1, 1};
  tensor::silu_mul(edge, ones, 4);
  EXPECT_EQ(edge[0], INFINITY);
  EXPECT_LE(std::fabs(edge[1]), 1e-30f);
  EXPECT_TRUE(std::isnan(edge[2]));
  EXPECT_LE(std::fabs(edge[3]), 1e-30f);
  std::printf("silu_mul: worst error %.2f ulp\n", worst);
}

// softmax_exp against a double-precision softmax for every row length around the 16-value vector
// width and some long ones, with masked (-inf) entries and a wide spread of scores.
TEST(Kernels, SoftmaxExpMatchesDoubleForAllTailLengths) {
  std::mt19937 rng(3);
  std::normal_distribution<float> d(0.0f, 6.0f);
  std::vector<std::int64_t> lengths;
  for (std::int64_t n = 1; n <= 70; ++n) lengths.push_back(n);
  for (std::int64_t n : {255, 256, 1000, 3001, 9000}) lengths.push_back(n);
  for (std::int64_t n : lengths) {
    std::vector<float> x(static_cast<std::size_t>(n) + 3, 7.0f);  // 3 guard values past the row
    const auto un = static_cast<std::size_t>(n);
    for (std::size_t i = 0; i < un; ++i) x[i] = i % 7 == 3 ? -INFINITY : d(rng);
    x[0] = d(rng);  // at least one finite score
    float mx = -INFINITY;
    for (std::size_t i = 0; i < un; ++i) mx = std::max(mx, x[i]);
    // x - max is rounded to float first, as any float softmax does (at -40 that alone is 2e-6 of e^x).
    std::vector<double> want(un);
    double sum = 0;
    for (std::size_t i = 0; i < un; ++i) sum += want[i] = std::exp(static_cast<double>(x[i] - mx));
    const float inv = tensor::softmax_exp(x.data(), n);
    for (std::size_t i = 0; i < un; ++i) {
      const double got = static_cast<double>(x[i]) * inv, p = want[i] / sum;
      ASSERT_NEAR(got, p, 1e-6 * p + 1e-37) << "n " << n << " i " << i;
    }
    for (std::size_t i = un; i < x.size(); ++i) ASSERT_EQ(x[i], 7.0f) << "wrote past the row, n " << n;
  }
}

// log(sum e^x) against double precision, for vocabulary-sized rows and every short tail length.
TEST(Kernels, LogSumExpMatchesDouble) {
  std::mt19937 rng(9);
  std::normal_distribution<float> d(0.0f, 8.0f);
  for (std::int64_t n : {1, 2, 15, 16, 17, 33, 768, 32000, 128256}) {
    std::vector<float> x(static_cast<std::size_t>(n));
    for (auto& v : x) v = d(rng);
    float mx = -INFINITY;
    for (float v : x) mx = std::max(mx, v);
    double sum = 0;
    for (float v : x) sum += std::exp(static_cast<double>(v) - mx);
    const double want = mx + std::log(sum);
    // Terms are within 1 ulp (plus the float rounding of x - max): 1e-6 of the log's 1.
    EXPECT_NEAR(tensor::log_sum_exp(x.data(), n), want, 1e-6) << n;
  }
}

// The precomputed angle table gives exactly the angles computed on the fly, inside it and past it.
TEST(Kernels, RopeTableEqualsComputedAngles) {
  io::RopeConfig rc;
  rc.theta = 10000;
  const model::Rope plain(rc, 64), tabled(rc, 64, 100);
  float a[32], b[32], c[32], d[32];
  for (std::int64_t pos : {0, 1, 50, 99, 100, 101, 5000}) {
    plain.cos_sin(pos, a, b);
    tabled.cos_sin(pos, c, d);
    for (int i = 0; i < 32; ++i) {
      ASSERT_EQ(a[i], c[i]) << pos;
      ASSERT_EQ(b[i], d[i]) << pos;
    }
  }
}

TEST(Kernels, RopeRotatesHalvesByHand) {
  // head_dim 4, theta 100: inv_freq = (1, 1/10). Position 2 rotates pair (x0, x2) by 2 rad and (x1, x3) by 0.2.
  io::RopeConfig rc;
  rc.theta = 100;
  model::Rope rope(rc, 4);
  float v[4] = {1, 2, 3, 4};
  rope.apply(v, 1, 2);
  EXPECT_NEAR(v[0], 1 * std::cos(2.0) - 3 * std::sin(2.0), 1e-6);
  EXPECT_NEAR(v[2], 3 * std::cos(2.0) + 1 * std::sin(2.0), 1e-6);
  EXPECT_NEAR(v[1], 2 * std::cos(0.2) - 4 * std::sin(0.2), 1e-6);
  EXPECT_NEAR(v[3], 4 * std::cos(0.2) + 2 * std::sin(0.2), 1e-6);
  float z[4] = {1, 2, 3, 4};
  rope.apply(z, 1, 0);  // position 0 is the identity
  EXPECT_FLOAT_EQ(z[3], 4);
}

TEST(Kernels, RopeLinearScalingDividesFrequencies) {
  io::RopeConfig rc;
  rc.theta = 10000;
  const auto plain = model::rope_inv_freq(rc, 8);
  rc.type = "linear";
  rc.factor = 4;
  const auto scaled = model::rope_inv_freq(rc, 8);
  for (std::size_t i = 0; i < plain.size(); ++i) EXPECT_NEAR(scaled[i], plain[i] / 4, 1e-7 * plain[i]);
}

// Llama 3.1's published rule (factor 8, low 1, high 4, original context 8192) at head_dim 128, theta 500000:
// wavelength < 2048 kept, > 8192 divided by 8, between a blend with smooth = (8192 / wavelen - 1) / 3.
TEST(Kernels, RopeLlama3ScalingByHand) {
  io::RopeConfig rc;
  rc.theta = 500000;
  rc.type = "llama3";
  rc.factor = 8;
  rc.low_freq_factor = 1;
  rc.high_freq_factor = 4;
  rc.original_max_position_embeddings = 8192;
  const auto inv = model::rope_inv_freq(rc, 128);
  int kept = 0, divided = 0, blended = 0;
  for (int i = 0; i < 64; ++i) {
    const double f = 1.0 / std::pow(500000.0, 2.0 * i / 128);
    const double wl = 2 * std::numbers::pi / f;
    double want;
    if (wl < 2048) {
      want = f;
      ++kept;
    } else if (wl > 8192) {
      want = f / 8;
      ++divided;
    } else {
      const double s = (8192 / wl - 1) / 3;
      want = (1 - s) * f / 8 + s * f;
      ++blended;
    }
    EXPECT_NEAR(inv[static_cast<std::size_t>(i)], want, 1e-5 * want) << i;
  }
  EXPECT_GT(kept, 0);
  EXPECT_GT(divided, 0);
  EXPECT_GT(blended, 0);
}

// Every f16 / bf16 code widens to the value numpy / ml_dtypes give (fixture decode tables).
TEST(Kernels, HalfConversionsMatchFixtureTables) {
  for (const char* name : {"f16", "bf16"}) {
    const auto table = qlab::testing::read_f32(qlab::testing::fixture(std::string("formats/decode_") + name + ".bin"));
    ASSERT_EQ(table.size(), 65536u);
    std::vector<std::uint16_t> codes(65536);
    for (std::size_t i = 0; i < codes.size(); ++i) codes[i] = static_cast<std::uint16_t>(i);
    std::vector<float> out(65536);
    if (std::string(name) == "f16") tensor::f16_to_f32(codes.data(), out.data(), codes.size());
    else tensor::bf16_to_f32(codes.data(), out.data(), codes.size());
    for (std::size_t i = 0; i < codes.size(); ++i) {
      if (std::isnan(table[i])) {
        EXPECT_TRUE(std::isnan(out[i])) << name << " " << i;
      } else {
        ASSERT_EQ(tensor::f32_to_bits(out[i]), tensor::f32_to_bits(table[i])) << name << " code " << i;
      }
    }
  }
}

// matmul against a naive triple loop, for each storage type, one row and many, and shapes that do
// not divide evenly among threads or slabs.
TEST(Kernels, MatmulMatchesNaiveProduct) {
  std::mt19937 rng(3);
  std::normal_distribution<float> d;
  for (auto type : {tensor::ElemType::F32, tensor::ElemType::F16, tensor::ElemType::BF16}) {
    for (std::int64_t M : {1, 7}) {
      const std::int64_t N = 1037, K = 2100;
      std::vector<float> w(static_cast<std::size_t>(N * K)), x(static_cast<std::size_t>(M * K));
      for (auto& v : w) v = d(rng);
      for (auto& v : x) v = d(rng);
      std::vector<std::uint16_t> half(w.size());
      tensor::Matrix W;
      W.rows = N;
      W.cols = K;
      W.type = type;
      if (type == tensor::ElemType::F32) {
        W.data = w.data();
      } else {
        for (std::size_t i = 0; i < w.size(); ++i) {
          // round to the type by truncating the float (exact values then known to both sides)
          const std::uint32_t bits = tensor::f32_to_bits(w[i]);
          if (type == tensor::ElemType::BF16) {
            half[i] = static_cast<std::uint16_t>(bits >> 16);
            w[i] = tensor::bits_to_f32(bits & 0xFFFF0000u);
          } else {
            // small normal f16 values: sign, exponent rebias, 10 mantissa bits
            const float a = std::fabs(w[i]) < 1e-3f ? 0.0f : w[i];
            const std::uint32_t ab = tensor::f32_to_bits(a);
            const std::uint32_t sign = (ab >> 16) & 0x8000u;
            const int e = static_cast<int>((ab >> 23) & 0xFF) - 127 + 15;
            half[i] = a == 0.0f ? static_cast<std::uint16_t>(0)
                                : static_cast<std::uint16_t>(sign | (static_cast<std::uint32_t>(e) << 10) |
                                                             ((ab >> 13) & 0x3FFu));
            w[i] = tensor::f16_bits_to_f32(half[i]);
          }
        }
        W.data = half.data();
      }
      std::vector<float> y(static_cast<std::size_t>(M * N));
      tensor::matmul(x.data(), M, W, y.data());
      for (std::int64_t m = 0; m < M; ++m)
        for (std::int64_t n = 0; n < N; n += 13) {
          double ref = 0, mag = 0;
          for (std::int64_t k = 0; k < K; ++k) {
            ref += static_cast<double>(x[static_cast<std::size_t>(m * K + k)]) * w[static_cast<std::size_t>(n * K + k)];
            mag += std::fabs(static_cast<double>(x[static_cast<std::size_t>(m * K + k)]) * w[static_cast<std::size_t>(n * K + k)]);
          }
          ASSERT_NEAR(y[static_cast<std::size_t>(m * N + n)], ref, 1e-5 * mag) << static_cast<int>(type) << " " << m << " " << n;
        }
    }
  }
}

TEST(Sampling, GreedyAndTopK) {
  const std::vector<float> logits{0.5f, 3.0f, 3.0f, -1.0f};
  EXPECT_EQ(model::argmax(logits), 1);  // first of the tied maxima, as torch.argmax
  // top_k = 1 at any temperature is greedy
  model::Sampler s({1.5, 1, 1.0}, 42);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(s.sample(logits), 1);
}

TEST(Sampling, TemperatureMatchesSoftmaxFrequencies) {
  // logits (0, ln 3): at temperature 1, p = (1/4, 3/4). 20000 draws: 3 sigma ~ 0.009.
  const std::vector<float> logits{0.0f, static_cast<float>(std::log(3.0))};
  model::Sampler s({1.0, 0, 1.0}, 7);
  int ones = 0;
  const int n = 20000;
  for (int i = 0; i < n; ++i) ones += s.sample(logits) == 1;
  EXPECT_NEAR(static_cast<double>(ones) / n, 0.75, 0.012);
  // top_p 0.7 keeps only the 0.75 token
  model::Sampler p({1.0, 0, 0.7}, 7);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(p.sample(logits), 1);
}

}  // namespace
}  // namespace qlab
