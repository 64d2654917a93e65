// Validation of one safetensors file and of a shard index. Every check names the file, and the
// tensor when one is to blame, because the user's next step is to find which download is broken.
#include "engine/io/safetensors_header.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <limits>
#include <set>

#include "engine/core/error.h"
#include "engine/io/strict_json.h"

namespace qlab::io {

static_assert(std::endian::native == std::endian::little, "safetensors data is little-endian");

namespace {

using json = nlohmann::json;

std::uint64_t read_u64_le(const std::byte* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<std::uint8_t>(p[i]);
  return v;
}

// A JSON number that is a whole, non-negative value fitting in `max`; nullopt otherwise.
std::optional<std::uint64_t> as_count(const json& v, std::uint64_t max) {
  if (v.is_number_unsigned()) {
    auto u = v.get<std::uint64_t>();
    if (u <= max) return u;
  } else if (v.is_number_integer()) {
    auto i = v.get<std::int64_t>();
    if (i >= 0 && static_cast<std::uint64_t>(i) <= max) return static_cast<std::uint64_t>(i);
  }
  return std::nullopt;
}

std::string type_word(const json& v) {
  if (v.is_number_integer() && !v.is_number_unsigned()) return "a negative number";
  if (v.is_number_float()) return "a non-integer number";
  return std::string("a ") + v.type_name();
}

ParsedTensor parse_entry(const std::string& name, const json& info, std::uint64_t data_size,
                         std::string_view file) {
  const std::string who = fmt::format("{}: tensor {}", file, printable(name));
  if (!info.is_object()) fail("{}: expected an object with dtype, shape, data_offsets, got {}", who, type_word(info));
  for (const char* key : {"dtype", "shape", "data_offsets"})
    if (!info.contains(key)) fail("{}: \"{}\" is missing", who, key);

  ParsedTensor t;
  t.name = name;
  const json& dt = info["dtype"];
  if (!dt.is_string()) fail("{}: dtype must be a string, got {}", who, type_word(dt));
  auto d = dtype_from_name(dt.get<std::string>());
  if (!d) fail("{}: unknown dtype {}", who, printable(dt.get<std::string>()));
  t.dtype = *d;

  const json& shape = info["shape"];
  if (!shape.is_array()) fail("{}: shape must be an array, got {}", who, type_word(shape));
  for (std::size_t i = 0; i < shape.size(); ++i) {
    auto dim = as_count(shape[i], static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()));
    if (!dim) fail("{}: shape[{}] must be a whole number >= 0, got {}", who, i, shape[i].dump());
    t.shape.push_back(static_cast<std::int64_t>(*dim));
  }

  const json& off = info["data_offsets"];
  if (!off.is_array() || off.size() != 2)
    fail("{}: data_offsets must be [begin, end], got {}", who, off.dump().substr(0, 80));
  auto begin = as_count(off[0], std::numeric_limits<std::uint64_t>::max());
  auto end = as_count(off[1], std::numeric_limits<std::uint64_t>::max());
  if (!begin || !end) fail("{}: data_offsets must be whole numbers >= 0, got {}", who, off.dump().substr(0, 80));
  if (*begin > *end) fail("{}: data_offsets [{}, {}] end before they begin", who, *begin, *end);
  if (*end > data_size)
    fail("{}: data_offsets [{}, {}] run past the end of the data area ({} bytes) — is the file truncated?",
         who, *begin, *end, data_size);
  const std::uint64_t want = dtype_byte_length(t.dtype, t.shape, who);
  if (*end - *begin != want)
    fail("{}: {} x {} needs {} bytes but data_offsets [{}, {}] hold {}", who, dtype_name(t.dtype),
         shape.dump(), want, *begin, *end, *end - *begin);
  t.begin = *begin;
  t.end = *end;
  return t;
}

}  // namespace

