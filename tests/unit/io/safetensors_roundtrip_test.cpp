// The writer against the safetensors library's own byte-exact test vectors, and writer -> reader
// round trips for every dtype; to_f32 against the scalar codecs for every 16-bit code.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include "engine/formats/scalar.h"
#include "engine/io/safetensors.h"
#include "tests/unit/io/io_test_util.h"

namespace qlab::io {
namespace {

using namespace qlab::io::testing;

std::span<const std::byte> as_bytes_of(const std::string& s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

std::string floats_le(std::initializer_list<float> v) {
  std::string s;
  for (float f : v) {
    char b[4];
    std::memcpy(b, &f, 4);
    s.append(b, 4);
  }
  return s;
}

// huggingface/safetensors, safetensors/src/tensor.rs: test_serialization, test_serialization_forced_alignement
// and test_empty give the exact bytes serialize() must produce.
TEST(SafetensorsWriter, MatchesReferenceVectors) {
  ScratchDir dir;
  const std::string data = floats_le({0, 1, 2, 3, 4, 5});
  write_safetensors(dir / "a.safetensors", {{"attn.0", DType::F32, {1, 2, 3}, as_bytes_of(data)}});
  EXPECT_EQ(read_raw(dir / "a.safetensors"),
            u64_le(64) + R"({"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}})" + data);

  write_safetensors(dir / "b.safetensors", {{"attn0", DType::F32, {1, 1, 2, 3}, as_bytes_of(data)}});
  EXPECT_EQ(read_raw(dir / "b.safetensors"),
            u64_le(72) + R"({"attn0":{"dtype":"F32","shape":[1,1,2,3],"data_offsets":[0,24]}})" + "       " + data);

  write_safetensors(dir / "c.safetensors", {});
  EXPECT_EQ(read_raw(dir / "c.safetensors"), u64_le(8) + "{}      ");

  write_safetensors(dir / "d.safetensors", {}, {{"framework", "pt"}});
  EXPECT_EQ(read_raw(dir / "d.safetensors"), u64_le(40) + R"({"__metadata__":{"framework":"pt"}})" + "     ");
  for (const char* f : {"a", "b", "c", "d"}) EXPECT_NO_THROW(TensorStore::open(dir / (std::string(f) + ".safetensors")));
}

TEST(SafetensorsWriter, OrdersByDtypeWidthThenName) {
  // The library sorts by its Dtype order, descending, then by name: F32 before BF16 before U8.
  ScratchDir dir;
  const std::string four(4, 'x'), two(2, 'y'), one(1, 'z');
  write_safetensors(dir / "m.safetensors", {{"b8", DType::U8, {1}, as_bytes_of(one)},
                                            {"z16", DType::BF16, {1}, as_bytes_of(two)},
                                            {"a16", DType::BF16, {1}, as_bytes_of(two)},
                                            {"q32", DType::F32, {1}, as_bytes_of(four)}});
  auto s = TensorStore::open(dir / "m.safetensors");
  const std::byte* base = s.at("q32").bytes.data();
  EXPECT_EQ(s.at("a16").bytes.data() - base, 4);
  EXPECT_EQ(s.at("z16").bytes.data() - base, 6);
  EXPECT_EQ(s.at("b8").bytes.data() - base, 8);
}

TEST(SafetensorsWriter, RoundTripEveryDtype) {
  ScratchDir dir;
  std::mt19937 rng(7);
  std::vector<std::string> payloads;
  std::vector<TensorToWrite> tensors;
  std::vector<std::pair<DType, std::vector<std::int64_t>>> kinds = {
      {DType::F64, {3, 2}}, {DType::F32, {5}},      {DType::F16, {2, 3, 2}}, {DType::BF16, {7}},
      {DType::I64, {2}},    {DType::I32, {3}},      {DType::I16, {3}},       {DType::I8, {9}},
      {DType::U64, {1}},    {DType::U32, {4}},      {DType::U16, {4}},       {DType::U8, {11}},
      {DType::BOOL, {3}},   {DType::F8_E4M3, {6}},  {DType::F8_E5M2, {6}},   {DType::F8_E8M0, {2}},
      {DType::F4, {4, 2}},  {DType::F6_E2M3, {4}},  {DType::F6_E3M2, {8}},   {DType::C64, {2}},
      {DType::F32, {}},     {DType::F16, {0, 5}}};
  payloads.reserve(kinds.size());
  for (std::size_t i = 0; i < kinds.size(); ++i) {
    auto [d, shape] = kinds[i];
    std::string bytes(dtype_byte_length(d, shape, "test"), '\0');
    for (char& c : bytes) c = static_cast<char>(rng());
    payloads.push_back(bytes);
    tensors.push_back({"t" + std::to_string(i) + "." + std::string(dtype_name(d)), d, shape, as_bytes_of(payloads.back())});
  }
  const std::map<std::string, std::string> meta = {{"format", "pt"}, {"note", "quote \" slash \\ tab \t ü"}};
  write_safetensors(dir / "all.safetensors", tensors, meta);
  const std::string raw = read_raw(dir / "all.safetensors");
  std::uint64_t n = 0;
  std::memcpy(&n, raw.data(), 8);
  EXPECT_EQ(n % 8, 0u) << "header not padded to 8 bytes";

  auto s = TensorStore::open(dir / "all.safetensors");
  ASSERT_EQ(s.size(), tensors.size());
  EXPECT_EQ(s.metadata(), meta);
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const TensorRef& t = s.at(tensors[i].name);
    EXPECT_EQ(t.dtype, tensors[i].dtype) << t.name;
    EXPECT_EQ(t.shape, tensors[i].shape) << t.name;
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(t.bytes.data()), t.bytes.size()), payloads[i]) << t.name;
    if (!t.bytes.empty() && dtype_size(t.dtype) > 0) {
      EXPECT_EQ(reinterpret_cast<std::uintptr_t>(t.bytes.data()) % dtype_size(t.dtype), 0u) << t.name << " misaligned";
    }
  }
}

