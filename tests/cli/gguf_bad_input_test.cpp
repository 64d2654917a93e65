// Bad GGUF input through the real binary: each a one-line error naming the file and the problem,
// exit status 1, no crash, and (under the sanitizer build) no allocation sized by a number the file
// made up: a truncated file, a tensor past the end, a type id ggml does not have, a string of 2^63
// bytes, an array of 2^40 elements, misaligned tensor data, two tensors of one name, an
// architecture qlab does not run, and a row length a type cannot take under --pure.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "engine/core/atomic_file.h"
#include "tests/cli/qlab_run.h"
#include "tests/unit/gguf/gguf_bytes.h"

namespace {

namespace fs = std::filesystem;
using qlab::gguf::testing::GgufBytes;
using qlab::testing::quoted;

class GgufBadInput : public ::testing::Test {
 protected:
  fs::path dir;
  void SetUp() override { dir = qlab::testing::scratch_dir("qlab-gguf-bad"); }
  void TearDown() override { fs::remove_all(dir); }

  fs::path write(const std::string& name, const std::vector<std::byte>& b) {
    std::ofstream(dir / name, std::ios::binary).write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
    return dir / name;
  }
  // `qlab info` and `qlab ppl` on the file: both refuse it with one line naming the file.
  void expect_refused(const fs::path& file, const std::string& needle) {
    for (const std::string cmd : {"info ", "logits --tokens t --out o "}) {
      std::ofstream(dir / "t") << "1 2 3\n";
      const auto r = qlab::testing::run_qlab(dir, cmd + quoted(file));
      EXPECT_EQ(r.code, 1) << cmd << ": " << r.err;
      ASSERT_FALSE(r.err.empty()) << cmd;
      EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << "not one line: " << r.err;
      EXPECT_NE(r.err.find(needle), std::string::npos) << "'" << needle << "' not in: " << r.err;
      EXPECT_NE(r.err.find(file.filename().string()), std::string::npos) << "the file is not named: " << r.err;
    }
  }
  // A file of one f32 tensor [32, 2] with the given info fields, data after the header.
  std::vector<std::byte> one_tensor(std::uint32_t type, std::uint64_t offset, std::size_t data_bytes = 256) {
    GgufBytes b;
    b.header(1, 1).kv_str("general.architecture", "llama").tensor("w.weight", {32, 2}, type, offset).pad().zeros(data_bytes);
    return b.bytes();
  }
};

TEST_F(GgufBadInput, TruncatedFile) {
  ASSERT_EQ(qlab::testing::run_qlab(dir, "gguf builtin --type Q8_0 --out whole.gguf").code, 0);
  const std::string whole = qlab::read_file(dir / "whole.gguf");
  for (std::size_t keep : {std::size_t{3}, std::size_t{20}, whole.size() / 3, whole.size() - 1}) {
    const std::vector<std::byte> part(reinterpret_cast<const std::byte*>(whole.data()),
                                      reinterpret_cast<const std::byte*>(whole.data()) + keep);
    expect_refused(write("cut.gguf", part), "cut.gguf");
  }
}

TEST_F(GgufBadInput, TensorPastTheEnd) { expect_refused(write("past.gguf", one_tensor(0, 0, 100)), "past the end"); }

TEST_F(GgufBadInput, UnknownTypeId) {
  expect_refused(write("type4.gguf", one_tensor(4, 0)), "type");
  expect_refused(write("type99.gguf", one_tensor(99, 0)), "type");
}

TEST_F(GgufBadInput, StringOf2To63Bytes) {
  GgufBytes b;
  b.header(0, 1).put<std::uint64_t>(1ull << 63);
  b.zeros(64);
  expect_refused(write("str.gguf", b.bytes()), "str.gguf");
}

TEST_F(GgufBadInput, ArrayOf2To40Elements) {
  GgufBytes b;
  b.header(0, 1).str("tokenizer.ggml.tokens").put<std::uint32_t>(9).put<std::uint32_t>(8).put<std::uint64_t>(1ull << 40);
  b.zeros(64);
  expect_refused(write("arr.gguf", b.bytes()), "arr.gguf");
}

TEST_F(GgufBadInput, MisalignedData) { expect_refused(write("align.gguf", one_tensor(0, 8)), "align"); }

TEST_F(GgufBadInput, DuplicateTensorNames) {
  GgufBytes b;
  b.header(2, 1).kv_str("general.architecture", "llama").tensor("w.weight", {32}, 0, 0).tensor("w.weight", {32}, 0, 128);
  b.pad().zeros(256);
  expect_refused(write("dup.gguf", b.bytes()), "w.weight");
}

TEST_F(GgufBadInput, ArchitectureQlabDoesNotRun) {
  ASSERT_EQ(qlab::testing::run_qlab(dir, "gguf builtin --type Q8_0 --out m.gguf").code, 0);
  std::string bytes = qlab::read_file(dir / "m.gguf");
  // "llama" -> "gemma": same length, so every offset stays valid; only the architecture changes.
  const std::string from = std::string("\x05\0\0\0\0\0\0\0llama", 13), to = std::string("\x05\0\0\0\0\0\0\0gemma", 13);
  const auto at = bytes.find(from);
  ASSERT_NE(at, std::string::npos);
  bytes.replace(at, from.size(), to);
  std::ofstream(dir / "gemma.gguf", std::ios::binary) << bytes;
  std::ofstream(dir / "t") << "1 2 3\n";
  const auto r = qlab::testing::run_qlab(dir, "logits gemma.gguf --tokens t --out o");
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << r.err;
  EXPECT_NE(r.err.find("architecture 'gemma' is not one qlab runs"), std::string::npos) << r.err;
  // info still describes the file, and says it does not run
  const auto i = qlab::testing::run_qlab(dir, "info gemma.gguf");
  EXPECT_EQ(i.code, 0) << i.err;
  EXPECT_NE(i.out.find("gemma"), std::string::npos);
}

TEST_F(GgufBadInput, RowLengthTheTypeCannotTakeUnderPure) {
  // The built-in model's rows hold 64 elements: no k-quant block of 256 fits, and --pure forbids
  // the fallback llama-quantize would otherwise take (it refuses the same way).
  const auto r = qlab::testing::run_qlab(dir, "gguf builtin --type Q4_K_M --pure --out k.gguf");
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << r.err;
  EXPECT_NE(r.err.find("256"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir / "k.gguf"));
}

}  // namespace
