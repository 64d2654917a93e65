// The tiny models transformers saved (tests/fixtures/models/*): our reader must open every one,
// the config must imply exactly the tensors transformers wrote, and our writer, given the same
// tensors and metadata, must reproduce the safetensors library's files byte for byte.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "engine/io/model_config.h"
#include "engine/io/safetensors.h"
#include "engine/io/tensor_map.h"
#include "tests/unit/io/io_test_util.h"

namespace qlab::io {
namespace {

using namespace qlab::io::testing;

std::vector<fs::path> fixture_models() {
  std::vector<fs::path> out;
  const fs::path root = source_dir() / "tests" / "fixtures" / "models";
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(root, ec))
    if (e.is_directory() && fs::exists(e.path() / "config.json")) out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

TEST(FixtureModels, ArePresent) {
  auto models = fixture_models();
  ASSERT_FALSE(models.empty()) << "no models under tests/fixtures/models (generate with gen_models.py)";
  bool sharded = false, bf16 = false;
  for (const auto& m : models) {
    sharded = sharded || fs::exists(m / "model.safetensors.index.json");
    auto s = TensorStore::open(m);
    for (const auto& n : s.names()) bf16 = bf16 || s.at(n).dtype == DType::BF16;
  }
  EXPECT_TRUE(sharded) << "no sharded fixture";
  EXPECT_TRUE(bf16) << "no bf16 fixture";
}

TEST(FixtureModels, ConfigImpliesExactlyTheSavedTensors) {
  for (const auto& m : fixture_models()) {
    SCOPED_TRACE(m.filename().string());
    const ModelConfig c = load_model_config(m);
    const TensorStore s = TensorStore::open(m);
    const auto expected = tensor_map(c);
    std::set<std::string> names;
    for (const auto& h : expected) {
      names.insert(h.name);
      const TensorRef* t = s.find(h.name);
      ASSERT_NE(t, nullptr) << "transformers saved no " << h.name;
      EXPECT_EQ(t->shape, h.shape) << h.name;
      EXPECT_EQ(t->numel(), h.numel()) << h.name;
      // the role read from the name alone is the one the map gives
      EXPECT_EQ(role_of(h.name), h.role) << h.name;
    }
    for (const auto& n : s.names()) EXPECT_TRUE(names.count(n)) << "unexpected tensor " << n;
    long long params = 0;
    for (const auto& n : s.names()) params += s.at(n).numel();
    EXPECT_EQ(params, c.parameter_count());
    // the dtype transformers stored matches the dtype the config names
    const DType want = c.dtype == "bfloat16" ? DType::BF16 : c.dtype == "float16" ? DType::F16 : DType::F32;
    for (const auto& n : s.names()) EXPECT_EQ(s.at(n).dtype, want) << n;
  }
}

TEST(FixtureModels, WriterReproducesTheLibraryBytes) {
  ScratchDir dir;
  for (const auto& m : fixture_models()) {
    SCOPED_TRACE(m.filename().string());
    const TensorStore s = TensorStore::open(m);
    for (const auto& file : s.files()) {
      // re-open the shard alone to get its own tensors and metadata
      const TensorStore shard = TensorStore::open(file);
      std::vector<TensorToWrite> tensors;
      for (const auto& n : shard.names()) {
        const auto& t = shard.at(n);
        tensors.push_back({n, t.dtype, t.shape, t.bytes});
      }
      const fs::path out = dir / file.filename().string();
      write_safetensors(out, tensors, shard.metadata());
      EXPECT_TRUE(read_raw(out) == read_raw(file)) << file << " differs from our writer's output";
    }
  }
}

TEST(FixtureModels, ShardIndexAgreesWithShards) {
  for (const auto& m : fixture_models()) {
    if (!fs::exists(m / "model.safetensors.index.json")) continue;
    SCOPED_TRACE(m.filename().string());
    auto index = nlohmann::json::parse(read_raw(m / "model.safetensors.index.json"));
    const TensorStore s = TensorStore::open(m);
    EXPECT_GT(s.files().size(), 1u);
    for (const auto& [name, file] : index["weight_map"].items())
      EXPECT_EQ(fs::path(s.at(name).file).filename().string(), file.get<std::string>());
  }
}

}  // namespace
}  // namespace qlab::io
