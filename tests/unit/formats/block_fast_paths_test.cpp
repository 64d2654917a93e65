// The fast quantize paths against the reference paths, bit for bit, on data chosen to break them:
// values on and one or two ulps either side of every E2M1 decision boundary of the block's real
// scale (ties included), all-equal blocks, zeros and negative zeros, subnormals, a tensor amax so
// small that NVFP4's tensor scale underflows, values near the float maximum, and random data
// spread over many binades. The reference paths divide element by element as the formats'
// definitions do; the fast paths must reproduce every code, scale and zero point.
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "block_test_util.h"
#include "engine/core/error.h"
#include "engine/core/threads.h"
#include "engine/formats/block.h"
#include "engine/formats/scalar.h"

namespace qlab::formats {
namespace {

using blocktest::spec;

void expect_paths_equal(const std::string& name, const std::vector<float>& x, std::int64_t rows,
                        std::int64_t cols, const std::string& what) {
  SCOPED_TRACE(name + ": " + what);
  const BlockFormatSpec s = spec(name);
  QuantizedTensor f, r;
  bool fast_failed = false, reference_failed = false;
  try {
    f = quantize(s, x, rows, cols, KernelPath::Fast);
  } catch (const Error&) {
    fast_failed = true;  // e.g. an int group whose float16 scale overflows
  }
  try {
    r = quantize(s, x, rows, cols, KernelPath::Reference);
  } catch (const Error&) {
    reference_failed = true;
  }
  ASSERT_EQ(fast_failed, reference_failed);
  if (fast_failed) return;
  ASSERT_EQ(f.tensor_scales, r.tensor_scales);
  ASSERT_EQ(f.scales, r.scales);
  ASSERT_EQ(f.zeros, r.zeros);
  ASSERT_EQ(f.data.size(), r.data.size());
  for (std::size_t i = 0; i < f.data.size(); ++i)
    ASSERT_EQ(f.data[i], r.data[i]) << "byte " << i << " (elements " << 2 * i << ", " << 2 * i + 1
                                    << ": " << x[2 * i] << ", " << x[2 * i + 1] << ")";
}

float next_up(float v, int n) {
  for (int i = 0; i < n; ++i) v = std::nextafter(v, std::numeric_limits<float>::infinity());
  for (int i = 0; i > n; --i) v = std::nextafter(v, -std::numeric_limits<float>::infinity());
  return v;
}

// NVFP4 blocks whose elements sit on the E2M1 boundaries of the block's own effective scale
// e = float(E4M3(amax / (6 s2))) * s2, as the format computes it, and up to two ulps either side.
std::vector<float> nvfp4_boundary_tensor(std::int64_t rows, std::int64_t cols, float tensor_amax, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> frac(0.02f, 1.0f);
  std::uniform_int_distribution<int> pick(0, 6), ulp(-2, 2), sign(0, 1);
  const float boundaries[7] = {0.25f, 0.75f, 1.25f, 1.75f, 2.5f, 3.5f, 5.0f};
  const float s2 = tensor_amax / 2688.0f;
  std::vector<float> x(static_cast<std::size_t>(rows * cols));
  for (std::int64_t b = 0; b < rows * cols / 16; ++b) {
    float* w = x.data() + b * 16;
    const float amax = b == 0 ? tensor_amax : tensor_amax * frac(rng);
    float p = amax / (6.0f * s2);
    const float e = e4m3_to_f32(f32_to_e4m3_sat(p)) * s2;
    w[0] = sign(rng) ? -amax : amax;
    for (int i = 1; i < 16; ++i) {
      float v = next_up(boundaries[pick(rng)] * e, ulp(rng));
      if (v > amax) v = amax;  // keep the block's amax (and so its scale) as chosen
      w[i] = sign(rng) ? -v : v;
    }
  }
  return x;
}

TEST(BlockFastPaths, Nvfp4OnEveryBoundaryOfRealScales) {
  set_thread_count(3);
  for (float amax : {1.0f, 0.0371f, 5.25f, 448.0f * 6.0f, 3.0e-3f, 1.7e37f, 2.0e-36f, 7.3e-39f}) {
    std::vector<float> x = nvfp4_boundary_tensor(32, 256, amax, 7);
    expect_paths_equal("nvfp4", x, 32, 256, "tensor amax " + std::to_string(amax));
  }
  // an odd block count per row (the last block takes the narrow path)
  expect_paths_equal("nvfp4", nvfp4_boundary_tensor(40, 48, 2.5f, 3), 40, 48, "48 columns");
  expect_paths_equal("nvfp4", nvfp4_boundary_tensor(9, 16, 0.7f, 4), 9, 16, "16 columns");
}

// Every format of interest on special patterns, several row lengths.
TEST(BlockFastPaths, SpecialPatternsEveryFormat) {
  set_thread_count(2);
  const std::int64_t rows = 6, cols = 256;
  const std::size_t n = static_cast<std::size_t>(rows * cols);
  const float tiny = std::numeric_limits<float>::denorm_min(), big = std::numeric_limits<float>::max();
  std::vector<std::pair<std::string, std::vector<float>>> cases;
  cases.push_back({"zeros", std::vector<float>(n, 0.0f)});
  cases.push_back({"negative zeros", std::vector<float>(n, -0.0f)});
  cases.push_back({"all equal", std::vector<float>(n, 0.3f)});
  cases.push_back({"all equal negative", std::vector<float>(n, -1.7e-5f)});
  cases.push_back({"denorm_min", std::vector<float>(n, tiny)});
  {
    std::vector<float> v(n);
    for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<float>(static_cast<int>(i % 7) - 3) * tiny * 5.0f;
    cases.push_back({"subnormal tensor (NVFP4 tensor scale underflows)", v});
  }
  {
    std::vector<float> v(n);
    for (std::size_t i = 0; i < n; ++i) v[i] = (i % 3 == 0 ? -1.0f : 1.0f) * big / static_cast<float>(1 + i % 5);
    cases.push_back({"near float max", v});
  }
  {
    std::vector<float> v(n);
    for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<float>(static_cast<int>(i % 33) - 16) * 0.25f;
    cases.push_back({"quarter steps (E2M1 and integer ties)", v});
  }
  {
    std::vector<float> v(n);
    for (std::size_t i = 0; i < n; ++i) v[i] = (i % 16 == 0) ? 6.0f : static_cast<float>(i % 16) * 0.375f;
    cases.push_back({"half-integer multiples of the scale", v});
  }
  {
    std::mt19937 rng(99);
    std::uniform_real_distribution<float> ex(-40.0f, 40.0f);
    std::vector<float> v(n);
    for (auto& e : v) e = std::ldexp(1.0f, static_cast<int>(ex(rng))) * (ex(rng) < 0 ? -1.0f : 1.0f);
    cases.push_back({"powers of two over 80 binades", v});
  }
  for (const char* name : {"nvfp4", "mxfp4", "int4-g128", "int4-g128-sym", "int4-g32", "int4-g64", "int4-ch"})
    for (const auto& [what, x] : cases) expect_paths_equal(name, x, rows, cols, what);
}

// Random tensors: gaussian, uniform over many binades, heavy outliers; integer ties for int4 by
// making elements exact half-integer multiples of a float16 step.
TEST(BlockFastPaths, RandomTensors) {
  set_thread_count(4);
  std::mt19937 rng(2024);
  const std::int64_t rows = 16, cols = 512;
  const std::size_t n = static_cast<std::size_t>(rows * cols);
  for (int trial = 0; trial < 24; ++trial) {
    std::vector<float> x(n);
    const float scale = std::ldexp(1.0f, static_cast<int>(rng() % 120) - 60);
    std::normal_distribution<float> nd(0.0f, scale);
    std::uniform_real_distribution<float> ex(-30.0f, 30.0f);
    for (std::size_t i = 0; i < n; ++i) {
      switch (trial % 4) {
        case 0: x[i] = nd(rng); break;
        case 1: x[i] = scale * std::exp2(ex(rng)) * (rng() % 2 ? 1.0f : -1.0f); break;
        case 2: x[i] = nd(rng) * (rng() % 97 == 0 ? 1000.0f : 1.0f); break;
        default: x[i] = static_cast<float>(static_cast<int>(rng() % 61) - 30) * 0.5f * scale; break;
      }
    }
    for (const char* name : {"nvfp4", "mxfp4", "int4-g128", "int4-g128-sym", "int4-g32"})
      expect_paths_equal(name, x, rows, cols, "trial " + std::to_string(trial));
  }
}

}  // namespace
}  // namespace qlab::formats
