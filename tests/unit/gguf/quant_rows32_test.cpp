// The vectorized row codecs (quant_rows32) against the one-block reference codecs (quant_legacy,
// quant_mxfp4) and the one-value fp16 conversion (half.h) they stand in for, byte for byte, on blocks of many kinds: random and heavy-tailed
// values, ties between +a and -a for the extreme, zeros of both signs (whose sign the stored bytes
// keep), exact halves for Q8_0's rounding, subnormal and huge values, a range that overflows float,
// and rows whose block count is not a multiple of the eight-block searches. (The reference codecs
// themselves are checked against llama-quantize's bytes in llama_cpp_files_test.cpp.)
#include <gtest/gtest.h>

#include <bit>
#include <cfloat>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <random>
#include <vector>

#include "engine/gguf/blocks.h"
#include "engine/gguf/half.h"
#include "engine/gguf/quant_legacy.h"
#include "engine/gguf/quant_mxfp4.h"
#include "engine/gguf/quant_rows32.h"

namespace {

using namespace qlab::gguf;

constexpr int kQK = 32;
constexpr int kKinds = 16;

// Block `b` of kind b % kKinds; `seed` varies the random draws.
std::vector<float> blocks(int nblocks, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.f, 1.f);
  std::student_t_distribution<float> heavy(2.f);
  std::uniform_int_distribution<int> pos(0, kQK - 1);
  std::vector<float> x(static_cast<std::size_t>(nblocks) * kQK);
  for (int b = 0; b < nblocks; ++b) {
    float* v = x.data() + static_cast<std::size_t>(b) * kQK;
    const int kind = b % kKinds;
    for (int j = 0; j < kQK; ++j) {
      switch (kind) {
        case 0: v[j] = normal(rng) * 0.02f; break;
        case 1: v[j] = heavy(rng); break;
        case 2: v[j] = 0.f; break;
        case 3: v[j] = -0.f; break;
        case 4: v[j] = (j % 3 == 0) ? -0.f : (j % 3 == 1 ? 0.f : std::fabs(normal(rng))); break;  // min is a zero
        case 5: v[j] = (j % 2) ? -0.f : -std::fabs(normal(rng)); break;                        // max is a zero
        case 6: v[j] = normal(rng); break;
        case 7: v[j] = std::round(normal(rng) * 3) * 0.5f; break;  // ties, halves
        case 8: v[j] = normal(rng) * 1e-39f; break;                // subnormal: 1/d overflows
        case 9: v[j] = (j % 2 ? 3e38f : -3e38f) * (0.5f + 0.5f * std::fabs(normal(rng)) / 4); break;  // range overflows
        case 10: v[j] = 0.375f; break;                              // constant
        case 11: v[j] = -2.5f; break;                               // constant negative
        case 12: v[j] = static_cast<float>(j - 16) + 0.5f; break;   // Q8_0 halves: d = 1 when amax is 127 ...
        case 13: v[j] = static_cast<float>((j * 37) % 255 - 127) / 2; break;  // ... and exact .5 steps
        case 14: v[j] = normal(rng) * 1e-30f; break;
        default: v[j] = normal(rng) * 100.f; break;
      }
    }
    if (kind == 6) {  // +a and -a both extreme: the first one wins
      const int p = pos(rng), q = (p + 1 + pos(rng) % (kQK - 1)) % kQK;
      v[p] = 7.f;
      v[q] = -7.f;
    }
    if (kind == 12) v[31] = 127.f;
  }
  return x;
}

template <typename Block, typename Ref>
std::vector<std::byte> one_at_a_time(const std::vector<float>& x, Ref ref) {
  const std::size_t nb = x.size() / kQK;
  std::vector<std::byte> out(nb * sizeof(Block));
  for (std::size_t b = 0; b < nb; ++b) {
    Block blk;
    ref(x.data() + b * kQK, blk);
    std::memcpy(out.data() + b * sizeof blk, &blk, sizeof blk);
  }
  return out;
}

template <typename Block>
void expect_same_blocks(const std::vector<std::byte>& got, const std::vector<std::byte>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t b = 0; b < want.size() / sizeof(Block); ++b)
    EXPECT_EQ(0, std::memcmp(got.data() + b * sizeof(Block), want.data() + b * sizeof(Block), sizeof(Block)))
        << "block " << b << " (kind " << b % kKinds << ")";
}

template <typename Block, typename Ref, typename Fast>
void check_ref(Ref ref, Fast fast) {
  for (unsigned seed = 1; seed <= 8; ++seed) {
    const std::vector<float> x = blocks(3 * kKinds + 5, seed);
    std::vector<std::byte> got(x.size() / kQK * sizeof(Block));
    fast(x.data(), static_cast<std::int64_t>(x.size() / kQK), got.data());
    expect_same_blocks<Block>(got, one_at_a_time<Block>(x, ref));
  }
}

