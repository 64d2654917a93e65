#include "engine/io/parquet.h"

#include <algorithm>
#include <cstring>
#include <fstream>

#include <fmt/format.h>

#include "engine/core/error.h"
#include "engine/io/parquet_thrift.h"

namespace qlab::io {

namespace {

using thrift::Reader;

constexpr std::size_t kMaxPageBytes = std::size_t{1} << 30;  // a page larger than 1 GiB is not one we read

const char* type_name(ParquetType t) {
  switch (t) {
    case ParquetType::Boolean: return "boolean";
    case ParquetType::Int32: return "int32";
    case ParquetType::Int64: return "int64";
    case ParquetType::Int96: return "int96";
    case ParquetType::Float: return "float";
    case ParquetType::Double: return "double";
    case ParquetType::ByteArray: return "string";
    case ParquetType::FixedLenByteArray: return "fixed_len_byte_array";
  }
  return "?";
}

const char* codec_name(int c) {
  static const char* names[] = {"UNCOMPRESSED", "SNAPPY", "GZIP", "LZO", "BROTLI", "LZ4", "ZSTD", "LZ4_RAW"};
  return c >= 0 && c < 8 ? names[c] : "unknown";
}

struct SchemaNode {
  std::string name;
  int type = -1, repetition = 0, num_children = 0;
};

std::vector<std::string> read_string_list(Reader& r) {
  std::uint8_t et = 0;
  const std::size_t n = r.read_list(et);
  if (et != thrift::Binary) r.bad("a list of strings holding something else");
  std::vector<std::string> v;
  for (std::size_t i = 0; i < n; ++i) v.push_back(r.read_binary());
  return v;
}

SchemaNode read_schema_element(Reader& r) {
  SchemaNode s;
  r.begin_struct();
  std::int16_t id = 0;
  std::uint8_t t = 0;
  while (r.next_field(id, t)) {
    if (id == 1) s.type = static_cast<int>(r.read_int(t));
    else if (id == 3) s.repetition = static_cast<int>(r.read_int(t));
    else if (id == 4) s.name = r.read_binary();
    else if (id == 5) s.num_children = static_cast<int>(r.read_int(t));
    else r.skip(t);
  }
  r.end_struct();
  return s;
}

ParquetColumnChunk read_column_chunk(Reader& r, std::vector<std::string>& path, int& type) {
  ParquetColumnChunk c;
  bool have_meta = false;
  r.begin_struct();
  std::int16_t id = 0;
  std::uint8_t t = 0;
  while (r.next_field(id, t)) {
    if (id == 1 && t == thrift::Binary) {
      r.read_binary();
      r.bad("a column chunk stored in another file (file_path set)");
    } else if (id == 3 && t == thrift::Struct) {
      have_meta = true;
      r.begin_struct();
      std::int16_t mid = 0;
      std::uint8_t mt = 0;
      while (r.next_field(mid, mt)) {
        switch (mid) {
          case 1: type = static_cast<int>(r.read_int(mt)); break;
          case 3: path = read_string_list(r); break;
          case 4: c.codec = static_cast<int>(r.read_int(mt)); break;
          case 5: c.num_values = r.read_int(mt); break;
          case 7: c.total_compressed_size = r.read_int(mt); break;
          case 9: c.data_page_offset = r.read_int(mt); break;
          case 11: c.dictionary_page_offset = r.read_int(mt); break;
          default: r.skip(mt);
        }
      }
      r.end_struct();
    } else {
      r.skip(t);
    }
  }
  r.end_struct();
  if (!have_meta) r.bad("a column chunk without its metadata");
  return c;
}

// RLE / bit-packed hybrid (parquet-format Encodings.md): `count` values of `width` bits.
void decode_hybrid(std::span<const std::uint8_t> in, int width, std::size_t count, std::vector<std::uint32_t>& out,
                   const std::string& what) {
  out.clear();
  if (width < 0 || width > 32) fail("{}: a bit width of {}", what, width);
  std::size_t i = 0;
  const std::size_t value_bytes = static_cast<std::size_t>((width + 7) / 8);
  while (out.size() < count) {
    std::uint64_t h = 0;
    for (int shift = 0;; shift += 7) {
      if (i >= in.size() || shift > 35) fail("{}: levels or indices cut short", what);
      const std::uint8_t b = in[i++];
      h |= static_cast<std::uint64_t>(b & 0x7F) << shift;
      if (!(b & 0x80)) break;
    }
    if (h & 1) {  // bit-packed: (h >> 1) groups of 8 values, LSB first
      const std::uint64_t groups = h >> 1;
      if (groups == 0 || groups > in.size()) fail("{}: a bit-packed run of {} groups", what, groups);
      const std::size_t bytes = static_cast<std::size_t>(groups) * static_cast<std::size_t>(width);
      if (bytes > in.size() - i) fail("{}: a bit-packed run cut short", what);
      const std::size_t n = static_cast<std::size_t>(groups) * 8;
      for (std::size_t k = 0; k < n && out.size() < count; ++k) {
        std::uint64_t v = 0;
        for (int b = 0; b < width; ++b) {
          const std::size_t bit = k * static_cast<std::size_t>(width) + static_cast<std::size_t>(b);
          v |= static_cast<std::uint64_t>((in[i + bit / 8] >> (bit % 8)) & 1u) << b;
        }
        out.push_back(static_cast<std::uint32_t>(v));
      }
      i += bytes;
    } else {
      const std::uint64_t n = h >> 1;
      if (value_bytes > in.size() - i) fail("{}: an RLE run cut short", what);
      std::uint32_t v = 0;
      for (std::size_t b = 0; b < value_bytes; ++b) v |= static_cast<std::uint32_t>(in[i + b]) << (8 * b);
      i += value_bytes;
      if (n == 0) fail("{}: an empty RLE run", what);
      const std::size_t take = static_cast<std::size_t>(std::min<std::uint64_t>(n, count - out.size()));
      out.insert(out.end(), take, v);
    }
  }
}

int bit_width(int max) {
  int w = 0;
  while ((1 << w) <= max) ++w;
  return w;
}

std::uint32_t le32(const std::uint8_t* p) {
  std::uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

}  // namespace

struct ParquetFile::Values {
  std::vector<std::string> strings;  // present values, in order
  std::vector<std::int64_t> ints;
  std::vector<std::uint32_t> def, rep;  // one per level entry (empty when the max level is 0)
  std::size_t entries = 0;
};

ParquetFile ParquetFile::open(const std::filesystem::path& path) {
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  if (!f) fail("cannot open {}", path.string());
  const auto size = static_cast<std::size_t>(f.tellg());
  std::vector<std::uint8_t> bytes(size);
  f.seekg(0);
  if (size && !f.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(size)))
    fail("cannot read {}", path.string());
  return parse(std::move(bytes), path.string());
}

ParquetFile ParquetFile::parse(std::vector<std::uint8_t> bytes, std::string name) {
  ParquetFile pf;
  pf.name_ = std::move(name);
  pf.bytes_ = std::move(bytes);
  const auto& b = pf.bytes_;
  if (b.size() < 12 || std::memcmp(b.data(), "PAR1", 4) != 0)
    fail("{}: not a Parquet file (no PAR1 signature at the start)", pf.name_);
  if (std::memcmp(b.data() + b.size() - 4, "PAR1", 4) != 0)
    fail("{}: a Parquet file cut short (no PAR1 signature at the end: the download or copy did not finish)", pf.name_);
  const std::uint32_t meta_len = le32(b.data() + b.size() - 8);
  if (meta_len > b.size() - 12) fail("{}: its footer claims {} bytes of metadata, more than the file holds", pf.name_, meta_len);
  const std::size_t meta_at = b.size() - 8 - meta_len;
  Reader r({b.data() + meta_at, meta_len}, pf.name_);
  std::vector<SchemaNode> schema;
  r.begin_struct();
  std::int16_t id = 0;
  std::uint8_t t = 0;
  std::vector<std::vector<std::string>> chunk_paths;
  while (r.next_field(id, t)) {
    if (id == 2 && t == thrift::List) {
      std::uint8_t et = 0;
      const std::size_t n = r.read_list(et);
      if (et != thrift::Struct) r.bad("a schema that is not a list of elements");
      for (std::size_t k = 0; k < n; ++k) schema.push_back(read_schema_element(r));
    } else if (id == 3) {
      pf.num_rows_ = r.read_int(t);
    } else if (id == 4 && t == thrift::List) {
      std::uint8_t et = 0;
      const std::size_t n = r.read_list(et);
      if (et != thrift::Struct) r.bad("row groups that are not structs");
      for (std::size_t k = 0; k < n; ++k) {
        ParquetRowGroup g;
        r.begin_struct();
        std::int16_t gid = 0;
        std::uint8_t gt = 0;
        while (r.next_field(gid, gt)) {
          if (gid == 1 && gt == thrift::List) {
            std::uint8_t ct = 0;
            const std::size_t nc = r.read_list(ct);
            if (ct != thrift::Struct) r.bad("column chunks that are not structs");
            for (std::size_t c = 0; c < nc; ++c) {
              std::vector<std::string> path;
              int type = -1;
              g.columns.push_back(read_column_chunk(r, path, type));
              chunk_paths.push_back(std::move(path));
            }
          } else if (gid == 3) {
            g.num_rows = r.read_int(gt);
          } else {
            r.skip(gt);
          }
        }
        r.end_struct();
        pf.row_groups_.push_back(std::move(g));
      }
    } else {
      r.skip(t);
    }
  }
  r.end_struct();
  if (schema.empty()) fail("{}: a Parquet file without a schema", pf.name_);
  if (pf.num_rows_ < 0) fail("{}: a negative row count", pf.name_);

  // The schema is a depth-first list; element 0 is the root. Leaves are the columns.
  std::size_t next = 1;
  struct Frame {
    std::string prefix;
    int def, rep;
  };
  auto walk = [&](auto&& self, int children, const Frame& f, int depth) -> void {
    if (depth > 16) fail("{}: a schema nested deeper than 16 levels", pf.name_);
    for (int c = 0; c < children; ++c) {
      if (next >= schema.size()) fail("{}: the schema lists fewer elements than its groups claim", pf.name_);
      const SchemaNode& n = schema[next++];
      Frame g{f.prefix.empty() ? n.name : f.prefix + "." + n.name, f.def + (n.repetition != 0 ? 1 : 0),
              f.rep + (n.repetition == 2 ? 1 : 0)};
      if (n.num_children > 0) {
        self(self, n.num_children, g, depth + 1);
      } else {
        if (n.type < 0 || n.type > 7) fail("{}: column {} has no physical type", pf.name_, g.prefix);
        pf.columns_.push_back({g.prefix, static_cast<ParquetType>(n.type), g.def, g.rep});
      }
    }
  };
  if (schema[0].num_children < 0 || static_cast<std::size_t>(schema[0].num_children) >= schema.size() + 1)
    fail("{}: a schema root with {} children", pf.name_, schema[0].num_children);
  walk(walk, schema[0].num_children, Frame{"", 0, 0}, 0);
  if (next != schema.size()) fail("{}: the schema has elements outside its tree", pf.name_);
  std::int64_t rows = 0;
  for (std::size_t g = 0; g < pf.row_groups_.size(); ++g) {
    const auto& rg = pf.row_groups_[g];
    if (rg.columns.size() != pf.columns_.size())
      fail("{}: row group {} has {} column chunks for {} columns", pf.name_, g, rg.columns.size(), pf.columns_.size());
    if (rg.num_rows < 0) fail("{}: row group {} has a negative row count", pf.name_, g);
    rows += rg.num_rows;
    for (const auto& c : rg.columns) {
      const std::int64_t start = c.dictionary_page_offset > 0 ? std::min(c.dictionary_page_offset, c.data_page_offset)
                                                              : c.data_page_offset;
      if (start < 4 || start >= static_cast<std::int64_t>(meta_at) || c.num_values < 0)
        fail("{}: a column chunk at offset {}, outside the file's data", pf.name_, start);
    }
  }
  if (rows != pf.num_rows_) fail("{}: row groups hold {} rows, the footer says {}", pf.name_, rows, pf.num_rows_);
  for (std::size_t k = 0; k < chunk_paths.size(); ++k) {
    std::string joined;
    for (const auto& p : chunk_paths[k]) joined += (joined.empty() ? "" : ".") + p;
    if (!joined.empty() && joined != pf.columns_[k % pf.columns_.size()].path)
      fail("{}: column chunk {} names column {}, the schema {}", pf.name_, k, joined, pf.columns_[k % pf.columns_.size()].path);
  }
  return pf;
}

int ParquetFile::find(const std::string& path) const {
  for (std::size_t i = 0; i < columns_.size(); ++i)
    if (columns_[i].path == path) return static_cast<int>(i);
  return -1;
}

std::string ParquetFile::describe_columns() const {
  std::string s;
  for (const auto& c : columns_) s += fmt::format("{}{} ({})", s.empty() ? "" : ", ", c.path, type_name(c.type));
  return s;
}

ParquetFile::Values ParquetFile::read_column(int index) const {
  const ParquetColumn& col = columns_[static_cast<std::size_t>(index)];
  const std::string what = fmt::format("{}, column {}", name_, col.path);
  if (col.type != ParquetType::ByteArray && col.type != ParquetType::Int32 && col.type != ParquetType::Int64)
    fail("{}: {} values are not read by qlab (strings and integers are)", what, type_name(col.type));
  Values v;
  std::vector<std::string> dict_s;
  std::vector<std::int64_t> dict_i;
  std::vector<std::uint32_t> idx;
  const std::size_t data_end = bytes_.size() - 8 - le32(bytes_.data() + bytes_.size() - 8);
  const int def_w = bit_width(col.max_def), rep_w = bit_width(col.max_rep);

  // PLAIN values of the column's type from `p`, `n` of them.
  auto plain = [&](std::span<const std::uint8_t> p, std::size_t n, std::vector<std::string>& s, std::vector<std::int64_t>& i) {
    std::size_t at = 0;
    const std::size_t width = col.type == ParquetType::Int32 ? 4 : 8;
    for (std::size_t k = 0; k < n; ++k) {
      if (col.type == ParquetType::ByteArray) {
        if (p.size() - at < 4) fail("{}: string values cut short", what);
        const std::uint32_t len = le32(p.data() + at);
        at += 4;
        if (len > p.size() - at) fail("{}: a string of {} bytes runs past its page", what, len);
        s.emplace_back(reinterpret_cast<const char*>(p.data() + at), len);
        at += len;
      } else {
        if (p.size() - at < width) fail("{}: integer values cut short", what);
        if (width == 4) {
          std::int32_t x;
          std::memcpy(&x, p.data() + at, 4);
          i.push_back(x);
        } else {
          std::int64_t x;
          std::memcpy(&x, p.data() + at, 8);
          i.push_back(x);
        }
        at += width;
      }
    }
  };

  for (std::size_t g = 0; g < row_groups_.size(); ++g) {
    const ParquetColumnChunk& c = row_groups_[g].columns[static_cast<std::size_t>(index)];
    if (c.codec != 0 && c.codec != 1 && c.codec != 2 && c.codec != 6)
      fail("{}: compressed with {}; qlab reads uncompressed, SNAPPY, GZIP and ZSTD pages", what, codec_name(c.codec));
    auto pos = static_cast<std::size_t>(c.dictionary_page_offset > 0 ? std::min(c.dictionary_page_offset, c.data_page_offset)
                                                                    : c.data_page_offset);
    std::size_t read_entries = 0;
    dict_s.clear();
    dict_i.clear();
    bool have_dict = false;
    while (read_entries < static_cast<std::size_t>(c.num_values)) {
      if (pos >= data_end) fail("{}: pages run past the data (file damaged or cut short)", what);
      Reader r({bytes_.data() + pos, data_end - pos}, what);
      int type = -1, uncompressed = -1, compressed = -1;
      int dp_values = -1, dp_encoding = -1, dict_values = -1;
      int v2_values = -1, v2_nulls = 0, v2_encoding = -1, v2_def_len = 0, v2_rep_len = 0;
      bool v2_compressed = true;
      r.begin_struct();
      std::int16_t id = 0;
      std::uint8_t t = 0;
      while (r.next_field(id, t)) {
        if (id == 1) type = static_cast<int>(r.read_int(t));
        else if (id == 2) uncompressed = static_cast<int>(r.read_int(t));
        else if (id == 3) compressed = static_cast<int>(r.read_int(t));
        else if ((id == 5 || id == 7 || id == 8) && t == thrift::Struct) {
          r.begin_struct();
          std::int16_t sid = 0;
          std::uint8_t st = 0;
          while (r.next_field(sid, st)) {
            if (id == 5 && sid == 1) dp_values = static_cast<int>(r.read_int(st));
            else if (id == 5 && sid == 2) dp_encoding = static_cast<int>(r.read_int(st));
            else if (id == 7 && sid == 1) dict_values = static_cast<int>(r.read_int(st));
            else if (id == 8 && sid == 1) v2_values = static_cast<int>(r.read_int(st));
            else if (id == 8 && sid == 2) v2_nulls = static_cast<int>(r.read_int(st));
            else if (id == 8 && sid == 4) v2_encoding = static_cast<int>(r.read_int(st));
            else if (id == 8 && sid == 5) v2_def_len = static_cast<int>(r.read_int(st));
            else if (id == 8 && sid == 6) v2_rep_len = static_cast<int>(r.read_int(st));
            else if (id == 8 && sid == 7) v2_compressed = r.read_bool(st);
            else r.skip(st);
          }
          r.end_struct();
        } else {
          r.skip(t);
        }
      }
      r.end_struct();
      pos += r.pos();
      if (compressed < 0 || uncompressed < 0 || static_cast<std::size_t>(compressed) > data_end - pos ||
          static_cast<std::size_t>(uncompressed) > kMaxPageBytes)
        fail("{}: a page of {} bytes ({} uncompressed) does not fit the file", what, compressed, uncompressed);
      std::span<const std::uint8_t> raw(bytes_.data() + pos, static_cast<std::size_t>(compressed));
      pos += static_cast<std::size_t>(compressed);
      auto decompress = [&](std::span<const std::uint8_t> in, std::size_t size) -> std::vector<std::uint8_t> {
        switch (c.codec) {
          case 1: return snappy_decompress(in, size, what);
          case 2: return gzip_decompress(in, size, what);
          case 6: return zstd_decompress(in, size, what);
          default:
            if (in.size() != size) fail("{}: an uncompressed page of {} bytes that says {}", what, in.size(), size);
            return {in.begin(), in.end()};
        }
      };
      if (type == 2) {  // dictionary page
        if (have_dict) fail("{}: two dictionary pages in one column chunk", what);
        if (dict_values < 0) fail("{}: a dictionary page without its header", what);
        const auto page = decompress(raw, static_cast<std::size_t>(uncompressed));
        if (static_cast<std::size_t>(dict_values) > page.size() + 1) fail("{}: a dictionary of {} values in {} bytes", what, dict_values, page.size());
        plain(page, static_cast<std::size_t>(dict_values), dict_s, dict_i);
        have_dict = true;
        continue;
      }
      if (type != 0 && type != 3) {
        if (type == 1) continue;  // index pages carry nothing we read
        fail("{}: a page of unknown type {}", what, type);
      }
      std::size_t n = 0;
      int encoding = 0;
      std::vector<std::uint8_t> page;
      std::span<const std::uint8_t> rest;
      std::vector<std::uint32_t> def, rep;
      if (type == 0) {
        if (dp_values < 0) fail("{}: a data page without its header", what);
        n = static_cast<std::size_t>(dp_values);
        encoding = dp_encoding;
        page = decompress(raw, static_cast<std::size_t>(uncompressed));
        rest = page;
        auto levels = [&](int width, std::vector<std::uint32_t>& out) {
          if (rest.size() < 4) fail("{}: levels cut short", what);
          const std::uint32_t len = le32(rest.data());
          if (len > rest.size() - 4) fail("{}: levels of {} bytes run past the page", what, len);
          decode_hybrid(rest.subspan(4, len), width, n, out, what);
          rest = rest.subspan(4 + len);
        };
        if (col.max_rep > 0) levels(rep_w, rep);
        if (col.max_def > 0) levels(def_w, def);
      } else {
        if (v2_values < 0 || v2_def_len < 0 || v2_rep_len < 0 ||
            static_cast<std::size_t>(v2_def_len) + static_cast<std::size_t>(v2_rep_len) > raw.size())
          fail("{}: a v2 data page with bad level lengths", what);
        n = static_cast<std::size_t>(v2_values);
        encoding = v2_encoding;
        if (col.max_rep > 0) decode_hybrid(raw.subspan(0, static_cast<std::size_t>(v2_rep_len)), rep_w, n, rep, what);
        if (col.max_def > 0)
          decode_hybrid(raw.subspan(static_cast<std::size_t>(v2_rep_len), static_cast<std::size_t>(v2_def_len)), def_w, n, def, what);
        const auto values = raw.subspan(static_cast<std::size_t>(v2_rep_len + v2_def_len));
        const std::size_t levels = static_cast<std::size_t>(v2_rep_len + v2_def_len);
        if (static_cast<std::size_t>(uncompressed) < levels) fail("{}: a v2 page smaller than its levels", what);
        page = v2_compressed ? decompress(values, static_cast<std::size_t>(uncompressed) - levels)
                             : std::vector<std::uint8_t>(values.begin(), values.end());
        rest = page;
        (void)v2_nulls;
      }
      if (n > (std::size_t{1} << 26)) fail("{}: a page of {} values (qlab reads pages of at most 2^26)", what, n);
      if (n > static_cast<std::size_t>(c.num_values) - read_entries)
        fail("{}: pages hold more values than the column chunk's {}", what, c.num_values);
      std::size_t present = n;
      if (col.max_def > 0) {
        present = 0;
        for (std::uint32_t d : def) {
          if (d > static_cast<std::uint32_t>(col.max_def)) fail("{}: a definition level above the column's {}", what, col.max_def);
          present += d == static_cast<std::uint32_t>(col.max_def) ? 1 : 0;
        }
      }
      for (std::uint32_t x : rep)
        if (x > static_cast<std::uint32_t>(col.max_rep)) fail("{}: a repetition level above the column's {}", what, col.max_rep);
      if (encoding == 0) {
        plain(rest, present, v.strings, v.ints);
      } else if (encoding == 2 || encoding == 8) {
        if (!have_dict) fail("{}: dictionary-encoded values without a dictionary page", what);
        if (present > 0) {
          if (rest.empty()) fail("{}: dictionary indices cut short", what);
          decode_hybrid(rest.subspan(1), rest[0], present, idx, what);
          const std::size_t dn = col.type == ParquetType::ByteArray ? dict_s.size() : dict_i.size();
          for (std::uint32_t k : idx) {
            if (k >= dn) fail("{}: dictionary index {} of a dictionary of {}", what, k, dn);
            if (col.type == ParquetType::ByteArray) v.strings.push_back(dict_s[k]);
            else v.ints.push_back(dict_i[k]);
          }
        }
      } else {
        fail("{}: values in encoding {} (qlab reads PLAIN and dictionary encodings)", what, encoding);
      }
      v.def.insert(v.def.end(), def.begin(), def.end());
      v.rep.insert(v.rep.end(), rep.begin(), rep.end());
      read_entries += n;
      v.entries += n;
    }
  }
  return v;
}

std::vector<std::string> ParquetFile::read_strings(const std::string& column) const {
  const int i = find(column);
  if (i < 0) fail("{}: no column '{}' (it has {})", name_, column, describe_columns());
  const ParquetColumn& c = columns_[static_cast<std::size_t>(i)];
  if (c.type != ParquetType::ByteArray) fail("{}: column {} holds {}, not strings", name_, column, type_name(c.type));
  if (c.max_rep > 0) fail("{}: column {} is a list, not one string per row", name_, column);
  Values v = read_column(i);
  if (v.strings.size() != v.entries) fail("{}: column {} has null values", name_, column);
  if (static_cast<std::int64_t>(v.entries) != num_rows_)
    fail("{}: column {} has {} values for {} rows", name_, column, v.entries, num_rows_);
  return std::move(v.strings);
}

std::vector<std::int64_t> ParquetFile::read_ints(const std::string& column) const {
  const int i = find(column);
  if (i < 0) fail("{}: no column '{}' (it has {})", name_, column, describe_columns());
  const ParquetColumn& c = columns_[static_cast<std::size_t>(i)];
  if (c.type != ParquetType::Int32 && c.type != ParquetType::Int64)
    fail("{}: column {} holds {}, not integers", name_, column, type_name(c.type));
  if (c.max_rep > 0) fail("{}: column {} is a list, not one integer per row", name_, column);
  Values v = read_column(i);
  if (v.ints.size() != v.entries) fail("{}: column {} has null values", name_, column);
  if (static_cast<std::int64_t>(v.entries) != num_rows_)
    fail("{}: column {} has {} values for {} rows", name_, column, v.entries, num_rows_);
  return std::move(v.ints);
}

std::vector<std::vector<std::string>> ParquetFile::read_string_lists(const std::string& column) const {
  int i = -1;
  for (const char* leaf : {".list.element", ".list.item", ".bag.array_element", ".array"})
    if (i < 0) i = find(column + leaf);
  if (i < 0) fail("{}: no list column '{}' (it has {})", name_, column, describe_columns());
  const ParquetColumn& c = columns_[static_cast<std::size_t>(i)];
  if (c.type != ParquetType::ByteArray || c.max_rep != 1)
    fail("{}: column {} is not a list of strings", name_, c.path);
  Values v = read_column(i);
  std::vector<std::vector<std::string>> rows;
  std::size_t next = 0;
  for (std::size_t e = 0; e < v.entries; ++e) {
    if (v.rep.size() != v.entries || v.def.size() != v.entries) fail("{}: column {} has uneven levels", name_, c.path);
    if (v.rep[e] == 0) rows.emplace_back();
    else if (rows.empty()) fail("{}: column {} continues a list before starting one", name_, c.path);
    if (v.def[e] == static_cast<std::uint32_t>(c.max_def)) {
      if (next >= v.strings.size()) fail("{}: column {} has fewer values than its levels", name_, c.path);
      rows.back().push_back(v.strings[next++]);
    } else if (v.def[e] == static_cast<std::uint32_t>(c.max_def - 1) && c.max_def >= 3) {
      fail("{}: column {} has a null element in row {}", name_, c.path, rows.size() - 1);
    }  // lower levels: an empty (or null) list
  }
  if (static_cast<std::int64_t>(rows.size()) != num_rows_)
    fail("{}: column {} has {} lists for {} rows", name_, c.path, rows.size(), num_rows_);
  return rows;
}

}  // namespace qlab::io
