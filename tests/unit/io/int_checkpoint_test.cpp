// GPTQ v1, AutoAWQ GEMM and compressed-tensors pack-quantized Linears: the worked words of
// export-formats.md (derived by hand from the loaders' shift-and-mask code), each layout written to a
// safetensors file and read back, the config blocks as the loaders read them, and the refusals.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <random>

#include "engine/core/error.h"
#include "engine/io/int_checkpoint.h"
#include "engine/io/quant_checkpoint.h"
#include "engine/io/safetensors.h"
#include "tests/temp_dir.h"

namespace qlab::io {
namespace {

namespace fs = std::filesystem;

std::uint32_t word(const IntPart& p, std::size_t i) {
  std::uint32_t w;
  std::memcpy(&w, p.bytes.data() + 4 * i, 4);
  return w;
}
const IntPart& part(const std::vector<IntPart>& parts, const std::string& suffix) {
  for (const auto& p : parts)
    if (p.suffix == suffix) return p;
  throw std::runtime_error("no part " + suffix);
}

// A Linear [rows, cols] with every code, zero and scale given by simple rules (so a test can say what
// each packed word must hold).
IntLinear make_linear(std::int64_t rows, std::int64_t cols, int bits, std::int64_t group, bool sym, std::uint32_t seed) {
  IntLinear q;
  q.rows = rows;
  q.cols = cols;
  q.bits = bits;
  q.group_size = group > 0 ? group : cols;
  std::mt19937 rng(seed);
  const int levels = 1 << bits;
  q.codes.resize(static_cast<std::size_t>(rows * cols));
  for (auto& c : q.codes) c = static_cast<std::uint8_t>(rng() % levels);
  const std::int64_t G = q.groups();
  q.scales.resize(static_cast<std::size_t>(rows * G));
  q.zeros.resize(static_cast<std::size_t>(rows * G));
  for (std::size_t k = 0; k < q.scales.size(); ++k) {
    q.scales[k] = static_cast<float>(1 + rng() % 1000) / 1024.0f;  // exact in float16
    q.zeros[k] = sym ? levels / 2 : static_cast<std::int32_t>(1 + rng() % (levels - 1));
  }
  q.g_idx.resize(static_cast<std::size_t>(cols));
  for (std::int64_t c = 0; c < cols; ++c) q.g_idx[c] = static_cast<std::int32_t>(c / q.group_size);
  return q;
}

IntScheme scheme(IntLayout l, int bits, std::int64_t group, bool sym, bool act_order = false) {
  IntScheme s;
  s.layout = l;
  s.bits = bits;
  s.group_size = group;
  s.symmetric = sym;
  s.act_order = act_order;
  s.scale_dtype = DType::F16;
  return s;
}

TEST(IntCheckpoint, GptqWordsAreTheWorkedExample) {
  // input rows 0..7 of column 0 hold codes 1..8 -> qweight[0][0] = 0x87654321; symmetric zeros 8 are
  // stored as 7 in every nibble: 0x77777777
  IntLinear q = make_linear(8, 8, 4, -1, true, 1);
  for (int i = 0; i < 8; ++i) q.codes[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(i + 1);  // row 0 = output 0
  const auto parts = pack_int_linear(scheme(IntLayout::Gptq, 4, -1, true), q, "m");
  EXPECT_EQ(word(part(parts, "qweight"), 0), 0x87654321u);
  EXPECT_EQ(part(parts, "qweight").shape, (std::vector<std::int64_t>{1, 8}));
  EXPECT_EQ(word(part(parts, "qzeros"), 0), 0x77777777u);
  EXPECT_EQ(part(parts, "qzeros").shape, (std::vector<std::int64_t>{1, 1}));
  EXPECT_EQ(part(parts, "g_idx").shape, (std::vector<std::int64_t>{8}));
}

TEST(IntCheckpoint, GptqEightBitPacksFourPerWord) {
  IntLinear q = make_linear(4, 4, 8, -1, false, 2);
  for (int i = 0; i < 4; ++i) q.codes[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(0x10 * (i + 1) + 1);
  q.zeros = {1, 2, 3, 0x80};
  const auto parts = pack_int_linear(scheme(IntLayout::Gptq, 8, -1, false), q, "m");
  EXPECT_EQ(word(part(parts, "qweight"), 0), 0x41312111u);  // output 0, inputs 0..3
  EXPECT_EQ(word(part(parts, "qzeros"), 0), 0x7F020100u);    // zeros - 1 of outputs 0..3
}

TEST(IntCheckpoint, AwqWordInterleavesItsColumns) {
  // one input row, output columns 0..7 with codes 1..8 -> nibbles (low to high) 1,3,5,7,2,4,6,8
  IntLinear q = make_linear(8, 32, 4, 32, false, 3);
  for (int o = 0; o < 8; ++o) q.codes[static_cast<std::size_t>(o * 32)] = static_cast<std::uint8_t>(o + 1);
  for (int o = 0; o < 8; ++o) q.zeros[static_cast<std::size_t>(o)] = o + 1;
  const auto parts = pack_int_linear(scheme(IntLayout::Awq, 4, 32, false), q, "m");
  EXPECT_EQ(word(part(parts, "qweight"), 0), 0x86427531u);
  EXPECT_EQ(word(part(parts, "qzeros"), 0), 0x86427531u);
  EXPECT_EQ(part(parts, "qweight").shape, (std::vector<std::int64_t>{32, 1}));
}

TEST(IntCheckpoint, CompressedTensorsWordStoresSignedPlusOffset) {
  // signed values -8..-1 are stored 0..7 (qlab's unsigned codes): word 0x76543210; zero points of
  // outputs 0..7 packed along the output dimension the same way
  IntLinear q = make_linear(8, 8, 4, 8, false, 4);
  for (int i = 0; i < 8; ++i) q.codes[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(i);
  for (int o = 0; o < 8; ++o) q.zeros[static_cast<std::size_t>(o)] = 8 - o;
  auto s = scheme(IntLayout::CompressedTensors, 4, 8, false);
  const auto parts = pack_int_linear(s, q, "m");
  EXPECT_EQ(word(part(parts, "weight_packed"), 0), 0x76543210u);
  EXPECT_EQ(word(part(parts, "weight_zero_point"), 0), 0x12345678u);
  EXPECT_EQ(part(parts, "weight_zero_point").shape, (std::vector<std::int64_t>{1, 1}));
  std::int64_t dims[2];
  std::memcpy(dims, part(parts, "weight_shape").bytes.data(), sizeof dims);
  EXPECT_EQ(dims[0], 8);
  EXPECT_EQ(dims[1], 8);
  EXPECT_EQ(part(parts, "weight_shape").dtype, DType::I64);
  // symmetric: no zero point tensor
  s.symmetric = true;
  for (const auto& p : pack_int_linear(s, make_linear(8, 8, 4, 8, true, 5), "m")) EXPECT_NE(p.suffix, "weight_zero_point");
}

// Each layout, bits and grouping: pack, write a safetensors file, read back through the reader: the
// same codes, scales, zeros and g_idx (act-order g_idx where the layout stores one).
TEST(IntCheckpoint, EveryLayoutReadsBackWhatWasPacked) {
  const fs::path dir = qlab::testing::make_temp_dir("qlab-intckpt");
  struct Case {
    IntLayout layout;
    int bits;
    std::int64_t group;
    bool sym, act_order;
  };
  const Case cases[] = {{IntLayout::Gptq, 4, 32, false, false}, {IntLayout::Gptq, 4, 32, true, true},
                        {IntLayout::Gptq, 8, -1, false, false}, {IntLayout::Gptq, 2, 64, true, false},
                        {IntLayout::Awq, 4, 32, false, false},  {IntLayout::CompressedTensors, 4, 32, false, false},
                        {IntLayout::CompressedTensors, 4, 32, true, true},
                        {IntLayout::CompressedTensors, 8, -1, false, false},
                        {IntLayout::CompressedTensors, 2, 64, false, false}};
  int n = 0;
  for (const Case& c : cases) {
    SCOPED_TRACE(::testing::Message() << int_layout_name(c.layout) << " " << c.bits << "-bit group " << c.group
                                      << (c.sym ? " sym" : "") << (c.act_order ? " act-order" : ""));
    const std::int64_t rows = 48, cols = 128;
    IntLinear q = make_linear(rows, cols, c.bits, c.group, c.sym, static_cast<std::uint32_t>(10 + n));
    if (c.act_order) {  // a permuted group assignment, as act-order leaves it
      std::mt19937 rng(7);
      std::shuffle(q.g_idx.begin(), q.g_idx.end(), rng);
    }
    const IntScheme s = scheme(c.layout, c.bits, c.group, c.sym, c.act_order);
    const auto parts = pack_int_linear(s, q, "model.layers.0.mlp.up_proj");
    std::vector<TensorToWrite> t;
    for (const auto& p : parts) t.push_back({"model.layers.0.mlp.up_proj." + p.suffix, p.dtype, p.shape, p.bytes});
    const fs::path sub = dir / std::to_string(n++);
    fs::create_directories(sub);
    write_safetensors(sub / "model.safetensors", t);
    const TensorStore store = TensorStore::open(sub);
    const auto r = read_int_linear(store, s, "model.layers.0.mlp.up_proj", rows, cols);
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->codes, q.codes);
    EXPECT_EQ(r->scales, q.scales);
    EXPECT_EQ(r->zeros, q.zeros);
    EXPECT_EQ(r->g_idx, q.g_idx);
    // and the dequantized values: scale * (code - zero) of each column's group
    const auto d = r->dequantize();
    const std::int64_t G = q.groups();
    for (std::int64_t i : {std::int64_t{0}, rows * cols / 2 + 5, rows * cols - 1}) {
      const std::int64_t row = i / cols, col = i % cols, g = q.g_idx[col];
      EXPECT_EQ(d[i], q.scales[row * G + g] * (static_cast<float>(q.codes[i]) - static_cast<float>(q.zeros[row * G + g])));
    }
  }
  fs::remove_all(dir);
}

TEST(IntCheckpoint, ReaderRefusesBadParts) {
  const fs::path dir = qlab::testing::make_temp_dir("qlab-intckpt-bad");
  const IntScheme s = scheme(IntLayout::Gptq, 4, 32, false, true);
  IntLinear q = make_linear(16, 64, 4, 32, false, 9);
  auto parts = pack_int_linear(s, q, "m");
  // a g_idx entry pointing past the last group
  std::int32_t bad = 7;
  for (auto& p : parts)
    if (p.suffix == "g_idx") std::memcpy(p.bytes.data() + 4 * 5, &bad, 4);
  {
    std::vector<TensorToWrite> t;
    for (const auto& p : parts) t.push_back({"m." + p.suffix, p.dtype, p.shape, p.bytes});
    write_safetensors(dir / "model.safetensors", t);
    const TensorStore store = TensorStore::open(dir);
    try {
      read_int_linear(store, s, "m", 16, 64);
      FAIL() << "accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("column 5 in group 7"), std::string::npos) << e.what();
    }
    // the config implies another shape
    EXPECT_THROW(read_int_linear(store, s, "m", 16, 96), Error);
  }
  // a missing part
  fs::remove(dir / "model.safetensors");
  {
    std::vector<TensorToWrite> t;
    for (const auto& p : parts)
      if (p.suffix != "qzeros") t.push_back({"m." + p.suffix, p.dtype, p.shape, p.bytes});
    write_safetensors(dir / "model.safetensors", t);
    const TensorStore store = TensorStore::open(dir);
    EXPECT_THROW(read_int_linear(store, s, "m", 16, 64), Error);
  }
  fs::remove_all(dir);
}

TEST(IntCheckpoint, WhatALayoutCannotHoldIsRefusedByName) {
  auto msg = [](const IntScheme& s, std::int64_t out, std::int64_t in) {
    try {
      check_int_linear_shape(s, "model.layers.2.mlp.down_proj", out, in);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_NE(msg(scheme(IntLayout::Gptq, 4, 128, false), 64, 64).find("not a multiple of the group of 128"), std::string::npos);
  EXPECT_NE(msg(scheme(IntLayout::Gptq, 3, 32, false), 64, 64).find("3-bit"), std::string::npos);
  EXPECT_NE(msg(scheme(IntLayout::Awq, 4, 32, true), 64, 64).find("symmetric"), std::string::npos);
  EXPECT_NE(msg(scheme(IntLayout::Awq, 4, 32, false), 60, 64).find("not a multiple of 8"), std::string::npos);
  EXPECT_NE(msg(scheme(IntLayout::Gptq, 4, 32, false), 60, 64).find("model.layers.2.mlp.down_proj"), std::string::npos);
  EXPECT_EQ(msg(scheme(IntLayout::CompressedTensors, 4, 32, false), 60, 64), "");  // padded words
  // GPTQ v1 cannot store a zero point of 0
  IntLinear q = make_linear(8, 32, 4, 32, false, 11);
  q.zeros[3] = 0;
  EXPECT_THROW(pack_int_linear(scheme(IntLayout::Gptq, 4, 32, false), q, "m"), Error);
  EXPECT_NO_THROW(pack_int_linear(scheme(IntLayout::CompressedTensors, 4, 32, false), q, "m"));
}

TEST(IntCheckpoint, ConfigBlocksReadBackAsTheLoadersSpellThem) {
  for (IntLayout l : {IntLayout::Gptq, IntLayout::Awq, IntLayout::CompressedTensors}) {
    IntScheme s = scheme(l, 4, 64, false, l == IntLayout::Gptq);
    const IntScheme r = int_scheme_from_config(int_quantization_config(s), "config.json");
    EXPECT_EQ(r.layout, l);
    EXPECT_EQ(r.bits, 4);
    EXPECT_EQ(r.group_size, 64);
    EXPECT_EQ(r.symmetric, false);
    EXPECT_EQ(r.act_order, l == IntLayout::Gptq);
  }
  // AutoAWQ's own spelling, GPTQModel's sym default, compressed-tensors channel strategy
  const auto awq = int_scheme_from_config(nlohmann::json::parse(
      R"({"quant_method":"awq","w_bit":4,"q_group_size":128,"zero_point":true,"version":"GEMM"})"), "c");
  EXPECT_EQ(awq.group_size, 128);
  EXPECT_EQ(awq.layout, IntLayout::Awq);
  const auto gptq = int_scheme_from_config(nlohmann::json::parse(R"({"quant_method":"gptq","bits":8,"group_size":-1})"), "c");
  EXPECT_TRUE(gptq.symmetric);
  EXPECT_EQ(gptq.group_size, -1);
  const auto ct = int_scheme_from_config(nlohmann::json::parse(R"({"quant_method":"compressed-tensors","format":
      "pack-quantized","config_groups":{"group_0":{"targets":["Linear"],"weights":{"num_bits":8,"type":"int",
      "symmetric":true,"strategy":"channel","actorder":null}}},"ignore":["lm_head"]})"), "c");
  EXPECT_EQ(ct.group_size, -1);
  EXPECT_EQ(ct.bits, 8);
  // what no layout here reads
  EXPECT_THROW(int_scheme_from_config(nlohmann::json::parse(R"({"quant_method":"gptq","bits":4,"checkpoint_format":"gptq_v2"})"), "c"), Error);
  EXPECT_THROW(int_scheme_from_config(nlohmann::json::parse(R"({"quant_method":"awq","bits":4,"version":"gemv"})"), "c"), Error);
  EXPECT_THROW(int_scheme_from_config(nlohmann::json::parse(R"({"quant_method":"gptq","bits":3})"), "c"), Error);
  EXPECT_THROW(int_scheme_from_config(nlohmann::json::parse(R"({"quant_method":"gptq","bits":4,"group_size":0})"), "c"), Error);
}

}  // namespace
}  // namespace qlab::io
