// The strict GGUF reader on hand-made files: a valid one reads back field by field, and each kind
// of damage is refused with one line that names the file and the problem (and never allocates
// what an unchecked length asks for).
#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "engine/core/error.h"
#include "engine/gguf/gguf_file.h"
#include "gguf_bytes.h"

namespace {

using qlab::gguf::GgmlType;
using qlab::gguf::GgufFile;
using qlab::gguf::testing::GgufBytes;

// One f32 tensor [4, 2] at offset 0 after two keys.
GgufBytes valid_file() {
  GgufBytes b;
  b.header(1, 2).kv_str("general.architecture", "llama").kv_u32("llama.block_count", 3);
  b.tensor("w.weight", {4, 2}, 0, 0).pad();
  for (int i = 0; i < 8; ++i) b.put<float>(static_cast<float>(i));
  return b;
}

std::string error_of(const GgufBytes& b) {
  try {
    (void)GgufFile::parse(b.bytes(), "t.gguf");
  } catch (const qlab::Error& e) {
    return e.what();
  }
  return "(no error)";
}

#define EXPECT_REFUSED(bytes, fragment)                                    \
  do {                                                                     \
    const std::string msg_ = error_of(bytes);                              \
    EXPECT_NE(msg_.find("t.gguf: "), std::string::npos) << msg_;           \
    EXPECT_NE(msg_.find(fragment), std::string::npos) << msg_;             \
    EXPECT_EQ(msg_.find('\n'), std::string::npos) << msg_;                 \
  } while (0)

TEST(GgufReader, ReadsAValidFile) {
  const GgufBytes b = valid_file();
  const GgufFile f = GgufFile::parse(b.bytes(), "t.gguf");
  EXPECT_EQ(f.version(), 3u);
  EXPECT_EQ(f.alignment(), 32u);
  ASSERT_EQ(f.metadata().size(), 2u);
  EXPECT_EQ(f.metadata()[0].first, "general.architecture");
  EXPECT_EQ(f.get_string("general.architecture"), "llama");
  EXPECT_EQ(f.get_u32("llama.block_count"), 3u);
  ASSERT_EQ(f.tensors().size(), 1u);
  const auto& t = f.tensor("w.weight");
  EXPECT_EQ(t.type, GgmlType::F32);
  EXPECT_EQ(t.shape, (std::vector<std::int64_t>{4, 2}));
  EXPECT_EQ(t.rows(), 2);
  EXPECT_EQ(t.size_bytes, 32u);
  EXPECT_EQ(f.data_offset() % 32, 0u);
  float v;
  std::memcpy(&v, t.data.data() + 4 * 5, 4);
  EXPECT_EQ(v, 5.0f);
}

TEST(GgufReader, TypedGettersNameFileKeyAndBothTypes) {
  const GgufBytes b = valid_file();
  const GgufFile f = GgufFile::parse(b.bytes(), "t.gguf");
  try {
    (void)f.get_i32("llama.block_count");
    FAIL();
  } catch (const qlab::Error& e) {
    EXPECT_STREQ(e.what(), "t.gguf: key llama.block_count is uint32, expected int32");
  }
  try {
    (void)f.get_u32("llama.context_length");
    FAIL();
  } catch (const qlab::Error& e) {
    EXPECT_STREQ(e.what(), "t.gguf: key llama.context_length is missing");
  }
}

TEST(GgufReader, EveryPrefixOfAValidFileIsRefusedCleanly) {
  const GgufBytes b = valid_file();
  for (std::size_t n = 0; n < b.size(); ++n) {
    const std::span<const std::byte> cut(b.bytes().data(), n);
    EXPECT_THROW((void)GgufFile::parse(cut, "t.gguf"), qlab::Error) << n;
  }
}

TEST(GgufReader, HeaderDamage) {
  GgufBytes magic;
  magic.put<std::uint32_t>(0x46554746).put<std::uint32_t>(3).zeros(16);
  EXPECT_REFUSED(magic, "not a GGUF file");
  GgufBytes v1;
  v1.header(0, 0, 1);
  EXPECT_REFUSED(v1, "version 1 is not supported");
  GgufBytes be;
  be.header(0, 0, 0x03000000);
  EXPECT_REFUSED(be, "big-endian");
  GgufBytes v9;
  v9.header(0, 0, 9);
  EXPECT_REFUSED(v9, "unsupported GGUF version 9");
  GgufBytes v2;
  v2.header(0, 0, 2);
  EXPECT_EQ(GgufFile::parse(v2.bytes(), "t.gguf").version(), 2u);
}

TEST(GgufReader, CountsAndLengthsBeyondTheFile) {
  GgufBytes many_kv;
  many_kv.header(0, 1ull << 40);
  EXPECT_REFUSED(many_kv, "more than the");
  GgufBytes many_tensors;
  many_tensors.header(1ull << 62, 0);
  EXPECT_REFUSED(many_tensors, "more than the");
  GgufBytes long_key;
  long_key.header(0, 1).put<std::uint64_t>(1ull << 63).zeros(16);
  EXPECT_REFUSED(long_key, "bytes are left");
  GgufBytes long_string;
  long_string.header(0, 1).str("k").put<std::uint32_t>(8).put<std::uint64_t>(1ull << 63).zeros(4);
  EXPECT_REFUSED(long_string, "bytes are left");
  GgufBytes big_array;
  big_array.header(0, 1).str("k").put<std::uint32_t>(9).put<std::uint32_t>(6).put<std::uint64_t>(1ull << 40);
  EXPECT_REFUSED(big_array, "the array of key k has 1099511627776 entries");
  GgufBytes string_array;  // each string needs at least its 8-byte length
  string_array.header(0, 1).str("k").put<std::uint32_t>(9).put<std::uint32_t>(8).put<std::uint64_t>(3).zeros(16);
  EXPECT_REFUSED(string_array, "the array of key k has 3 entries");
}

TEST(GgufReader, BadValues) {
  GgufBytes type13;
  type13.header(0, 1).str("k").put<std::uint32_t>(13).zeros(8);
  EXPECT_REFUSED(type13, "key k has value type 13");
  GgufBytes nested;
  nested.header(0, 1).str("k").put<std::uint32_t>(9).put<std::uint32_t>(9).put<std::uint64_t>(1).zeros(16);
  EXPECT_REFUSED(nested, "array of arrays");
  GgufBytes bad_bool;
  bad_bool.header(0, 1).str("flag").put<std::uint32_t>(7).put<std::uint8_t>(2);
  EXPECT_REFUSED(bad_bool, "bool of value 2");
  GgufBytes dup;
  dup.header(0, 2).kv_u32("a.b", 1).kv_u32("a.b", 2);
  EXPECT_REFUSED(dup, "duplicate metadata key a.b");
  GgufBytes empty_key;
  empty_key.header(0, 1).kv_u32("", 1);
  EXPECT_REFUSED(empty_key, "key 0 is empty");
  GgufBytes ctrl_key;
  ctrl_key.header(0, 1).kv_u32("a\nb", 1);
  EXPECT_REFUSED(ctrl_key, "not printable ASCII");
  GgufBytes align_type;
  align_type.header(0, 1).str("general.alignment").put<std::uint32_t>(10).put<std::uint64_t>(32);
  EXPECT_REFUSED(align_type, "general.alignment is uint64, expected uint32");
  GgufBytes align_48;
  align_48.header(0, 1).kv_u32("general.alignment", 48);
  EXPECT_REFUSED(align_48, "general.alignment is 48, not a power of two");
}

TEST(GgufReader, BadTensorInfos) {
  auto one = [](auto&& fill) {
    GgufBytes b;
    b.header(1, 0);
    fill(b);
    b.pad().zeros(64);
    return b;
  };
  EXPECT_REFUSED(one([](GgufBytes& b) { b.tensor("", {4}, 0, 0); }), "empty name");
  EXPECT_REFUSED(one([](GgufBytes& b) { b.tensor(std::string(64, 'x'), {4}, 0, 0); }), "name of 64 bytes");
  EXPECT_REFUSED(one([](GgufBytes& b) { b.tensor("t", {}, 0, 0); }), "0 dimensions");
  EXPECT_REFUSED(one([](GgufBytes& b) { b.tensor("t", {1, 1, 1, 1, 1}, 0, 0); }), "5 dimensions");
  EXPECT_REFUSED(one([](GgufBytes& b) { b.tensor("t", {4, 0}, 0, 0); }), "a dimension of 0");
  EXPECT_REFUSED(one([](GgufBytes& b) { b.tensor("t", {1ull << 32, 1ull << 32}, 0, 0); }), "more elements than an int64");
  EXPECT_REFUSED(one([](GgufBytes& b) { b.tensor("t", {32}, 4, 0); }), "ggml type id 4, which is not a type ggml defines");
  EXPECT_REFUSED(one([](GgufBytes& b) { b.tensor("t", {32}, 77, 0); }), "ggml type id 77");
  EXPECT_REFUSED(one([](GgufBytes& b) { b.tensor("t", {100}, 12, 0); }), "rows of 100 elements, not a whole number of 256-element blocks");
  EXPECT_REFUSED(one([](GgufBytes& b) { b.tensor("t", {4}, 0, 16); }), "offset 16, not a multiple of the alignment 32");
  EXPECT_REFUSED(one([](GgufBytes& b) { b.tensor("t", {4}, 0, 64); }), "runs past the end of the file");
  EXPECT_REFUSED(one([](GgufBytes& b) { b.tensor("t", {1000}, 0, 0); }), "runs past the end of the file");
  EXPECT_REFUSED(one([](GgufBytes& b) { b.tensor("t", {4}, 0, 1ull << 63); }), "runs past the end of the file");
}

TEST(GgufReader, DuplicateAndOverlappingTensors) {
  GgufBytes dup;
  dup.header(2, 0).tensor("t", {4}, 0, 0).tensor("t", {4}, 0, 32).pad().zeros(64);
  EXPECT_REFUSED(dup, "duplicate tensor name t");
  GgufBytes overlap;
  overlap.header(2, 0).tensor("a", {16}, 0, 0).tensor("b", {4}, 0, 32).pad().zeros(96);
  EXPECT_REFUSED(overlap, "tensors a and b overlap");
  // Out of order but apart is fine (ggml's own reader would want them in order).
  GgufBytes reordered;
  reordered.header(2, 0).tensor("a", {4}, 0, 32).tensor("b", {4}, 0, 0).pad().zeros(64);
  const GgufFile f = GgufFile::parse(reordered.bytes(), "t.gguf");
  EXPECT_EQ(f.tensor("a").offset, 32u);
}

TEST(GgufReader, CustomAlignment) {
  GgufBytes b;
  b.header(1, 1).kv_u32("general.alignment", 64).tensor("t", {4}, 0, 0).pad(64).zeros(16);
  const GgufFile f = GgufFile::parse(b.bytes(), "t.gguf");
  EXPECT_EQ(f.alignment(), 64u);
  EXPECT_EQ(f.data_offset() % 64, 0u);
}

}  // namespace
