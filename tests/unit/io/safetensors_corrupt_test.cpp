// Hand-made broken safetensors files, one per validation rule: each must fail with one line that
// names the file (and the tensor where one is to blame) and says what is wrong.
#include <gtest/gtest.h>

#include "engine/io/safetensors.h"
#include "tests/unit/io/io_test_util.h"

namespace qlab::io {
namespace {

using namespace qlab::io::testing;

// One valid tensor "a": U8 [4] at [0, 4).
const std::string kGood = R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}})";

struct Corrupt : ::testing::Test {
  ScratchDir dir;
  std::string open_fails(const std::string& bytes, std::initializer_list<std::string> needles) {
    const fs::path p = dir / "model.safetensors";
    write_raw(p, bytes);
    std::vector<std::string> all(needles);
    all.push_back(p.string());
    std::string msg;
    try {
      TensorStore::open(p);
      ADD_FAILURE() << "opened a corrupt file";
    } catch (const qlab::Error& e) {
      msg = e.what();
      EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
      for (const auto& n : all) EXPECT_NE(msg.find(n), std::string::npos) << "'" << n << "' not in: " << msg;
    }
    return msg;
  }
};

TEST_F(Corrupt, GoodFileOpens) {
  write_raw(dir / "model.safetensors", st_file(kGood, "wxyz"));
  auto s = TensorStore::open(dir.path());
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(s.at("a").bytes.data()), 4), "wxyz");
}

TEST_F(Corrupt, EmptyAndTinyFiles) {
  open_fails("", {"too small"});
  open_fails(std::string(7, '\0'), {"too small"});
}

TEST_F(Corrupt, HeaderLengthPastEndOfFile) {
  open_fails(st_file(kGood, "wxyz", 1000), {"header length 1000", "past the end of the file"});
}

TEST_F(Corrupt, HeaderLengthOverLimit) {
  open_fails(st_file(kGood, "wxyz", 100'000'001), {"over the 100000000-byte limit"});
  open_fails(u64_le(~0ull) + kGood, {"over the"});
}

TEST_F(Corrupt, TruncatedFileData) {
  // The header promises 4 bytes; the file stops after 2.
  open_fails(st_file(kGood, "wx"), {"tensor 'a'", "past the end of the data area", "truncated"});
}

TEST_F(Corrupt, TruncatedInsideHeader) {
  std::string f = st_file(kGood, "wxyz");
  open_fails(f.substr(0, 20), {"past the end of the file"});
}

TEST_F(Corrupt, BadJson) {
  open_fails(st_file(R"({"a":{"dtype":"U8",)", ""), {"invalid JSON"});
  open_fails(st_file("\xff\xfe", ""), {"invalid JSON"});
  open_fails(st_file(R"({"a":{"dtype":"U8\xff","shape":[0],"data_offsets":[0,0]}})", ""), {"invalid JSON"});
}

TEST_F(Corrupt, JsonNotAnObject) {
  open_fails(st_file("[1,2]", ""), {"must be a JSON object"});
  open_fails(st_file("7", ""), {"must be a JSON object"});
}

TEST_F(Corrupt, EntryNotAnObject) { open_fails(st_file(R"({"a":5})", ""), {"tensor 'a'", "expected an object"}); }

TEST_F(Corrupt, MissingFields) {
  open_fails(st_file(R"({"a":{"shape":[4],"data_offsets":[0,4]}})", "wxyz"), {"tensor 'a'", "\"dtype\" is missing"});
  open_fails(st_file(R"({"a":{"dtype":"U8","data_offsets":[0,4]}})", "wxyz"), {"tensor 'a'", "\"shape\" is missing"});
  open_fails(st_file(R"({"a":{"dtype":"U8","shape":[4]}})", "wxyz"), {"tensor 'a'", "\"data_offsets\" is missing"});
}

TEST_F(Corrupt, UnknownDtype) {
  open_fails(st_file(R"({"a":{"dtype":"F7","shape":[4],"data_offsets":[0,4]}})", "wxyz"),
             {"tensor 'a'", "unknown dtype 'F7'"});
  open_fails(st_file(R"({"a":{"dtype":3,"shape":[4],"data_offsets":[0,4]}})", "wxyz"), {"tensor 'a'", "dtype"});
}

TEST_F(Corrupt, BadShapeEntries) {
  open_fails(st_file(R"({"a":{"dtype":"U8","shape":[-4],"data_offsets":[0,4]}})", "wxyz"),
             {"tensor 'a'", "shape[0]", ">= 0"});
  open_fails(st_file(R"({"a":{"dtype":"U8","shape":[2.5],"data_offsets":[0,4]}})", "wxyz"), {"tensor 'a'", "shape[0]"});
  open_fails(st_file(R"({"a":{"dtype":"U8","shape":4,"data_offsets":[0,4]}})", "wxyz"),
             {"tensor 'a'", "shape must be an array"});
}

