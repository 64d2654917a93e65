#pragma once
// A small, strict Parquet reader: enough for the files WikiText-2 and MMLU ship on the Hugging Face
// Hub (apache/parquet-format, parquet.thrift; Thrift compact protocol).
//   ParquetFile   the footer (FileMetaData: schema, row groups, column chunks), checked against the
//                 file's size before anything is read; columns by dotted name ("choices.list.element")
//   read_strings  a BYTE_ARRAY column (UTF-8 strings), every row group in order
//   read_ints     an INT32 or INT64 column
//   read_string_lists  a LIST of strings (Arrow's three-level layout: name / list / element)
// Scope: data pages v1 and v2, PLAIN and dictionary (PLAIN_DICTIONARY, RLE_DICTIONARY) values, RLE /
// bit-packed hybrid levels; codecs UNCOMPRESSED, SNAPPY (parquet_codecs.cpp), GZIP (zlib), ZSTD
// (libzstd). Anything else (DELTA encodings, LZ4, BROTLI, nested structs, nulls in a column read as
// plain values) is an Error naming the file, column and what is not supported. Every length and
// offset is checked before use: a truncated or damaged file is an Error, never a crash (fuzzed:
// tests/fuzz/parquet_fuzz.cpp).
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace qlab::io {

enum class ParquetType { Boolean = 0, Int32 = 1, Int64 = 2, Int96 = 3, Float = 4, Double = 5, ByteArray = 6, FixedLenByteArray = 7 };

struct ParquetColumn {
  std::string path;          // dotted: "text", "choices.list.element"
  ParquetType type = ParquetType::ByteArray;
  int max_def = 0, max_rep = 0;
};

struct ParquetColumnChunk {
  int codec = 0;                      // CompressionCodec
  std::int64_t num_values = 0;
  std::int64_t data_page_offset = 0;
  std::int64_t dictionary_page_offset = -1;  // -1: none
  std::int64_t total_compressed_size = 0;
};

struct ParquetRowGroup {
  std::int64_t num_rows = 0;
  std::vector<ParquetColumnChunk> columns;  // one per leaf column, in schema order
};

class ParquetFile {
 public:
  // Reads the whole file into memory (the files this reads are tens of MB at most).
  static ParquetFile open(const std::filesystem::path& path);
  // Parses bytes already in memory; `name` is used in messages.
  static ParquetFile parse(std::vector<std::uint8_t> bytes, std::string name);

  const std::string& name() const { return name_; }
  std::int64_t num_rows() const { return num_rows_; }
  const std::vector<ParquetColumn>& columns() const { return columns_; }
  const std::vector<ParquetRowGroup>& row_groups() const { return row_groups_; }
  // The leaf column of that dotted path, or -1.
  int find(const std::string& path) const;
  // "text (string), page (string)": the leaf columns, for messages.
  std::string describe_columns() const;

  std::vector<std::string> read_strings(const std::string& column) const;
  std::vector<std::int64_t> read_ints(const std::string& column) const;
  std::vector<std::vector<std::string>> read_string_lists(const std::string& column) const;

 private:
  struct Values;  // decoded values and levels of one leaf column
  Values read_column(int index) const;

  std::string name_;
  std::vector<std::uint8_t> bytes_;
  std::int64_t num_rows_ = 0;
  std::vector<ParquetColumn> columns_;
  std::vector<ParquetRowGroup> row_groups_;
};

// Codecs (parquet_codecs.cpp): `raw` decompressed to exactly `size` bytes, or an Error naming `what`.
std::vector<std::uint8_t> snappy_decompress(std::span<const std::uint8_t> raw, std::size_t size, const std::string& what);
std::vector<std::uint8_t> gzip_decompress(std::span<const std::uint8_t> raw, std::size_t size, const std::string& what);
std::vector<std::uint8_t> zstd_decompress(std::span<const std::uint8_t> raw, std::size_t size, const std::string& what);

}  // namespace qlab::io
