// Writing safetensors files the way the reference library does: tensors ordered by dtype (widest
// first, the library's enum order) then name, header JSON compact with keys in the library's order,
// padded with spaces to a multiple of 8 so every tensor's data starts 8-byte aligned.
#include <algorithm>
#include <numeric>
#include <ostream>
#include <set>

#include <fmt/ranges.h>

#include "engine/core/atomic_file.h"
#include "engine/core/error.h"
#include "engine/io/safetensors.h"
#include "engine/io/strict_json.h"

namespace qlab::io {

namespace {

// The safetensors library's Dtype declaration order (it sorts by it, descending).
int library_rank(DType d) {
  switch (d) {
    case DType::BOOL: return 0;
    case DType::F4: return 1;
    case DType::F6_E2M3: return 2;
    case DType::F6_E3M2: return 3;
    case DType::U8: return 4;
    case DType::I8: return 5;
    case DType::F8_E5M2: return 6;
    case DType::F8_E4M3: return 7;
    case DType::F8_E8M0: return 8;
    case DType::I16: return 9;
    case DType::U16: return 10;
    case DType::F16: return 11;
    case DType::BF16: return 12;
    case DType::I32: return 13;
    case DType::U32: return 14;
    case DType::F32: return 15;
    case DType::C64: return 16;
    case DType::F64: return 17;
    case DType::I64: return 18;
    case DType::U64: return 19;
  }
  return 0;
}

// JSON string escaping as serde_json writes it: UTF-8 passes through, control characters escaped.
void append_json_string(std::string& out, std::string_view s) {
  out += '"';
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20)
          out += fmt::format("\\u{:04x}", c);
        else
          out += ch;
    }
  }
  out += '"';
}

struct Layout {
  std::vector<std::size_t> order;       // indices into the caller's list, in file order
  std::vector<std::uint64_t> lengths;   // byte length per caller index
  std::string header;                   // padded JSON
  std::uint64_t data_bytes = 0;
};

Layout plan(const std::vector<TensorHeader>& tensors, const std::map<std::string, std::string>& metadata,
            const std::filesystem::path& path) {
  Layout L;
  std::set<std::string_view> seen;
  L.lengths.resize(tensors.size());
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const auto& t = tensors[i];
    if (t.name == "__metadata__" || t.name.empty())
      fail("{}: {} is not a usable tensor name", path.string(), printable(t.name));
    if (!seen.insert(t.name).second) fail("{}: tensor {} is given twice", path.string(), printable(t.name));
    L.lengths[i] = dtype_byte_length(t.dtype, t.shape, fmt::format("{}: tensor {}", path.string(), printable(t.name)));
  }
  L.order.resize(tensors.size());
  std::iota(L.order.begin(), L.order.end(), std::size_t{0});
  std::sort(L.order.begin(), L.order.end(), [&](std::size_t a, std::size_t b) {
    int ra = library_rank(tensors[a].dtype), rb = library_rank(tensors[b].dtype);
    if (ra != rb) return ra > rb;
    return tensors[a].name < tensors[b].name;
  });

  std::string& h = L.header;
  h.push_back('{');
  bool first = true;
  if (!metadata.empty()) {
    h += "\"__metadata__\":{";
    bool f = true;
    for (const auto& [k, v] : metadata) {
      if (!f) h += ',';
      f = false;
      append_json_string(h, k);
      h += ':';
      append_json_string(h, v);
    }
    h += '}';
    first = false;
  }
  std::uint64_t offset = 0;
  for (std::size_t i : L.order) {
    const auto& t = tensors[i];
    if (!first) h += ',';
    first = false;
    append_json_string(h, t.name);
    h += ":{\"dtype\":\"";
    h += dtype_name(t.dtype);
    h += "\",\"shape\":[";
    h += fmt::format("{}", fmt::join(t.shape, ","));
    h += fmt::format("],\"data_offsets\":[{},{}]}}", offset, offset + L.lengths[i]);
    offset += L.lengths[i];
  }
  h += '}';
  h.resize((h.size() + 7) / 8 * 8, ' ');
  L.data_bytes = offset;
  return L;
}

void write_u64_le(std::ostream& out, std::uint64_t v) {
  char b[8];
  for (int i = 0; i < 8; ++i) b[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  out.write(b, 8);
}

}  // namespace

std::uint64_t safetensors_file_size(const std::vector<TensorHeader>& tensors,
                                    const std::map<std::string, std::string>& metadata) {
  Layout L = plan(tensors, metadata, "(size estimate)");
  return 8 + L.header.size() + L.data_bytes;
}

void write_safetensors_streamed(const std::filesystem::path& path, const std::vector<TensorHeader>& tensors,
                                const std::map<std::string, std::string>& metadata, const ChunkFill& fill,
                                std::size_t chunk_bytes) {
  Layout L = plan(tensors, metadata, path);
  // 24 bytes is a whole number of elements of every dtype, packed 4- and 6-bit ones included.
  const std::size_t chunk = std::max<std::size_t>(24, chunk_bytes / 24 * 24);
  write_file_atomic(path, [&](std::ostream& out) {
    write_u64_le(out, L.header.size());
    out.write(L.header.data(), static_cast<std::streamsize>(L.header.size()));
    std::uint64_t largest = 1;
    for (auto n : L.lengths) largest = std::max(largest, n);
    std::vector<std::byte> buf(static_cast<std::size_t>(std::min<std::uint64_t>(chunk, largest)));
    for (std::size_t i : L.order) {
      for (std::uint64_t off = 0; off < L.lengths[i]; off += chunk) {
        const auto m = static_cast<std::size_t>(std::min<std::uint64_t>(chunk, L.lengths[i] - off));
        std::span<std::byte> piece(buf.data(), m);
        fill(i, off, piece);
        out.write(reinterpret_cast<const char*>(piece.data()), static_cast<std::streamsize>(m));
        if (!out) fail("{}: write failed (disk full?)", path.string());
      }
    }
  });
}

void write_safetensors(const std::filesystem::path& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  std::vector<TensorHeader> headers;
  headers.reserve(tensors.size());
  for (const auto& t : tensors) {
    headers.push_back({t.name, t.dtype, t.shape});
    const std::uint64_t want =
        dtype_byte_length(t.dtype, t.shape, fmt::format("{}: tensor {}", path.string(), printable(t.name)));
    if (t.bytes.size() != want)
      fail("{}: tensor {}: {} [{}] needs {} bytes, {} given", path.string(), printable(t.name), dtype_name(t.dtype),
           fmt::join(t.shape, ", "), want, t.bytes.size());
  }
  // The bytes are in memory already: each chunk is a copy of the caller's slice.
  write_safetensors_streamed(
      path, headers, metadata,
      [&](std::size_t i, std::uint64_t off, std::span<std::byte> piece) {
        std::copy_n(tensors[i].bytes.begin() + static_cast<std::ptrdiff_t>(off), piece.size(), piece.begin());
      });
}

}  // namespace qlab::io
