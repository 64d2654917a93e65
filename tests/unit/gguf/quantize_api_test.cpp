// quantize_tensor's contract around the codecs (the codecs' bytes are checked against llama.cpp in
// llama_cpp_files_test.cpp and reference_vectors_test.cpp): what it refuses, as llama-quantize
// refuses it, and that threads never change the bytes.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "engine/core/error.h"
#include "engine/core/threads.h"
#include "engine/gguf/quantize.h"

namespace {

using namespace qlab::gguf;

std::string error_of(auto&& f) {
  try {
    f();
  } catch (const qlab::Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(QuantizeApi, RefusesWhatLlamaQuantizeRefuses) {
  std::vector<float> x(512, 0.25f);
  EXPECT_NE(error_of([&] { quantize_tensor(GgmlType::Q4_K, x.data(), 2, 250, nullptr, "blk.0.w"); })
                .find("blk.0.w: a row of 250 elements is not a whole number of q4_K blocks"), std::string::npos);
  x[300] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_NE(error_of([&] { quantize_tensor(GgmlType::Q8_0, x.data(), 2, 256, nullptr, "w"); })
                .find("w: the input has a non-finite value (nan) at row 1, column 44"), std::string::npos);
  x[300] = 0;
  std::vector<float> im(256, 1.0f);
  im[3] = std::numeric_limits<float>::infinity();
  EXPECT_NE(error_of([&] { quantize_tensor(GgmlType::Q4_K, x.data(), 2, 256, im.data(), "w"); })
                .find("the importance matrix has a non-finite value"), std::string::npos);
  // A scale that overflows fp16 fails ggml's validation of the result: llama-quantize stops there.
  std::vector<float> big(32, 3e9f);
  EXPECT_NE(error_of([&] { quantize_tensor(GgmlType::Q4_0, big.data(), 1, 32, nullptr, "w"); })
                .find("w: q4_0 block 0 has a non-finite fp16 scale"), std::string::npos);
  std::vector<float> f16_big(4, 1e6f);
  EXPECT_NE(error_of([&] { quantize_tensor(GgmlType::F16, f16_big.data(), 1, 4, nullptr, "w"); }).find("not finite"),
            std::string::npos);
  EXPECT_NE(error_of([&] { quantize_tensor(GgmlType::IQ2_XXS, x.data(), 2, 256); }).find("cannot convert ggml type iq2_xxs"),
            std::string::npos);
}

TEST(QuantizeApi, ThreadsDoNotChangeTheBytes) {
  std::mt19937 rng(9);
  std::normal_distribution<float> nd(0, 0.05f);
  const std::int64_t rows = 96, cols = 512;
  std::vector<float> x(rows * cols), im(cols);
  for (auto& v : x) v = nd(rng);
  for (auto& v : im) v = std::abs(nd(rng)) * 100;
  for (GgmlType t : {GgmlType::Q4_0, GgmlType::Q5_1, GgmlType::Q2_K, GgmlType::Q4_K, GgmlType::Q6_K, GgmlType::MXFP4}) {
    SCOPED_TRACE(std::string(type_name(t)));
    for (const float* w : {static_cast<const float*>(nullptr), static_cast<const float*>(im.data())}) {
      const auto all = quantize_tensor(t, x.data(), rows, cols, w);  // the pool
      std::vector<std::byte> one(all.size());
      quantize_rows(t, x.data(), rows, cols, w, one);  // this thread only
      EXPECT_EQ(all, one);
    }
  }
}

TEST(QuantizeApi, ImatrixIgnoredWhereGgmlIgnoresIt) {
  std::vector<float> x(256), im(256, 0.0f);
  for (int i = 0; i < 256; ++i) x[i] = std::sin(0.37f * static_cast<float>(i));
  for (GgmlType t : {GgmlType::Q8_0, GgmlType::MXFP4, GgmlType::F16, GgmlType::BF16, GgmlType::F32})
    EXPECT_EQ(quantize_tensor(t, x.data(), 1, 256, im.data()), quantize_tensor(t, x.data(), 1, 256)) << type_name(t);
  EXPECT_FALSE(uses_imatrix(GgmlType::Q8_0));
  EXPECT_TRUE(uses_imatrix(GgmlType::Q3_K));
}

TEST(QuantizeApi, ZeroBlocksDecodeToZero) {
  std::vector<float> x(512, 0.0f), y(512, 1.0f);
  for (const auto& tr : all_types()) {
    if (!tr.qlab_converts) continue;
    SCOPED_TRACE(std::string(tr.name));
    const auto q = quantize_tensor(tr.type, x.data(), 1, 512);
    dequantize_rows(tr.type, q, 512, y);
    for (float v : y) EXPECT_EQ(v, 0.0f);
  }
}

}  // namespace