TEST_F(Corrupt, ShapeOverflow) {
  open_fails(st_file(R"({"a":{"dtype":"F32","shape":[4611686018427387904,4611686018427387904],"data_offsets":[0,4]}})",
                     "wxyz"),
             {"tensor 'a'", "overflows"});
  // zero elements in the end, but the partial product 2^63 does not fit a signed count
  open_fails(st_file(R"({"a":{"dtype":"U8","shape":[4611686018427387904,2,0],"data_offsets":[0,0]}})", ""),
             {"tensor 'a'", "overflows"});
}

TEST_F(Corrupt, BadOffsets) {
  open_fails(st_file(R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[0]}})", "wxyz"),
             {"tensor 'a'", "data_offsets must be [begin, end]"});
  open_fails(st_file(R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[4,0]}})", "wxyz"),
             {"tensor 'a'", "end before they begin"});
  open_fails(st_file(R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[-1,3]}})", "wxyz"), {"tensor 'a'", "whole numbers"});
}

TEST_F(Corrupt, DtypeTimesShapeMismatch) {
  open_fails(st_file(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,4]}})", "wxyz"),
             {"tensor 'a'", "needs 16 bytes", "hold 4"});
}

TEST_F(Corrupt, PackedDtypeNeedsWholeBytes) {
  open_fails(st_file(R"({"a":{"dtype":"F4","shape":[3],"data_offsets":[0,2]}})", "xy"),
             {"tensor 'a'", "whole bytes"});
}

TEST_F(Corrupt, OverlappingTensors) {
  open_fails(st_file(R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},)"
                     R"("b":{"dtype":"U8","shape":[2],"data_offsets":[2,4]}})",
                     "wxyz"),
             {"overlaps", "'a'", "'b'"});
}

TEST_F(Corrupt, GapBetweenTensors) {
  open_fails(st_file(R"({"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},)"
                     R"("b":{"dtype":"U8","shape":[1],"data_offsets":[3,4]}})",
                     "wxyz"),
             {"belong to no tensor", "'b'"});
}

TEST_F(Corrupt, TrailingBytesAfterLastTensor) {
  open_fails(st_file(kGood, "wxyz!!"), {"2 bytes after the last tensor"});
}

TEST_F(Corrupt, DuplicateTensorName) {
  open_fails(st_file(R"({"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},)"
                     R"("a":{"dtype":"U8","shape":[2],"data_offsets":[2,4]}})",
                     "wxyz"),
             {"duplicate key 'a'"});
}

TEST_F(Corrupt, DuplicateKeyInsideTensorInfo) {
  open_fails(st_file(R"({"a":{"dtype":"U8","dtype":"F32","shape":[4],"data_offsets":[0,4]}})", "wxyz"),
             {"duplicate key 'dtype'"});
}

TEST_F(Corrupt, MetadataMustMapStringsToStrings) {
  open_fails(st_file(R"({"__metadata__":{"format":1},"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}})", "wxyz"),
             {"__metadata__", "'format'"});
  open_fails(st_file(R"({"__metadata__":["pt"],"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}})", "wxyz"),
             {"__metadata__"});
}

TEST_F(Corrupt, DeepNestingIsRefusedNotRecursed) {
  open_fails(st_file(std::string(100000, '[') + std::string(100000, ']'), ""), {"nested deeper"});
}

TEST_F(Corrupt, ControlCharactersInNamesStayOnOneLine) {
  std::string m = open_fails(st_file("{\"a\\nb\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,3]}}", "wxyz"),
                             {"'a\\x0ab'"});
}

TEST_F(Corrupt, EmptyTensorsAndScalarsAreValid) {
  // Zero-size tensors share an offset; a scalar has shape [].
  write_raw(dir / "model.safetensors",
            st_file(R"({"e":{"dtype":"F32","shape":[0,3],"data_offsets":[0,0]},)"
                    R"("f":{"dtype":"F16","shape":[0],"data_offsets":[0,0]},)"
                    R"("s":{"dtype":"I32","shape":[],"data_offsets":[0,4]}}   )",
                    std::string("\x07\0\0\0", 4)));
  auto s = TensorStore::open(dir / "model.safetensors");
  EXPECT_EQ(s.size(), 3u);
  EXPECT_EQ(s.at("e").numel(), 0);
  EXPECT_EQ(s.at("s").numel(), 1);
  EXPECT_EQ(s.at("s").bytes.size(), 4u);
}

TEST_F(Corrupt, UnknownTensorIsAnErrorNamingIt) {
  write_raw(dir / "model.safetensors", st_file(kGood, "wxyz"));
  auto s = TensorStore::open(dir.path());
  EXPECT_EQ(s.find("nope"), nullptr);
  expect_error([&] { (void)s.at("nope"); }, {"'nope'", dir.path().string()});
}

TEST_F(Corrupt, FolderWithoutWeights) {
  expect_error([&] { TensorStore::open(dir.path()); }, {"no model.safetensors", dir.path().string()});
  expect_error([&] { TensorStore::open(dir / "absent"); }, {"no such file"});
}

}  // namespace
}  // namespace qlab::io
