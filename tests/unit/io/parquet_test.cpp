// The Parquet reader against files real writers made: apache/parquet-testing's (parquet-mr, Impala,
// Arrow; tests/fixtures/parquet, values as that repository documents them) and the WikiText / MMLU-shaped
// files gen_parquet.py writes with pyarrow (tests/fixtures/parquet/gen). Codecs against their libraries'
// own compressors; damaged and cut-short files are Errors, never crashes.
#include <gtest/gtest.h>
#include <zlib.h>
#include <zstd.h>

#include <fstream>
#include <random>

#include <nlohmann/json.hpp>

#include "engine/core/atomic_file.h"
#include "engine/core/error.h"
#include "engine/io/parquet.h"

namespace qlab::io {
namespace {

const std::filesystem::path kDir = std::filesystem::path(QLAB_SOURCE_DIR) / "tests/fixtures/parquet";

std::vector<std::uint8_t> bytes_of(const std::filesystem::path& p) {
  const std::string s = read_file(p);
  return {s.begin(), s.end()};
}

template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Parquet, PlainUncompressedFromImpala) {
  const ParquetFile f = ParquetFile::open(kDir / "alltypes_plain.parquet");
  EXPECT_EQ(f.num_rows(), 8);
  EXPECT_EQ(f.read_ints("id"), (std::vector<std::int64_t>{4, 5, 6, 7, 2, 3, 0, 1}));
  EXPECT_EQ(f.read_ints("bigint_col"), (std::vector<std::int64_t>{0, 10, 0, 10, 0, 10, 0, 10}));
  EXPECT_EQ(f.read_strings("date_string_col"),
            (std::vector<std::string>{"03/01/09", "03/01/09", "04/01/09", "04/01/09", "02/01/09", "02/01/09",
                                      "01/01/09", "01/01/09"}));
  EXPECT_EQ(f.read_strings("string_col"), (std::vector<std::string>{"0", "1", "0", "1", "0", "1", "0", "1"}));
}

TEST(Parquet, SnappyAndDictionaryPages) {
  const ParquetFile s = ParquetFile::open(kDir / "alltypes_plain.snappy.parquet");
  EXPECT_EQ(s.read_ints("id"), (std::vector<std::int64_t>{6, 7}));
  EXPECT_EQ(s.read_strings("date_string_col"), (std::vector<std::string>{"04/01/09", "04/01/09"}));
  const ParquetFile d = ParquetFile::open(kDir / "alltypes_dictionary.parquet");
  EXPECT_EQ(d.read_ints("id"), (std::vector<std::int64_t>{0, 1}));
  EXPECT_EQ(d.read_strings("string_col"), (std::vector<std::string>{"0", "1"}));
  // A writer that put 0 in dictionary_page_offset (an old parquet-mr bug readers tolerate).
  const ParquetFile z = ParquetFile::open(kDir / "dict-page-offset-zero.parquet");
  EXPECT_EQ(z.read_ints("l_partkey"), std::vector<std::int64_t>(39, 1552));
}

TEST(Parquet, GzipWithConcatenatedMembers) {
  const ParquetFile f = ParquetFile::open(kDir / "concatenated_gzip_members.parquet");
  const auto v = f.read_ints("long_col");
  ASSERT_EQ(v.size(), 513u);
  for (std::size_t i = 0; i < v.size(); ++i) ASSERT_EQ(v[i], static_cast<std::int64_t>(i + 1));
}

TEST(Parquet, WhatItDoesNotReadIsANamedError) {
  EXPECT_NE(error_of([] { ParquetFile::open(kDir / "hadoop_lz4_compressed.parquet").read_strings("c1"); })
                .find("compressed with LZ4"),
            std::string::npos);
  EXPECT_NE(error_of([] { ParquetFile::open(kDir / "delta_length_byte_array.parquet").read_strings("FRUIT"); })
                .find("encoding 6"),
            std::string::npos);
  // datapage_v2: column a holds a null, b is DELTA_BINARY_PACKED.
  const ParquetFile v2 = ParquetFile::open(kDir / "datapage_v2.snappy.parquet");
  EXPECT_NE(error_of([&] { v2.read_strings("a"); }).find("null values"), std::string::npos);
  EXPECT_NE(error_of([&] { v2.read_ints("b"); }).find("encoding 5"), std::string::npos);
  EXPECT_NE(error_of([&] { v2.read_strings("nope"); }).find("no column 'nope' (it has a (string), b (int32)"),
            std::string::npos);
  EXPECT_NE(error_of([] { ParquetFile::open(kDir / "nested_lists.snappy.parquet").read_string_lists("a"); })
                .find("no list column 'a'"),
            std::string::npos);
  EXPECT_NE(error_of([] { ParquetFile::open(kDir / "list_columns.parquet").read_string_lists("utf8_list"); })
                .find("null element"),
            std::string::npos);
}

TEST(Parquet, CutShortOrDamagedFilesAreErrorsNeverCrashes) {
  for (const char* name : {"alltypes_plain.parquet", "alltypes_plain.snappy.parquet", "alltypes_dictionary.parquet",
                           "concatenated_gzip_members.parquet", "datapage_v2.snappy.parquet"}) {
    const auto whole = bytes_of(kDir / name);
    for (std::size_t n = 0; n < whole.size(); n += 7) {
      std::vector<std::uint8_t> cut(whole.begin(), whole.begin() + static_cast<std::ptrdiff_t>(n));
      const std::string e = error_of([&] { ParquetFile::parse(cut, "cut.parquet"); });
      ASSERT_FALSE(e.empty()) << name << " cut at " << n;
      ASSERT_NE(e.find("cut.parquet"), std::string::npos) << e;
    }
    std::mt19937 rng(7);
    for (int trial = 0; trial < 300; ++trial) {
      auto bad = whole;
      for (int k = 0; k < 3; ++k) bad[rng() % bad.size()] = static_cast<std::uint8_t>(rng());
      try {
        const ParquetFile f = ParquetFile::parse(bad, "bad.parquet");
        for (const auto& c : f.columns()) {
          try {
            if (c.type == ParquetType::ByteArray) f.read_strings(c.path);
            else if (c.type == ParquetType::Int32 || c.type == ParquetType::Int64) f.read_ints(c.path);
          } catch (const Error&) {
          }
        }
      } catch (const Error&) {
      }
    }
  }
  const std::string e = error_of([] {
    auto b = bytes_of(kDir / "alltypes_plain.parquet");
    b.resize(b.size() - 1);
    ParquetFile::parse(b, "x.parquet");
  });
  EXPECT_NE(e.find("cut short"), std::string::npos) << e;
  EXPECT_NE(error_of([] { ParquetFile::parse({'P', 'K', 3, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0}, "zip.parquet"); })
                .find("not a Parquet file"),
            std::string::npos);
}

// Snappy's format description, by hand: a literal, a 1-byte-offset copy, an overlapping copy.
TEST(ParquetCodecs, SnappyByTheFormatDescription) {
  // "abcd" literal (tag (4-1)<<2), then copy length 8 offset 4 (tag 01: (8-4)<<2 | 1, offset low byte 4):
  // abcd + abcdabcd; then copy length 5 offset 1 (2-byte offset form: (5-1)<<2 | 2, 01 00): "ddddd".
  const std::vector<std::uint8_t> z = {17, 0x0C, 'a', 'b', 'c', 'd', 0x11, 0x04, 0x12, 0x01, 0x00};
  const auto out = snappy_decompress(z, 17, "t");
  EXPECT_EQ(std::string(out.begin(), out.end()), "abcdabcdabcdddddd");
  EXPECT_NE(error_of([&] { snappy_decompress(z, 16, "t"); }).find("header says 16"), std::string::npos);
  const std::vector<std::uint8_t> far = {4, 0x01, 0x05, 0x00};  // copy from 5 bytes before the start
  EXPECT_NE(error_of([&] { snappy_decompress(far, 4, "t"); }).find("before the start"), std::string::npos);
}

TEST(ParquetCodecs, ZstdAndGzipAgainstTheirLibraries) {
  std::string text;
  for (int i = 0; i < 2000; ++i) text += "line " + std::to_string(i * 7919 % 1000) + "\n";
  std::vector<std::uint8_t> z(ZSTD_compressBound(text.size()));
  z.resize(ZSTD_compress(z.data(), z.size(), text.data(), text.size(), 3));
  auto out = zstd_decompress(z, text.size(), "t");
  EXPECT_EQ(std::string(out.begin(), out.end()), text);
  EXPECT_FALSE(error_of([&] { zstd_decompress(z, text.size() + 1, "t"); }).empty());
  // Two gzip members back to back (concatenated_gzip_members.parquet's shape).
  auto gz = [](const std::string& s) {
    z_stream zs{};
    deflateInit2(&zs, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
    std::vector<std::uint8_t> o(deflateBound(&zs, static_cast<uLong>(s.size())) + 32);
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(s.data()));
    zs.avail_in = static_cast<uInt>(s.size());
    zs.next_out = o.data();
    zs.avail_out = static_cast<uInt>(o.size());
    deflate(&zs, Z_FINISH);
    o.resize(zs.total_out);
    deflateEnd(&zs);
    return o;
  };
  auto a = gz(text.substr(0, 5000)), b = gz(text.substr(5000));
  a.insert(a.end(), b.begin(), b.end());
  out = gzip_decompress(a, text.size(), "t");
  EXPECT_EQ(std::string(out.begin(), out.end()), text);
}

// ---- files gen_parquet.py writes with pyarrow ---------------------------------------------------------

const std::filesystem::path kGen = kDir / "gen";
const char* kRunGen =
    "fixture not made yet: run `python3 tests/fixtures/gen_parquet.py --out tests/fixtures/parquet/gen` "
    "(needs pyarrow, or fastparquet with pandas) and commit the folder";

TEST(ParquetGenerated, WikiTextInEveryCodecPageVersionAndEncoding) {
  if (!std::filesystem::exists(kGen / "expected.json")) GTEST_SKIP() << kRunGen;
  const auto expected = nlohmann::json::parse(read_file(kGen / "expected.json"));
  int files = 0;
  for (const auto& [name, cols] : expected.at("files").items()) {
    const ParquetFile f = ParquetFile::open(kGen / name);
    for (const auto& [col, values] : cols.items()) {
      SCOPED_TRACE(name + " " + col);
      if (values.empty()) continue;
      if (values[0].is_string()) EXPECT_EQ(f.read_strings(col), values.get<std::vector<std::string>>());
      else if (values[0].is_number_integer()) EXPECT_EQ(f.read_ints(col), values.get<std::vector<std::int64_t>>());
      else EXPECT_EQ(f.read_string_lists(col), values.get<std::vector<std::vector<std::string>>>());
    }
    ++files;
  }
  EXPECT_GE(files, 12);
}

}  // namespace
}  // namespace qlab::io
