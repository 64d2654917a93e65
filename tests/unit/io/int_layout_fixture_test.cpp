// The integer checkpoint layouts against tests/fixtures/int_layouts (gen_int_layouts.py): Linears packed by
// the producers' own packing code (AutoGPTQ, AutoAWQ, compressed-tensors) and dequantized by the loaders'
// code in PyTorch. qlab's reader must give the loaders' weights bit for bit, and qlab's packer must write
// the producers' bytes from what it read.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "engine/io/int_checkpoint.h"
#include "engine/io/safetensors.h"

namespace qlab::io {
namespace {

namespace fs = std::filesystem;

const fs::path kDir = fs::path(QLAB_SOURCE_DIR) / "tests/fixtures/int_layouts";

TEST(IntLayoutFixture, ReadAsTheLoadersDequantizeAndPackedAsTheProducersPack) {
  std::ifstream f(kDir / "manifest.json");
  ASSERT_TRUE(f) << "missing " << (kDir / "manifest.json");
  const auto manifest = nlohmann::json::parse(f);
  const std::int64_t out = manifest["out"], in = manifest["in"];
  int cases = 0;
  for (const auto& c : manifest["cases"]) {
    const std::string name = c["name"];
    SCOPED_TRACE(name);
    ++cases;
    IntScheme s;
    const std::string layout = c["layout"];
    s.layout = layout == "gptq" ? IntLayout::Gptq : layout == "awq" ? IntLayout::Awq : IntLayout::CompressedTensors;
    s.bits = c["bits"];
    s.group_size = c["group_size"];
    s.symmetric = c["sym"];
    s.act_order = c["act_order"];
    s.scale_dtype = DType::F32;  // the fixture's compressed-tensors scales (GPTQ and AWQ always hold F16)
    const fs::path file = kDir / (name + ".safetensors");
    const TensorStore store = TensorStore::open(file);
    const auto q = read_int_linear(store, s, "layer", out, in);
    ASSERT_TRUE(q.has_value());
    const std::vector<float> got = q->dequantize(), want = to_f32(store.at("expected"));
    ASSERT_EQ(got.size(), want.size());
    std::size_t differ = 0;
    for (std::size_t i = 0; i < got.size(); ++i) differ += std::memcmp(&got[i], &want[i], 4) != 0;
    EXPECT_EQ(differ, 0u) << "weights that differ from the loader's";
    // packed again: the producer's bytes, tensor by tensor
    for (const IntPart& p : pack_int_linear(s, *q, "layer")) {
      const TensorRef& t = store.at("layer." + p.suffix);
      EXPECT_EQ(t.dtype, p.dtype) << p.suffix;
      EXPECT_EQ(t.shape, p.shape) << p.suffix;
      ASSERT_EQ(t.bytes.size(), p.bytes.size()) << p.suffix;
      EXPECT_EQ(std::memcmp(t.bytes.data(), p.bytes.data(), p.bytes.size()), 0) << p.suffix << " bytes differ";
    }
  }
  EXPECT_EQ(cases, 10);
}

}  // namespace
}  // namespace qlab::io
