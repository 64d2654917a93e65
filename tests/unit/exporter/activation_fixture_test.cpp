// Run-time activation quantization (formats/activation_qdq.h) against torch: tests/fixtures/quantized/
// activations.safetensors, written by gen_activation_qdq.py after vLLM's float32 reference for NVFP4 W4A4
// (ref_nvfp4_quant and its dequantization) and its static per-tensor FP8 quantization, with torch's own
// float8_e4m3fn casts. Every value must come out equal (a signed zero equals either zero).
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "engine/formats/activation_qdq.h"
#include "engine/io/safetensors.h"

namespace qlab::formats {
namespace {

float scalar(const io::TensorRef& t) {
  float v = 0;
  std::memcpy(&v, t.bytes.data(), sizeof v);
  return v;
}

TEST(ActivationFixture, EqualsVllmsReferenceInTorch) {
  const io::TensorStore st = io::TensorStore::open(std::filesystem::path(QLAB_SOURCE_DIR) / "tests" / "fixtures" /
                                                   "quantized" / "activations.safetensors");
  int cases = 0;
  for (const std::string kind : {"nvfp4", "fp8"}) {
    for (int i = 0; st.find(kind + "." + std::to_string(i) + ".x"); ++i, ++cases) {
      const std::string p = kind + "." + std::to_string(i) + ".";
      SCOPED_TRACE(p);
      const io::TensorRef& xt = st.at(p + "x");
      std::vector<float> x = io::to_f32(xt);
      const std::vector<float> want = io::to_f32(st.at(p + "y"));
      if (kind == "nvfp4")
        nvfp4_activation_qdq(x, xt.shape[1], scalar(st.at(p + "g")));
      else
        fp8_activation_qdq(x, scalar(st.at(p + "scale")));
      ASSERT_EQ(x.size(), want.size());
      std::size_t differ = 0, first = x.size();
      for (std::size_t k = 0; k < x.size(); ++k)
        if (!(x[k] == want[k])) {
          if (first == x.size()) first = k;
          ++differ;
        }
      EXPECT_EQ(differ, 0u) << "first at " << first << ": " << (first < x.size() ? x[first] : 0.0f) << " vs "
                            << (first < x.size() ? want[first] : 0.0f);
    }
  }
  EXPECT_EQ(cases, 7);
}

}  // namespace
}  // namespace qlab::formats