TEST(SafetensorsWriter, StreamedEqualsInMemoryForAnyChunkSize) {
  ScratchDir dir;
  std::vector<float> big(10007);
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<float>(i) * 0.25f;
  std::vector<TensorToWrite> t = {{"big", DType::F32, {10007}, std::as_bytes(std::span(big))}};
  write_safetensors(dir / "a.safetensors", t);
  for (std::size_t chunk : {24u, 1000u, 4096u, 1u << 20}) {
    write_safetensors_streamed(
        dir / "b.safetensors", {{"big", DType::F32, {10007}}}, {},
        [&](std::size_t i, std::uint64_t off, std::span<std::byte> piece) {
          EXPECT_EQ(i, 0u);
          EXPECT_EQ(off % 4, 0u);
          EXPECT_LE(piece.size(), std::max<std::size_t>(chunk, 24));
          std::memcpy(piece.data(), reinterpret_cast<const std::byte*>(big.data()) + off, piece.size());
        },
        chunk);
    EXPECT_EQ(read_raw(dir / "a.safetensors"), read_raw(dir / "b.safetensors")) << "chunk " << chunk;
  }
  EXPECT_EQ(safetensors_file_size({{"big", DType::F32, {10007}}}), read_raw(dir / "a.safetensors").size());
}

TEST(SafetensorsWriter, RefusesBadInputAndLeavesOldFileIntact) {
  ScratchDir dir;
  const std::string four(4, 'x');
  write_safetensors(dir / "m.safetensors", {{"a", DType::U8, {4}, as_bytes_of(four)}});
  const std::string before = read_raw(dir / "m.safetensors");
  expect_error([&] { write_safetensors(dir / "m.safetensors", {{"a", DType::F32, {4}, as_bytes_of(four)}}); },
               {"tensor 'a'", "needs 16 bytes"});
  expect_error(
      [&] {
        write_safetensors(dir / "m.safetensors",
                          {{"a", DType::U8, {4}, as_bytes_of(four)}, {"a", DType::U8, {4}, as_bytes_of(four)}});
      },
      {"'a'", "twice"});
  expect_error([&] { write_safetensors(dir / "m.safetensors", {{"__metadata__", DType::U8, {4}, as_bytes_of(four)}}); },
               {"not a usable tensor name"});
  // A producer that fails half-way leaves the previous file and no temporary behind.
  EXPECT_THROW(write_safetensors_streamed(dir / "m.safetensors", {{"b", DType::U8, {100}}}, {},
                                          [](std::size_t, std::uint64_t, std::span<std::byte>) {
                                            throw qlab::Error("producer failed");
                                          }),
               qlab::Error);
  EXPECT_EQ(read_raw(dir / "m.safetensors"), before);
  std::size_t files = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir.path())) ++files;
  EXPECT_EQ(files, 1u);
}

