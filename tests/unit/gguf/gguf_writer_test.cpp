// The GGUF writer: its bytes equal a file built field by field by hand, every value type survives
// a write -> read round trip, set() on an existing key moves it to the end (as ggml's gguf_set_*),
// and a failed write leaves nothing behind. (Byte-identical rewrites of files llama.cpp wrote are
// in llama_cpp_files_test.cpp.)
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "engine/core/atomic_file.h"
#include "engine/core/error.h"
#include "engine/gguf/gguf_file.h"
#include "engine/gguf/gguf_writer.h"
#include "gguf_bytes.h"

namespace {

namespace fs = std::filesystem;
using namespace qlab::gguf;
using qlab::gguf::testing::GgufBytes;

struct TempDir {
  fs::path path = fs::temp_directory_path() / ("qlab_gguf_writer_" + std::to_string(::getpid()) + "_" +
                                               ::testing::UnitTest::GetInstance()->current_test_info()->name());
  TempDir() { fs::create_directories(path); }
  ~TempDir() { fs::remove_all(path); }
};

std::vector<std::byte> bytes_of(const fs::path& p) {
  const std::string s = qlab::read_file(p);
  std::vector<std::byte> b(s.size());
  std::memcpy(b.data(), s.data(), s.size());
  return b;
}

std::vector<std::byte> floats(std::initializer_list<float> v) {
  std::vector<std::byte> b(v.size() * 4);
  std::memcpy(b.data(), std::data(v), b.size());
  return b;
}

TEST(GgufWriter, BytesEqualAHandBuiltFile) {
  TempDir dir;
  GgufWriter w;
  w.set("general.architecture", MetaValue::string("llama"));
  w.set("llama.block_count", MetaValue::u32(3));
  w.add_tensor("a.weight", GgmlType::F32, {2, 1}, floats({1, 2}));  // trailing 1 dropped: n_dims 1
  w.add_tensor("b.weight", GgmlType::F32, {3}, floats({3, 4, 5}));
  w.write(dir.path / "t.gguf");

  GgufBytes want;
  want.header(2, 2).kv_str("general.architecture", "llama").kv_u32("llama.block_count", 3);
  want.tensor("a.weight", {2}, 0, 0).tensor("b.weight", {3}, 0, 32).pad();
  want.put<float>(1).put<float>(2).zeros(24).put<float>(3).put<float>(4).put<float>(5).zeros(20);
  EXPECT_EQ(bytes_of(dir.path / "t.gguf"), want.bytes());
}

TEST(GgufWriter, EveryValueTypeRoundTrips) {
  TempDir dir;
  GgufWriter w;
  std::vector<std::pair<std::string, MetaValue>> kv = {
      {"v.u8", MetaValue::u8(200)},          {"v.i8", MetaValue::i8(-100)},
      {"v.u16", MetaValue::u16(60000)},      {"v.i16", MetaValue::i16(-30000)},
      {"v.u32", MetaValue::u32(4000000000u)}, {"v.i32", MetaValue::i32(-2000000000)},
      {"v.f32", MetaValue::f32(-1.25f)},     {"v.bool", MetaValue::boolean(true)},
      {"v.str", MetaValue::string("h\xC3\xA9llo")}, {"v.u64", MetaValue::u64(1ull << 60)},
      {"v.i64", MetaValue::i64(-(1ll << 60))}, {"v.f64", MetaValue::f64(3.5e300)},
      {"a.u8", MetaValue::array(std::vector<std::uint8_t>{1, 2})},
      {"a.i32", MetaValue::array(std::vector<std::int32_t>{-1, 6, 3})},
      {"a.f32", MetaValue::array(std::vector<float>{0.5f})},
      {"a.str", MetaValue::array(std::vector<std::string>{"a b", "", "c"})},
      {"a.bool", MetaValue::bool_array({true, false, true})},
      {"a.u64", MetaValue::array(std::vector<std::uint64_t>{})},
      {"a.f64", MetaValue::array(std::vector<double>{1.0, -2.0})},
  };
  for (const auto& [k, v] : kv) w.set(k, v);
  w.write(dir.path / "t.gguf");
  const GgufFile f = GgufFile::open(dir.path / "t.gguf");
  ASSERT_EQ(f.metadata().size(), kv.size());
  for (std::size_t i = 0; i < kv.size(); ++i) {
    EXPECT_EQ(f.metadata()[i].first, kv[i].first);
    EXPECT_EQ(f.metadata()[i].second, kv[i].second) << kv[i].first;
  }
  EXPECT_EQ(f.get_string("v.str"), "h\xC3\xA9llo");
  EXPECT_TRUE(f.get_bool("v.bool"));
  EXPECT_EQ(f.get_strings("a.str")[0], "a b");
  EXPECT_EQ(f.get_array<std::int32_t>("a.i32")[1], 6);
  EXPECT_EQ(f.tensors().size(), 0u);
}

TEST(GgufWriter, SetMovesAnExistingKeyToTheEnd) {
  GgufWriter w;
  w.set("a", MetaValue::u32(1));
  w.set("b", MetaValue::u32(2));
  w.set("a", MetaValue::u32(3));
  ASSERT_EQ(w.metadata().size(), 2u);
  EXPECT_EQ(w.metadata()[0].first, "b");
  EXPECT_EQ(w.metadata()[1].first, "a");
  EXPECT_EQ(w.metadata()[1].second.as<std::uint32_t>(), 3u);
  w.remove("b");
  EXPECT_EQ(w.metadata().size(), 1u);
}

TEST(GgufWriter, AlignmentFromMetadataAndStreamedTensors) {
  TempDir dir;
  GgufWriter w;
  w.set("general.alignment", MetaValue::u32(64));
  w.add_tensor("q.weight", GgmlType::Q8_0, {32, 3});
  w.add_tensor("f.weight", GgmlType::F16, {5});
  std::vector<std::size_t> asked;
  w.write(dir.path / "t.gguf", [&](std::size_t i) {
    asked.push_back(i);
    return std::vector<std::byte>(i == 0 ? 3 * 34 : 10, std::byte{static_cast<unsigned char>(i + 1)});
  });
  EXPECT_EQ(asked, (std::vector<std::size_t>{0, 1}));
  const GgufFile f = GgufFile::open(dir.path / "t.gguf");
  EXPECT_EQ(f.alignment(), 64u);
  EXPECT_EQ(f.tensor("f.weight").offset, 128u);  // 102 bytes padded to 64
  EXPECT_EQ(f.tensor("q.weight").data[101], std::byte{1});
  EXPECT_EQ(f.tensor("f.weight").data[9], std::byte{2});
}

TEST(GgufWriter, RefusesBadInput) {
  GgufWriter w;
  EXPECT_THROW(w.set("general.alignment", MetaValue::u32(24)), qlab::Error);
  EXPECT_THROW(w.set("general.alignment", MetaValue::u64(32)), qlab::Error);
  w.add_tensor("t", GgmlType::F32, {4});
  EXPECT_THROW(w.add_tensor("t", GgmlType::F32, {4}), qlab::Error);
  EXPECT_THROW(w.add_tensor("k", GgmlType::Q4_K, {100}), qlab::Error);
  EXPECT_THROW(w.add_tensor("z", GgmlType::F32, {4, 0}), qlab::Error);
  EXPECT_THROW(w.add_tensor(std::string(64, 'n'), GgmlType::F32, {4}), qlab::Error);
  EXPECT_THROW(w.add_tensor("d", GgmlType::F32, {4}, std::vector<std::byte>(15)), qlab::Error);
}

TEST(GgufWriter, AFailedWriteLeavesTheOldFileAndNoTemporary) {
  TempDir dir;
  const fs::path target = dir.path / "t.gguf";
  { std::ofstream(target) << "old"; }
  GgufWriter w;
  w.add_tensor("a", GgmlType::F32, {4});
  w.add_tensor("b", GgmlType::F32, {4});
  EXPECT_THROW(w.write(target, [](std::size_t i) -> std::vector<std::byte> {
    if (i == 1) throw qlab::Error("cancelled");
    return std::vector<std::byte>(16);
  }), qlab::Error);
  EXPECT_EQ(qlab::read_file(target), "old");
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path), fs::directory_iterator{}), 1);
  EXPECT_THROW(w.write(target, [](std::size_t) { return std::vector<std::byte>(3); }), qlab::Error);  // wrong size
  EXPECT_EQ(qlab::read_file(target), "old");
}

}  // namespace
