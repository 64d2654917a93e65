// Against files written by llama.cpp's llama-quantize (tests/fixtures/gguf, blocks.json): for every
// type qlab writes, with and without an importance matrix (GGUF and legacy .dat), each tensor
// quantized by qlab from inputs.gguf equals llama-quantize's bytes; dequantized it equals what
// llama.cpp dequantizes (fingerprint); the reader reads llama.cpp's files and the writer
// reproduces each of them byte for byte.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>

#include "engine/gguf/gguf_file.h"
#include "engine/gguf/gguf_writer.h"
#include "engine/gguf/imatrix_file.h"
#include "engine/gguf/quantize.h"
#include "gguf_fixtures.h"

namespace {

namespace fs = std::filesystem;
using namespace qlab::gguf;
using namespace qlab::gguf::testing;

TEST(LlamaCppFiles, EveryTypeIsByteExact) {
  const auto manifest = fixture_json("blocks.json");
  const GgufFile inputs = GgufFile::open(fixture(manifest["inputs"]));
  ASSERT_GE(inputs.tensors().size(), 8u);
  std::map<std::string, std::map<std::string, std::vector<float>>> weights;
  for (const char* im : {"imatrix.gguf", "imatrix.dat"}) weights[im] = importance_weights(read_imatrix(fixture(im)));
  int checked = 0;
  for (const auto& c : manifest["cases"]) {
    const std::string file = c["file"];
    SCOPED_TRACE(file);
    const GgufFile out = GgufFile::open(fixture(file));
    const auto type = type_from_name(c["type"].get<std::string>());
    ASSERT_TRUE(type);
    for (const TensorInfo& in : inputs.tensors()) {
      SCOPED_TRACE(in.name);
      const TensorInfo& want = out.tensor(in.name);
      ASSERT_EQ(want.type, *type);
      ASSERT_EQ(want.shape, in.shape);
      const std::vector<float> x = as_floats(in.data);
      const float* w = nullptr;
      if (!c["imatrix"].is_null()) w = weights.at(c["imatrix"].get<std::string>()).at(in.name).data();
      const auto got = quantize_tensor(*type, x.data(), in.rows(), in.row_length(), w, in.name);
      ASSERT_EQ(got.size(), want.data.size());
      EXPECT_TRUE(std::equal(got.begin(), got.end(), want.data.begin())) << "bytes differ from llama-quantize's";
      if (c.contains("dequant_fnv1a64")) {
        std::vector<float> y(static_cast<std::size_t>(in.elements()));
        dequantize_rows(*type, want.data, in.row_length(), y);
        const std::span<const std::byte> yb(reinterpret_cast<const std::byte*>(y.data()), y.size() * 4);
        EXPECT_EQ(fnv1a64(yb), c["dequant_fnv1a64"][in.name].get<std::string>()) << "dequantized values differ";
      }
      ++checked;
    }
  }
  EXPECT_GE(checked, 8 * 23);
}

TEST(LlamaCppFiles, MetadataAsLlamaQuantizeWritesIt) {
  const GgufFile f = GgufFile::open(fixture("q4_K.gguf"));
  EXPECT_EQ(f.version(), 3u);
  const auto& kv = f.metadata();
  ASSERT_GE(kv.size(), 2u);
  // Its two keys come last, general.file_type moved there from the input.
  EXPECT_EQ(kv[kv.size() - 2].first, "general.quantization_version");
  EXPECT_EQ(f.get_u32("general.quantization_version"), 2u);
  EXPECT_EQ(kv.back().first, "general.file_type");
  EXPECT_EQ(f.get_u32("general.file_type"), 15u);  // Q4_K_M
  EXPECT_EQ(f.get_string("general.architecture"), "llama");
  EXPECT_EQ(f.get_strings("tokenizer.ggml.tokens").size(), 512u);
}

TEST(LlamaCppFiles, WriterReproducesEveryFileByteForByte) {
  const auto manifest = fixture_json("blocks.json");
  const fs::path tmp = fs::temp_directory_path() / ("qlab_gguf_rewrite_" + std::to_string(::getpid()) + ".gguf");
  std::vector<std::string> files = {"inputs.gguf", "imatrix.gguf", "imatrix_real.gguf"};
  for (const auto& c : manifest["cases"]) files.push_back(c["file"]);
  for (const std::string& file : files) {
    SCOPED_TRACE(file);
    const GgufFile f = GgufFile::open(fixture(file));
    GgufWriter w;
    for (const auto& [k, v] : f.metadata()) w.set(k, v);
    for (const TensorInfo& t : f.tensors())
      w.add_tensor(t.name, t.type, t.shape, std::vector<std::byte>(t.data.begin(), t.data.end()));
    w.write(tmp);
    const std::string a = qlab::read_file(tmp), b = qlab::read_file(fixture(file));
    EXPECT_EQ(a.size(), b.size());
    EXPECT_TRUE(a == b);
  }
  fs::remove(tmp);
}

}  // namespace
