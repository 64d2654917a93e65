// The slab quantizer against the worked NVFP4 tensor of block-formats.md 1.2 (derived by hand from
// ModelOpt's rules), against the whole-tensor codecs (which the formats tests check against fixtures
// made by ModelOpt and the OCP reference), and the error bound and hash it reports.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "engine/core/error.h"
#include "engine/exporter/slab_quantize.h"
#include "engine/formats/block_params.h"
#include "engine/formats/format_lookup.h"

namespace qlab::exporter {
namespace {

std::vector<float> gaussian(std::size_t n, unsigned seed, float scale = 0.02f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

io::QuantScheme scheme(const char* method, io::QuantLayout layout) { return io::quant_scheme(method, layout); }

TEST(SlabQuantize, WorkedNvfp4TensorOfTheReference) {
  const std::vector<float> row = {5.25f, -2.625f, 1.0f,  0.25f, -0.625f, 2.1875f, -5.25f, 0.0f,
                                  4.375f, -1.3125f, 0.4375f, 2.625f, -1.75f, 0.125f, 4.8125f, -0.875f,
                                  0.85f,  -0.4f,   0.3f,  0.1f,  -0.55f,  0.05f,   0.7f,   -0.2f,
                                  0.0f,   0.6f,    -0.35f, 0.45f, -0.08f,  0.18f,   -0.85f, 0.25f};
  const float s2 = tensor_scale_for(scheme("nvfp4-w4a16", io::QuantLayout::ModelOpt), 5.25f);
  EXPECT_EQ(s2, 0.001953125f);
  const auto q = quantize_slab(formats::block_format("nvfp4"), row, 1, 32, s2);
  const std::vector<std::uint8_t> weight = {0xD7, 0x12, 0x49, 0x0F, 0xB6, 0x51, 0x0C, 0xA7,
                                            0xD7, 0x14, 0x1E, 0xB6, 0x60, 0x5C, 0x39, 0x4F};
  EXPECT_EQ(q.data, weight);
  EXPECT_EQ(q.scales, (std::vector<std::uint8_t>{0x7E, 0x69}));
  ASSERT_EQ(q.tensor_scales.size(), 1u);
  EXPECT_EQ(q.tensor_scales[0], 0.001953125f);
}

// A slab quantized with its tensor's own amax holds exactly what formats::quantize of the whole tensor
// holds, whatever the slab boundaries.
TEST(SlabQuantize, SlabsWithTheTensorAmaxEqualTheWholeTensorCodec) {
  const std::int64_t rows = 37, cols = 96;
  std::vector<float> x = gaussian(static_cast<std::size_t>(rows * cols), 7);
  x[5] = 0.3f;  // an outlier: the tensor amax differs from most blocks'
  float amax = 0;
  for (float v : x) amax = std::max(amax, std::fabs(v));
  for (const char* method : {"nvfp4-w4a16", "mxfp4", "fp8", "fp8-channel"}) {
    SCOPED_TRACE(method);
    const io::QuantScheme s = scheme(method, io::QuantLayout::CompressedTensors);
    const formats::BlockFormatSpec& spec = s.spec();
    const formats::QuantizedTensor whole = formats::quantize(spec, x, rows, cols);
    const float ts = s.format == "nvfp4" ? formats::nvfp4_tensor_scale(amax) : tensor_scale_for(s, amax);
    std::vector<std::uint8_t> data, scales;
    for (std::int64_t r0 = 0; r0 < rows; r0 += 10) {
      const std::int64_t n = std::min<std::int64_t>(10, rows - r0);
      const auto q = quantize_slab(spec, std::span<const float>(x).subspan(r0 * cols, n * cols), n, cols, ts);
      data.insert(data.end(), q.data.begin(), q.data.end());
      scales.insert(scales.end(), q.scales.begin(), q.scales.end());
      if (!whole.tensor_scales.empty()) {
        EXPECT_EQ(q.tensor_scales, whole.tensor_scales);
      }
    }
    EXPECT_EQ(data, whole.data);
    EXPECT_EQ(scales, whole.scales);
  }
}

// compressed-tensors keeps global_scale = 2688 / amax; the codes use its reciprocal, which a reader
// recovers bit for bit.
TEST(SlabQuantize, CompressedTensorsGlobalScaleIsTheReciprocal) {
  const float amax = 0.731f;
  const float v = tensor_scale_for(scheme("nvfp4-w4a16", io::QuantLayout::CompressedTensors), amax);
  EXPECT_EQ(v, 1.0f / (2688.0f / amax));
  EXPECT_NEAR(v, amax / 2688.0f, 1e-6 * v);
}

TEST(SlabQuantize, ErrorBoundHoldsAndCatchesAWrongValue) {
  const std::int64_t rows = 8, cols = 64;
  const std::vector<float> x = gaussian(static_cast<std::size_t>(rows * cols), 3, 1.0f);
  for (const char* f : {"nvfp4", "mxfp4", "fp8-tensor", "fp8-channel"}) {
    SCOPED_TRACE(f);
    const auto q = formats::quantize(formats::block_format(f), x, rows, cols);
    std::vector<float> dq(x.size());
    formats::dequantize(q, dq);
    EXPECT_NO_THROW(check_error_bound(q, x, dq, "w", 0));
    dq[77] += 0.5f;  // far outside every bound at this scale
    EXPECT_THROW(check_error_bound(q, x, dq, "w", 0), Error);
  }
}

TEST(SlabQuantize, HashSeesEveryBit) {
  std::vector<float> a = {1.0f, -0.0f, 3.5f};
  std::vector<float> b = {1.0f, 0.0f, 3.5f};
  EXPECT_NE(hash_values(a), hash_values(b));
  EXPECT_EQ(hash_values(std::span(a).subspan(1), hash_values(std::span(a).first(1))), hash_values(a));
}

}  // namespace
}  // namespace qlab::exporter