TEST(Rows32, ReferenceRulesEqualTheOneBlockCodecs) {
  check_ref<BlockQ4_0>(quantize_q4_0_ref, quantize_q4_0_ref_blocks);
  check_ref<BlockQ4_1>(quantize_q4_1_ref, quantize_q4_1_ref_blocks);
  check_ref<BlockQ5_0>(quantize_q5_0_ref, quantize_q5_0_ref_blocks);
  check_ref<BlockQ5_1>(quantize_q5_1_ref, quantize_q5_1_ref_blocks);
  check_ref<BlockQ8_0>(quantize_q8_0_ref, quantize_q8_0_ref_blocks);
  check_ref<BlockMXFP4>(quantize_mxfp4, quantize_mxfp4_blocks);
}

// Every pattern of the top 20 bits (sign, exponent, the mantissa bits fp16 keeps and the first
// dropped one) with five kinds of low bits: zero (exact ties, for normal and subnormal halves alike),
// all ones, the bit below the tie bit alone, its complement, and one random draw. NaN and inf
// included. The row is 8-lane vectors plus a tail of 3.
TEST(Rows32, Fp16RowEqualsTheOneValueConversion) {
  std::mt19937 rng(5);
  std::vector<float> x;
  x.reserve((std::size_t{1} << 20) * 5 + 3);
  for (std::uint32_t hi = 0; hi < (1u << 20); ++hi)
    for (const std::uint32_t lo : {0u, 0xFFFu, 0x800u, 0x7FFu, static_cast<std::uint32_t>(rng()) & 0xFFFu})
      x.push_back(std::bit_cast<float>((hi << 12) | lo));
  x.insert(x.end(), {1.f, -65520.f, 65519.f});
  std::vector<std::byte> got(x.size() * 2);
  fp32_to_fp16_row(x.data(), static_cast<std::int64_t>(x.size()), got.data());
  std::size_t bad = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    std::uint16_t h;
    std::memcpy(&h, got.data() + 2 * i, 2);
    if (h != fp32_to_fp16(x[i]) && bad++ < 10)
      ADD_FAILURE() << std::hex << "bits 0x" << std::bit_cast<std::uint32_t>(x[i]) << ": 0x" << h << ", want 0x"
                    << fp32_to_fp16(x[i]);
  }
  EXPECT_EQ(bad, 0u);
}

// Q8_0's halves really are ties here (so the rounding rule is what the bytes test): block kind 12
// has d = 1 and values k + 0.5.
TEST(Rows32, Q8HalvesRoundAwayFromZero) {
  const std::vector<float> x = blocks(kKinds, 1);
  std::vector<std::byte> got(kKinds * sizeof(BlockQ8_0));
  quantize_q8_0_ref_blocks(x.data(), kKinds, got.data());
  BlockQ8_0 b;
  std::memcpy(&b, got.data() + 12 * sizeof b, sizeof b);
  EXPECT_EQ(b.qs[0], -16);  // -15.5
  EXPECT_EQ(b.qs[15], -1);  // -0.5
  EXPECT_EQ(b.qs[16], 1);   // 0.5
  EXPECT_EQ(b.qs[17], 2);   // 1.5
  EXPECT_EQ(b.qs[31], 127);
}

template <typename Block, typename One, typename Fast>
void check_weighted(One one, Fast fast) {
  // 11 blocks: one eight-block search and three blocks alone; 24 blocks: three searches.
  for (const int nb : {11, 24, 5}) {
    for (unsigned seed = 1; seed <= 4; ++seed) {
      SCOPED_TRACE(::testing::Message() << nb << " blocks, seed " << seed);
      std::vector<float> x = blocks(nb, seed);
      for (int b = 0; b < nb; ++b) {  // the weighted paths need values a row's sigma2 can hold
        float* v = x.data() + static_cast<std::size_t>(b) * kQK;
        for (int j = 0; j < kQK; ++j)
          if (!(std::fabs(v[j]) < 1e10f)) v[j] = (j % 2 ? 1.f : -1.f) * (b % 3 + 1);
      }
      std::mt19937 rng(seed + 100);
      std::lognormal_distribution<float> ln(0.f, 1.5f);
      std::vector<float> qw(x.size());
      for (auto& w : qw) w = ln(rng);
      const auto cols = static_cast<std::int64_t>(x.size());
      std::vector<std::byte> got(static_cast<std::size_t>(nb) * sizeof(Block)), want(got.size());
      fast(x.data(), qw.data(), cols, got.data());
      const float sigma2 = row_sigma2(x.data(), cols);
      for (int b = 0; b < nb; ++b) {
        Block blk;
        one(x.data() + b * kQK, qw.data() + b * kQK, sigma2, blk);
        std::memcpy(want.data() + static_cast<std::size_t>(b) * sizeof blk, &blk, sizeof blk);
      }
      expect_same_blocks<Block>(got, want);
    }
  }
}

TEST(Rows32, WeightedRowsEqualTheOneBlockCodecs) {
  check_weighted<BlockQ4_0>(quantize_q4_0_weighted, quantize_q4_0_weighted_row);
  check_weighted<BlockQ4_1>(quantize_q4_1_weighted, quantize_q4_1_weighted_row);
  check_weighted<BlockQ5_0>(quantize_q5_0_weighted, quantize_q5_0_weighted_row);
  check_weighted<BlockQ5_1>(quantize_q5_1_weighted, quantize_q5_1_weighted_row);
}

}  // namespace
