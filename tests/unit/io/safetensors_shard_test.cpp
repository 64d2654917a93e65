// Sharded folders: model.safetensors.index.json + shards, and every way the two can disagree.
#include <gtest/gtest.h>

#include "engine/io/safetensors.h"
#include "tests/unit/io/io_test_util.h"

namespace qlab::io {
namespace {

using namespace qlab::io::testing;

struct Shards : ::testing::Test {
  ScratchDir dir;
  std::vector<float> a{1, 2, 3, 4, 5, 6}, b{7, 8}, c{9};

  std::span<const std::byte> bytes(const std::vector<float>& v) { return std::as_bytes(std::span(v)); }
  void write_shards() {
    write_safetensors(dir / "model-00001-of-00002.safetensors",
                      {{"x.a", DType::F32, {2, 3}, bytes(a)}, {"x.b", DType::F32, {2}, bytes(b)}}, {{"format", "pt"}});
    write_safetensors(dir / "model-00002-of-00002.safetensors", {{"y.c", DType::F32, {1}, bytes(c)}},
                      {{"format", "pt"}});
  }
  void write_index(const std::string& weight_map) {
    write_raw(dir / "model.safetensors.index.json",
              R"({"metadata": {"total_size": 36}, "weight_map": )" + weight_map + "}");
  }
  const std::string good_map = R"({"x.a": "model-00001-of-00002.safetensors", "x.b": "model-00001-of-00002.safetensors",
                                   "y.c": "model-00002-of-00002.safetensors"})";
};

TEST_F(Shards, OpensThroughTheIndex) {
  write_shards();
  write_index(good_map);
  auto s = TensorStore::open(dir.path());
  EXPECT_EQ(s.names(), (std::vector<std::string>{"x.a", "x.b", "y.c"}));
  EXPECT_EQ(s.files().size(), 2u);
  EXPECT_EQ(s.total_bytes(), 36u);
  EXPECT_EQ(to_f32(s.at("x.a")), a);
  EXPECT_EQ(to_f32(s.at("y.c")), c);
  EXPECT_NE(s.at("y.c").file.find("model-00002-of-00002.safetensors"), std::string::npos);
  EXPECT_EQ(s.metadata().at("format"), "pt");
  // the index file itself can be given too
  EXPECT_EQ(TensorStore::open(dir / "model.safetensors.index.json").size(), 3u);
}

TEST_F(Shards, MissingShardIsNamed) {
  write_shards();
  write_index(good_map);
  fs::remove(dir / "model-00002-of-00002.safetensors");
  expect_error([&] { TensorStore::open(dir.path()); },
               {"model.safetensors.index.json", "shard 'model-00002-of-00002.safetensors' is missing", "'y.c'"});
}

TEST_F(Shards, TensorListedButAbsentFromItsShard) {
  write_shards();
  write_index(R"({"x.a": "model-00001-of-00002.safetensors", "x.b": "model-00001-of-00002.safetensors",
                  "y.c": "model-00002-of-00002.safetensors", "y.d": "model-00002-of-00002.safetensors"})");
  expect_error([&] { TensorStore::open(dir.path()); },
               {"tensor 'y.d'", "model-00002-of-00002.safetensors", "does not hold it"});
}

TEST_F(Shards, TensorInShardButNotListedThere) {
  write_shards();
  write_index(R"({"x.a": "model-00001-of-00002.safetensors", "y.c": "model-00002-of-00002.safetensors"})");
  expect_error([&] { TensorStore::open(dir.path()); }, {"tensor 'x.b'", "does not list it"});
}

TEST_F(Shards, CorruptShardIsNamed) {
  write_shards();
  write_index(good_map);
  std::string f = read_raw(dir / "model-00002-of-00002.safetensors");
  write_raw(dir / "model-00002-of-00002.safetensors", f.substr(0, f.size() - 1));
  expect_error([&] { TensorStore::open(dir.path()); }, {"model-00002-of-00002.safetensors", "tensor 'y.c'"});
}

TEST_F(Shards, IndexMustNotPointOutsideTheFolder) {
  write_shards();
  write_index(R"({"x.a": "../model-00001-of-00002.safetensors"})");
  expect_error([&] { TensorStore::open(dir.path()); }, {"not a plain file name", "'x.a'"});
  write_index(R"({"x.a": "/etc/passwd"})");
  expect_error([&] { TensorStore::open(dir.path()); }, {"not a plain file name"});
}

TEST_F(Shards, BrokenIndex) {
  write_raw(dir / "model.safetensors.index.json", R"({"metadata": {}})");
  expect_error([&] { TensorStore::open(dir.path()); }, {"model.safetensors.index.json", "weight_map", "missing"});
  write_raw(dir / "model.safetensors.index.json", R"({"weight_map": {"a": 3}})");
  expect_error([&] { TensorStore::open(dir.path()); }, {"weight_map['a']", "file name"});
  write_raw(dir / "model.safetensors.index.json", R"({"weight_map": {"a": "x", "a": "y"}})");
  expect_error([&] { TensorStore::open(dir.path()); }, {"duplicate key 'a'"});
  write_raw(dir / "model.safetensors.index.json", R"({"weight_map": {}})");
  expect_error([&] { TensorStore::open(dir.path()); }, {"lists no tensors"});
  write_raw(dir / "model.safetensors.index.json", R"({"weight_map": )");
  expect_error([&] { TensorStore::open(dir.path()); }, {"model.safetensors.index.json", "invalid JSON"});
}

}  // namespace
}  // namespace qlab::io
