// float32 <-> fp16 / bf16 against numpy's float16 and ml_dtypes' bfloat16 (tests/fixtures/formats:
// every code decoded; thousands of inputs around every tie, binade and overflow threshold encoded).
// Where those libraries and ggml part ways -- the payload of a NaN -- ggml's behaviour is
// checked instead: NaN encodes to the canonical quiet NaN with the sign kept.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "engine/core/atomic_file.h"
#include "engine/gguf/half.h"

namespace {

namespace fs = std::filesystem;
using namespace qlab::gguf;

std::vector<std::uint32_t> words(const char* name) {
  const std::string s = qlab::read_file(fs::path(QLAB_SOURCE_DIR) / "tests/fixtures/formats" / name);
  std::vector<std::uint32_t> w(s.size() / 4);
  std::memcpy(w.data(), s.data(), w.size() * 4);
  return w;
}

bool is_nan_bits(std::uint32_t b) { return (b & 0x7FFFFFFFu) > 0x7F800000u; }

TEST(Half, DecodeEveryFp16CodeLikeNumpy) {
  const auto dec = words("decode_f16.bin");
  ASSERT_EQ(dec.size(), 65536u);
  for (std::uint32_t h = 0; h < 65536; ++h) {
    const auto got = std::bit_cast<std::uint32_t>(fp16_to_fp32(static_cast<std::uint16_t>(h)));
    if (is_nan_bits(dec[h]))
      EXPECT_TRUE(is_nan_bits(got)) << std::hex << h;
    else
      EXPECT_EQ(got, dec[h]) << std::hex << h;
  }
}

TEST(Half, DecodeEveryBf16CodeLikeMlDtypes) {
  const auto dec = words("decode_bf16.bin");
  ASSERT_EQ(dec.size(), 65536u);
  for (std::uint32_t h = 0; h < 65536; ++h) {
    const auto got = std::bit_cast<std::uint32_t>(bf16_to_fp32(static_cast<std::uint16_t>(h)));
    if (is_nan_bits(dec[h]))
      EXPECT_TRUE(is_nan_bits(got)) << std::hex << h;
    else
      EXPECT_EQ(got, dec[h]) << std::hex << h;
  }
}

// Records (input bits, non-saturating code, saturating code): the non-saturating code is the
// plain round-to-nearest-even cast, which is what ggml does for finite inputs and infinities.
TEST(Half, EncodeFp16AndBf16LikeTheReferenceCasts) {
  for (const char* file : {"encode_f16.bin", "encode_bf16.bin"}) {
    SCOPED_TRACE(file);
    const bool f16 = std::string(file) == "encode_f16.bin";
    const auto rec = words(file);
    ASSERT_GT(rec.size(), 3000u);
    for (std::size_t i = 0; i + 2 < rec.size(); i += 3) {
      if (is_nan_bits(rec[i])) continue;
      const float x = std::bit_cast<float>(rec[i]);
      const std::uint16_t got = f16 ? fp32_to_fp16(x) : fp32_to_bf16(x);
      EXPECT_EQ(got, rec[i + 1]) << std::hex << rec[i];
    }
  }
}

TEST(Half, NaNBecomesTheQuietNaNWithItsSign) {
  EXPECT_EQ(fp32_to_fp16(std::bit_cast<float>(0x7FC00001u)), 0x7E00);
  EXPECT_EQ(fp32_to_fp16(std::bit_cast<float>(0xFF800001u)), 0xFE00);
  EXPECT_EQ(fp32_to_bf16(std::bit_cast<float>(0x7F800001u)), 0x7FC0);  // top half, quiet bit forced
  EXPECT_EQ(fp32_to_bf16(std::bit_cast<float>(0xFFA12345u)), 0xFFE1);
  EXPECT_TRUE(std::isnan(fp16_to_fp32(0x7C01)));
}

TEST(Half, EdgesOfTheRange) {
  EXPECT_EQ(fp32_to_fp16(65504.0f), 0x7BFF);
  EXPECT_EQ(fp32_to_fp16(65519.996f), 0x7BFF);
  EXPECT_EQ(fp32_to_fp16(65520.0f), 0x7C00);                       // the tie rounds to even: infinity
  EXPECT_EQ(fp32_to_fp16(std::ldexp(1.0f, -25)), 0x0000);          // half the smallest subnormal: to even 0
  EXPECT_EQ(fp32_to_fp16(std::nextafter(std::ldexp(1.0f, -25), 1.0f)), 0x0001);
  EXPECT_EQ(fp32_to_fp16(-0.0f), 0x8000);
  EXPECT_EQ(fp16_to_fp32(0x0001), std::ldexp(1.0f, -24));
  EXPECT_EQ(fp32_to_bf16(std::bit_cast<float>(0x3F808000u)), 0x3F80);  // tie to even
  EXPECT_EQ(fp32_to_bf16(std::bit_cast<float>(0x3F818000u)), 0x3F82);
}

}  // namespace