// Every 16-bit code widened by to_f32 equals the scalar codec's value (NaNs compared as NaN).
TEST(SafetensorsToF32, EveryHalfCodeMatchesScalarCodecs) {
  ScratchDir dir;
  std::vector<std::uint16_t> codes(65536);
  for (std::uint32_t i = 0; i < 65536; ++i) codes[i] = static_cast<std::uint16_t>(i);
  auto bytes = std::as_bytes(std::span(codes));
  write_safetensors(dir / "h.safetensors",
                    {{"f16", DType::F16, {65536}, bytes}, {"bf16", DType::BF16, {256, 256}, bytes}});
  auto s = TensorStore::open(dir / "h.safetensors");
  const auto f16 = to_f32(s.at("f16"));
  const auto bf16 = to_f32(s.at("bf16"));
  for (std::uint32_t i = 0; i < 65536; ++i) {
    const float a = formats::f16_to_f32(static_cast<std::uint16_t>(i));
    const float b = formats::bf16_to_f32(static_cast<std::uint16_t>(i));
    if (std::isnan(a)) {
      EXPECT_TRUE(std::isnan(f16[i])) << i;
    } else {
      ASSERT_EQ(std::memcmp(&a, &f16[i], 4), 0) << "f16 code " << i;
    }
    if (std::isnan(b)) {
      EXPECT_TRUE(std::isnan(bf16[i])) << i;
    } else {
      ASSERT_EQ(std::memcmp(&b, &bf16[i], 4), 0) << "bf16 code " << i;
    }
  }
}

// The format does not require the header to be padded: data can start on an odd byte.
TEST(SafetensorsToF32, MisalignedDataIsReadCorrectly) {
  ScratchDir dir;
  const std::uint16_t one_bf16 = 0x3f80, two_f16 = 0x4000;
  std::string data(6, '\0');
  std::memcpy(&data[0], &one_bf16, 2);
  std::memcpy(&data[2], &two_f16, 2);
  std::memcpy(&data[4], &one_bf16, 2);
  const std::string header = R"({"b":{"dtype":"BF16","shape":[1],"data_offsets":[0,2]},)"
                             R"("h":{"dtype":"F16","shape":[1],"data_offsets":[2,4]},)"
                             R"("c":{"dtype":"BF16","shape":[1],"data_offsets":[4,6]}} )";
  ASSERT_EQ(header.size() % 2, 1u);
  write_raw(dir / "m.safetensors", st_file(header, data));
  auto s = TensorStore::open(dir / "m.safetensors");
  ASSERT_EQ(reinterpret_cast<std::uintptr_t>(s.at("b").bytes.data()) % 2, 1u);
  EXPECT_EQ(to_f32(s.at("b")), std::vector<float>{1.0f});
  EXPECT_EQ(to_f32(s.at("h")), std::vector<float>{2.0f});
  EXPECT_EQ(to_f32(s.at("c")), std::vector<float>{1.0f});
}

TEST(SafetensorsToF32, RefusesOtherDtypesAndWrongSizes) {
  ScratchDir dir;
  const std::string four(4, 'x');
  write_safetensors(dir / "m.safetensors", {{"codes", DType::U8, {4}, as_bytes_of(four)},
                                            {"w", DType::F32, {1}, as_bytes_of(four)}});
  auto s = TensorStore::open(dir / "m.safetensors");
  expect_error([&] { to_f32(s.at("codes")); }, {"tensor 'codes'", "U8", "m.safetensors"});
  std::vector<float> out(2);
  expect_error([&] { to_f32(s.at("w"), out); }, {"tensor 'w'", "holds 2"});
}

TEST(SafetensorsDtypes, NamesAndWidths) {
  EXPECT_EQ(dtype_from_name("BF16"), DType::BF16);
  EXPECT_EQ(dtype_from_name("bf16"), std::nullopt);
  EXPECT_EQ(dtype_name(DType::F8_E4M3), "F8_E4M3");
  EXPECT_EQ(dtype_size(DType::F64), 8u);
  EXPECT_EQ(dtype_size(DType::F4), 0u);
  EXPECT_EQ(dtype_bits(DType::F4), 4u);
  EXPECT_EQ(dtype_bits(DType::F6_E3M2), 6u);
  std::vector<std::int64_t> shape = {3, 5};
  EXPECT_EQ(dtype_byte_length(DType::F6_E2M3, std::vector<std::int64_t>{4}, "x"), 3u);
  EXPECT_EQ(dtype_byte_length(DType::BF16, shape, "x"), 30u);
}

}  // namespace
}  // namespace qlab::io
