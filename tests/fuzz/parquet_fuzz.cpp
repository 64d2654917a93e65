// Fuzz target for the Parquet reader (engine/io/parquet.h) and its codecs: the input is parsed as a
// Parquet file and every column read the way the suite reads them (strings, integers, lists of
// strings); the input is also fed to each page codec. The only acceptable failure is a qlab::Error;
// anything else (a crash, a sanitizer report, another exception, a broken invariant) is a bug.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <vector>

#include "engine/core/error.h"
#include "engine/io/parquet.h"

namespace {

[[noreturn]] void broken(const char* what) {
  std::fprintf(stderr, "invariant broken: %s\n", what);
  std::abort();
}

void check_file(const std::uint8_t* data, std::size_t size) {
  using namespace qlab::io;
  try {
    const ParquetFile f = ParquetFile::parse(std::vector<std::uint8_t>(data, data + size), "fuzz.parquet");
    std::int64_t rows = 0;
    for (const auto& g : f.row_groups()) rows += g.num_rows;
    if (rows != f.num_rows()) broken("row count");
    for (const auto& c : f.columns()) {
      try {
        // What the reader promises: one value (or one list) per row, or an Error.
        if (c.type == ParquetType::ByteArray && c.max_rep == 0) {
          if (static_cast<std::int64_t>(f.read_strings(c.path).size()) != f.num_rows()) broken("strings per row");
        } else if ((c.type == ParquetType::Int32 || c.type == ParquetType::Int64) && c.max_rep == 0) {
          if (static_cast<std::int64_t>(f.read_ints(c.path).size()) != f.num_rows()) broken("ints per row");
        } else if (c.type == ParquetType::ByteArray && c.max_rep == 1) {
          const std::string list = c.path.substr(0, c.path.find('.'));
          if (static_cast<std::int64_t>(f.read_string_lists(list).size()) != f.num_rows()) broken("lists per row");
        }
      } catch (const qlab::Error&) {
      }
    }
  } catch (const qlab::Error&) {
  }
}

void check_codecs(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::uint8_t> in(data, size);
  const std::size_t out = size ? data[0] * 64u + 1 : 1;  // a size the header may or may not agree with
  for (auto* codec : {&qlab::io::snappy_decompress, &qlab::io::gzip_decompress, &qlab::io::zstd_decompress}) {
    try {
      if (codec(in, out, "fuzz").size() != out) broken("codec size");
    } catch (const qlab::Error&) {
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  check_file(data, size);
  check_codecs(data, size);
  return 0;
}
