// Checkpoints written by torch code that follows the producers (tests/fixtures/gen_quantized.py), read by
// the runtime's loader: every Linear weight qlab dequantizes from the packed bytes must equal, bit for
// bit, what the script computed as vLLM's loaders do (ModelOpt: code * scale * weight_scale_2;
// compressed-tensors: code * scale * (1 / global scale); MXFP4: code * 2^(e - 127); FP8: q * scale).
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "engine/io/quant_checkpoint.h"
#include "engine/io/safetensors.h"
#include "engine/model/model.h"

namespace qlab {
namespace {

namespace fs = std::filesystem;

const fs::path kFixtures = fs::path(QLAB_SOURCE_DIR) / "tests" / "fixtures" / "quantized";

TEST(FixtureCheckpoints, LoaderDequantizesAsVllmDoes) {
  if (!fs::exists(kFixtures / "manifest.json"))
    GTEST_SKIP() << "no fixtures yet: run python3 tests/fixtures/gen_quantized.py --out tests/fixtures/quantized";
  std::ifstream f(kFixtures / "manifest.json");
  const nlohmann::json manifest = nlohmann::json::parse(f);
  for (const auto& c : manifest["cases"]) {
    const fs::path dir = kFixtures / c["name"].get<std::string>();
    SCOPED_TRACE(dir.filename().string());
    const auto scheme = io::read_checkpoint_scheme(dir);
    ASSERT_TRUE(scheme);
    EXPECT_EQ(scheme->method, c["method"].get<std::string>());
    EXPECT_EQ(io::layout_name(scheme->layout), c["export"].get<std::string>());
    const model::Model m = model::Model::load(dir);
    const io::TensorStore want = io::TensorStore::open(dir / "dequant.safetensors");
    std::size_t checked = 0;
    for (std::size_t l = 0; l < m.weights().layers.size(); ++l) {
      const model::LayerWeights& lw = m.weights().layers[l];
      const std::pair<const char*, const tensor::Matrix*> mats[] = {
          {"self_attn.q_proj", &lw.wq}, {"self_attn.k_proj", &lw.wk}, {"self_attn.v_proj", &lw.wv},
          {"self_attn.o_proj", &lw.wo}, {"mlp.gate_proj", &lw.w_gate}, {"mlp.up_proj", &lw.w_up},
          {"mlp.down_proj", &lw.w_down}};
      for (const auto& [name, w] : mats) {
        const std::string t = fmt::format("model.layers.{}.{}.weight", l, name);
        EXPECT_EQ(w->type, tensor::ElemType::Packed) << t;
        const std::vector<float> got = w->to_f32(), ref = io::to_f32(want.at(t));
        ASSERT_EQ(got.size(), ref.size()) << t;
        // Bit for bit, except the sign of a zero: a negative E2M1 or integer zero code times its scale
        // is -0 here and +0 where the reference multiplies through a table; no product can tell them apart.
        for (std::size_t i = 0; i < got.size(); ++i) {
          if (got[i] == 0.0f && ref[i] == 0.0f) continue;
          ASSERT_EQ(std::memcmp(&got[i], &ref[i], 4), 0) << t << " element " << i << ": " << got[i] << " vs " << ref[i];
        }
        ++checked;
      }
    }
    EXPECT_EQ(checked, 14u);
  }
}

}  // namespace
}  // namespace qlab