ParsedSafetensors parse_safetensors(std::span<const std::byte> file, std::string_view file_name) {
  if (file.size() < 8)
    fail("{}: {} bytes is too small for a safetensors file (the 8-byte header length is missing)", file_name,
         file.size());
  const std::uint64_t n = read_u64_le(file.data());
  if (n > kMaxSafetensorsHeader)
    fail("{}: header length {} is over the {}-byte limit (not a safetensors file, or corrupt)", file_name, n,
         kMaxSafetensorsHeader);
  if (n > file.size() - 8)
    fail("{}: header length {} runs past the end of the file ({} bytes) — is the file truncated?", file_name, n,
         file.size());
  if (n == 0) fail("{}: the header is empty (a safetensors header is a JSON object)", file_name);

  std::string_view text(reinterpret_cast<const char*>(file.data() + 8), n);
  json header = parse_json_strict(text, std::string(file_name) + " header");
  if (!header.is_object()) fail("{}: the header must be a JSON object, got {}", file_name, type_word(header));

  ParsedSafetensors out;
  out.data_start = 8 + n;
  const std::uint64_t data_size = file.size() - out.data_start;
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__") {
      if (!it->is_object()) fail("{}: __metadata__ must be an object of strings, got {}", file_name, type_word(*it));
      for (auto m = it->begin(); m != it->end(); ++m) {
        if (!m->is_string())
          fail("{}: __metadata__ must map strings to strings, but {} holds {}", file_name, printable(m.key()),
               type_word(*m));
        out.metadata[m.key()] = m->get<std::string>();
      }
      continue;
    }
    out.tensors.push_back(parse_entry(it.key(), *it, data_size, file_name));
  }

  // Sorted by offset, the tensors must tile the data area: no overlap, no gap, nothing after the last.
  std::sort(out.tensors.begin(), out.tensors.end(), [](const ParsedTensor& a, const ParsedTensor& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  std::uint64_t expect = 0;
  const ParsedTensor* prev = nullptr;
  for (auto& t : out.tensors) {
    if (t.begin < expect)
      fail("{}: tensor {} (bytes {}..{}) overlaps tensor {} (bytes ..{})", file_name, printable(t.name), t.begin,
           t.end, printable(prev->name), expect);
    if (t.begin > expect)
      fail("{}: bytes {}..{} of the data area belong to no tensor (gap before tensor {})", file_name, expect,
           t.begin, printable(t.name));
    expect = t.end;
    prev = &t;
  }
  if (expect != data_size)
    fail("{}: {} bytes after the last tensor belong to no tensor (the data area is {} bytes, tensors cover {})",
         file_name, data_size - expect, data_size, expect);
  for (auto& t : out.tensors) {
    t.begin += out.data_start;
    t.end += out.data_start;
  }
  return out;
}

ParsedIndex parse_safetensors_index(std::string_view json_text, std::string_view file_name) {
  json j = parse_json_strict(json_text, file_name);
  if (!j.is_object()) fail("{}: must be a JSON object with a weight_map, got {}", file_name, type_word(j));
  if (!j.contains("weight_map")) fail("{}: \"weight_map\" is missing", file_name);
  const json& wm = j["weight_map"];
  if (!wm.is_object()) fail("{}: weight_map must be an object, got {}", file_name, type_word(wm));
  ParsedIndex out;
  std::set<std::string> shards;
  for (auto it = wm.begin(); it != wm.end(); ++it) {
    if (!it->is_string())
      fail("{}: weight_map[{}] must be a file name, got {}", file_name, printable(it.key()), type_word(*it));
    std::string shard = it->get<std::string>();
    // Shards live beside the index: a name that climbs out of the folder is refused.
    if (shard.empty() || shard == "." || shard == ".." || shard.find('/') != std::string::npos ||
        shard.find('\\') != std::string::npos || shard.find('\0') != std::string::npos)
      fail("{}: weight_map[{}] = {} is not a plain file name in the model folder", file_name, printable(it.key()),
           printable(shard));
    out.weight_map[it.key()] = shard;
    shards.insert(shard);
  }
  if (out.weight_map.empty()) fail("{}: weight_map lists no tensors", file_name);
  out.shards.assign(shards.begin(), shards.end());
  return out;
}

}  // namespace qlab::io
