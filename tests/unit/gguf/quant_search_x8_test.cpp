// The eight-lane scale searches against the one-group searches they stand in for: for every
// parameter set the k-quant and legacy quantizers use, on groups of many kinds side by side (random,
// heavy-tailed, all zero, constant, one outlier, tiny, negative only, with and without weights), each
// lane's scale, min and codes equal the one-group search's bit for bit. (The callers' bytes are also
// checked against llama-quantize's files in llama_cpp_files_test.cpp.)
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "engine/gguf/quant_search.h"

namespace {

using namespace qlab::gguf::detail;

// Eight groups of n values, each of a different kind; `round` varies the random draws.
std::vector<float> groups(int n, int round) {
  std::mt19937 rng(static_cast<unsigned>(1000 * n + round));
  std::normal_distribution<float> normal(0.f, 1.f);
  std::student_t_distribution<float> heavy(2.f);
  std::vector<float> x(static_cast<std::size_t>(8 * n));
  for (int g = 0; g < 8; ++g) {
    const int kind = (g + round) % 8;
    for (int i = 0; i < n; ++i) {
      float v = 0;
      switch (kind) {
        case 0: v = normal(rng) * 0.02f; break;
        case 1: v = heavy(rng); break;
        case 2: v = 0; break;                                   // a group of zeros
        case 3: v = 0.375f; break;                              // constant
        case 4: v = i == n / 3 ? 40.f : normal(rng) * 0.1f; break;  // one outlier
        case 5: v = normal(rng) * 1e-12f; break;                // below the zero threshold
        case 6: v = -std::fabs(normal(rng)); break;             // negative only
        case 7: v = std::round(normal(rng) * 4) / 8; break;     // few distinct values, many ties
      }
      x[static_cast<std::size_t>(g * n + i)] = v;
    }
  }
  return x;
}

std::vector<float> positive_weights(int n, int round) {
  std::mt19937 rng(static_cast<unsigned>(77 + round));
  std::uniform_real_distribution<float> u(0.f, 3.f);
  std::vector<float> w(static_cast<std::size_t>(8 * n));
  for (auto& v : w) v = u(rng);
  return w;
}

::testing::AssertionResult same_float(float a, float b) {
  if (std::bit_cast<std::uint32_t>(a) == std::bit_cast<std::uint32_t>(b)) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << a << " != " << b;
}

struct SymmetricCase {
  int n, nmax;
  bool weighted;
};

TEST(SearchX8, SymmetricEqualsOneGroupAtATime) {
  // Q6_K (16, 32), Q3_K weighted (16, 4), Q4_0 / Q5_0 weighted (32, 8 / 16)
  for (const SymmetricCase c : {SymmetricCase{16, 32, false}, {16, 32, true}, {16, 4, true}, {32, 8, true},
                                {32, 16, true}}) {
    for (int round = 0; round < 16; ++round) {
      SCOPED_TRACE(::testing::Message() << "n " << c.n << " nmax " << c.nmax << " weighted " << c.weighted
                                        << " round " << round);
      const std::vector<float> x = groups(c.n, round), w = positive_weights(c.n, round);
      const float* wp = c.weighted ? w.data() : nullptr;
      std::vector<std::int8_t> L8(x.size());
      float scales8[8];
      search_symmetric_x8(c.n, c.nmax, x.data(), L8.data(), wp, scales8);
      for (int g = 0; g < 8; ++g) {
        std::vector<std::int8_t> L(static_cast<std::size_t>(c.n));
        const float s = search_symmetric(c.n, c.nmax, x.data() + g * c.n, L.data(), wp ? wp + g * c.n : nullptr);
        EXPECT_TRUE(same_float(scales8[g], s)) << "group " << g;
        for (int i = 0; i < c.n; ++i) EXPECT_EQ(L8[static_cast<std::size_t>(g * c.n + i)], L[static_cast<std::size_t>(i)]) << "group " << g << " element " << i;
      }
    }
  }
}

struct AsymmetricCase {
  int n, nmax;
  float rmin, rdelta;
  int nstep;
  bool use_mad, zero_if_not_above;
};

TEST(SearchX8, AsymmetricEqualsOneGroupAtATime) {
  const AsymmetricCase cases[] = {
      {32, 15, -1.f, 0.1f, 20, false, false},   // Q4_K reference
      {32, 31, -0.5f, 0.1f, 15, false, false},  // Q5_K reference
      {32, 15, -0.9f, 0.05f, 36, false, true},  // Q4_K / Q4_1 with an importance matrix
      {32, 31, -0.9f, 0.05f, 36, false, true},  // Q5_K / Q5_1 with an importance matrix
      {16, 3, -0.5f, 0.1f, 15, true, false},    // Q2_K reference (absolute error)
      {16, 3, -0.9f, 0.05f, 36, false, true},   // Q2_K with an importance matrix
      {16, 3, -0.5f, 0.1f, 0, true, false},     // no grid steps: the start alone
  };
  for (const AsymmetricCase& c : cases) {
    for (int round = 0; round < 16; ++round) {
      SCOPED_TRACE(::testing::Message() << "n " << c.n << " nmax " << c.nmax << " nstep " << c.nstep << " mad "
                                        << c.use_mad << " round " << round);
      const std::vector<float> x = groups(c.n, round);
      std::vector<float> w = positive_weights(c.n, round);
      if (round % 2) {  // the reference paths' weights: |x| (zero where x is)
        for (std::size_t i = 0; i < w.size(); ++i) w[i] = std::fabs(x[i]);
      }
      std::vector<std::uint8_t> L8(x.size());
      float scales8[8], neg_min8[8];
      search_asymmetric_x8(c.n, c.nmax, x.data(), w.data(), L8.data(), neg_min8, scales8, c.rmin, c.rdelta, c.nstep,
                           c.use_mad, c.zero_if_not_above);
      for (int g = 0; g < 8; ++g) {
        std::vector<std::uint8_t> L(static_cast<std::size_t>(c.n));
        float neg_min = 0;
        const float s = search_asymmetric(c.n, c.nmax, x.data() + g * c.n, w.data() + g * c.n, L.data(), &neg_min,
                                          c.rmin, c.rdelta, c.nstep, c.use_mad, c.zero_if_not_above);
        EXPECT_TRUE(same_float(scales8[g], s)) << "group " << g;
        EXPECT_TRUE(same_float(neg_min8[g], neg_min)) << "group " << g;
        for (int i = 0; i < c.n; ++i) EXPECT_EQ(L8[static_cast<std::size_t>(g * c.n + i)], L[static_cast<std::size_t>(i)]) << "group " << g << " element " << i;
      }
    }
  }
}

// Q3_K's reference search (16 values, nmax 4), with its coordinate descent: lanes that stop after
// different numbers of sweeps sit side by side. 64 rounds, so random groups of many shapes pass.
TEST(SearchX8, Q3EqualsOneGroupAtATime) {
  int moved = 0;
  for (int round = 0; round < 64; ++round) {
    SCOPED_TRACE(::testing::Message() << "round " << round);
    const std::vector<float> x = groups(16, round);
    std::vector<std::int8_t> L8(x.size());
    float scales8[8];
    search_q3_x8(16, 4, x.data(), L8.data(), scales8);
    for (int g = 0; g < 8; ++g) {
      std::vector<std::int8_t> L(16);
      const float s = search_q3(16, 4, x.data() + g * 16, L.data());
      EXPECT_TRUE(same_float(scales8[g], s)) << "group " << g;
      for (int i = 0; i < 16; ++i) EXPECT_EQ(L8[static_cast<std::size_t>(g * 16 + i)], L[static_cast<std::size_t>(i)]) << "group " << g << " element " << i;
      // how often the descent moved a code off the first fit (so the test exercises it)
      float mx = 0, signed_max = 0;
      for (int i = 0; i < 16; ++i)
        if (std::fabs(x[static_cast<std::size_t>(g * 16 + i)]) > mx) {
          mx = std::fabs(x[static_cast<std::size_t>(g * 16 + i)]);
          signed_max = x[static_cast<std::size_t>(g * 16 + i)];
        }
      if (mx >= kGroupMaxEps)
        for (int i = 0; i < 16; ++i) {
          const int first = std::clamp(nearest_int(-4.f / signed_max * x[static_cast<std::size_t>(g * 16 + i)]), -4, 3);
          moved += (first + 4) != L[static_cast<std::size_t>(i)];
        }
    }
  }
  EXPECT_GT(moved, 0) << "the coordinate descent never moved a code: the test does not reach it";
}

}  // namespace
