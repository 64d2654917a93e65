// The strict GGUF reader. A Cursor walks the bytes; every read checks the bytes left first, and
// every count that sizes an allocation (keys, values, arrays, tensor infos) is compared with the
// bytes left times the smallest size one item can take, so no number read from the file can ask
// for more memory than the file could describe. Layout: the GGUF specification (ggml docs/gguf.md)
// and ggml's gguf.cpp reader, whose limits (name length, dims, known type ids) this keeps.
#include "engine/gguf/gguf_file.h"

#include <algorithm>
#include <cstring>
#include <set>

#include "engine/core/error.h"
#include "engine/gguf/mapped_file.h"

namespace qlab::gguf {

struct GgufFile::Mapping {
  explicit Mapping(const std::filesystem::path& p) : file(p) {}
  MappedFile file;
};

namespace {

constexpr std::size_t kMaxKeyBytes = 65535;

class Cursor {
 public:
  Cursor(std::span<const std::byte> bytes, const std::string& label) : b_(bytes), label_(label) {}

  std::uint64_t pos() const { return pos_; }
  std::uint64_t left() const { return b_.size() - pos_; }

  template <typename T>
  T read(std::string_view what) {
    if (left() < sizeof(T)) fail("{}: truncated: {} ends at byte {} of {}", label_, what, pos_ + sizeof(T), b_.size());
    T v;
    std::memcpy(&v, b_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }

  std::string read_string(std::string_view what) {
    const auto n = read<std::uint64_t>(what);
    if (n > left()) fail("{}: {} is {} bytes long but only {} bytes are left in the file", label_, what, n, left());
    std::string s(reinterpret_cast<const char*>(b_.data() + pos_), static_cast<std::size_t>(n));
    pos_ += n;
    return s;
  }

  // Before reserving `count` items of at least `min_bytes` each.
  void need(std::uint64_t count, std::uint64_t min_bytes, std::string_view what) const {
    if (count > left() / min_bytes)
      fail("{}: {} has {} entries, more than the {} bytes left in the file can hold", label_, what, count, left());
  }

 private:
  std::span<const std::byte> b_;
  const std::string& label_;
  std::uint64_t pos_ = 0;
};

bool printable_ascii(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= 0x20 && c <= 0x7E; });
}

template <typename T>
MetaValue read_elements(Cursor& c, ValueType t, bool is_array, std::uint64_t n, const std::string& key) {
  std::vector<T> v;
  v.reserve(static_cast<std::size_t>(n));
  for (std::uint64_t i = 0; i < n; ++i) v.push_back(c.read<T>(key));
  return MetaValue(t, is_array, std::move(v));
}

MetaValue read_value(Cursor& c, ValueType t, bool is_array, std::uint64_t n, const std::string& key,
                     const std::string& label) {
  switch (t) {
    case ValueType::U8: return read_elements<std::uint8_t>(c, t, is_array, n, key);
    case ValueType::I8: return read_elements<std::int8_t>(c, t, is_array, n, key);
    case ValueType::U16: return read_elements<std::uint16_t>(c, t, is_array, n, key);
    case ValueType::I16: return read_elements<std::int16_t>(c, t, is_array, n, key);
    case ValueType::U32: return read_elements<std::uint32_t>(c, t, is_array, n, key);
    case ValueType::I32: return read_elements<std::int32_t>(c, t, is_array, n, key);
    case ValueType::F32: return read_elements<float>(c, t, is_array, n, key);
    case ValueType::U64: return read_elements<std::uint64_t>(c, t, is_array, n, key);
    case ValueType::I64: return read_elements<std::int64_t>(c, t, is_array, n, key);
    case ValueType::F64: return read_elements<double>(c, t, is_array, n, key);
    case ValueType::Bool: {
      MetaValue v = read_elements<std::uint8_t>(c, t, is_array, n, key);
      for (std::uint8_t b : std::get<std::vector<std::uint8_t>>(v.storage()))
        if (b > 1) fail("{}: key {} holds a bool of value {} (only 0 and 1 are valid)", label, key, b);
      return v;
    }
    case ValueType::String: {
      std::vector<std::string> v;
      v.reserve(static_cast<std::size_t>(n));
      for (std::uint64_t i = 0; i < n; ++i) v.push_back(c.read_string("a string of key " + key));
      return MetaValue(t, is_array, std::move(v));
    }
    case ValueType::Array: break;
  }
  fail("{}: key {} is an array of arrays, which llama.cpp cannot read", label, key);
}

ValueType checked_type(std::uint32_t id, const std::string& key, const std::string& label) {
  if (id > static_cast<std::uint32_t>(ValueType::F64)) fail("{}: key {} has value type {}, not a GGUF type (0..12)", label, key, id);
  return static_cast<ValueType>(id);
}

std::uint64_t align_up(std::uint64_t v, std::uint64_t a) { return v + (a - v % a) % a; }

}  // namespace

std::int64_t TensorInfo::elements() const {
  std::int64_t n = 1;
  for (std::int64_t d : shape) n *= d;
  return n;
}

GgufFile::GgufFile(GgufFile&&) noexcept = default;
GgufFile& GgufFile::operator=(GgufFile&&) noexcept = default;
GgufFile::~GgufFile() = default;

GgufFile GgufFile::open(const std::filesystem::path& path) {
  auto m = std::make_unique<Mapping>(path);
  GgufFile f = parse(m->file.bytes(), path.string());
  f.mapping_ = std::move(m);
  return f;
}

GgufFile GgufFile::parse(std::span<const std::byte> bytes, std::string label) {
  GgufFile f;
  f.label_ = std::move(label);
  f.bytes_ = bytes;
  const std::string& L = f.label_;
  Cursor c(bytes, L);

  // ---- header ----
  if (bytes.size() < 4 || std::memcmp(bytes.data(), "GGUF", 4) != 0) {
    std::string magic;
    for (std::size_t i = 0; i < std::min<std::size_t>(4, bytes.size()); ++i) {
      const char ch = static_cast<char>(bytes[i]);
      magic += (ch >= 0x20 && ch <= 0x7E) ? ch : '?';
    }
    fail("{}: not a GGUF file (it starts with '{}', not 'GGUF')", L, magic);
  }
  (void)c.read<std::uint32_t>("the magic");
  f.version_ = c.read<std::uint32_t>("the version");
  if (f.version_ == 1) fail("{}: GGUF version 1 is not supported (re-convert the model with a current llama.cpp)", L);
  if (f.version_ != 2 && f.version_ != 3) {
    if ((f.version_ & 0xFFFFu) == 0) fail("{}: GGUF version {:#x}: a big-endian file? only little-endian GGUF is supported", L, f.version_);
    fail("{}: unsupported GGUF version {} (2 and 3 are supported)", L, f.version_);
  }
  const auto n_tensors = c.read<std::uint64_t>("the tensor count");
  const auto n_kv = c.read<std::uint64_t>("the metadata count");

  // ---- metadata ----
  c.need(n_kv, 8 + 1 + 4 + 1, "the metadata");  // key length, a 1-byte key, type, a 1-byte value
  f.kv_.reserve(static_cast<std::size_t>(n_kv));
  for (std::uint64_t i = 0; i < n_kv; ++i) {
    std::string key = c.read_string(fmt::format("key {}", i));
    if (key.empty()) fail("{}: metadata key {} is empty", L, i);
    if (key.size() > kMaxKeyBytes) fail("{}: metadata key {} is {} bytes long (at most {})", L, i, key.size(), kMaxKeyBytes);
    if (!printable_ascii(key)) fail("{}: metadata key {} is not printable ASCII", L, i);
    if (f.kv_index_.count(key)) fail("{}: duplicate metadata key {}", L, key);
    const ValueType t = checked_type(c.read<std::uint32_t>("a value type"), key, L);
    MetaValue v = [&] {
      if (t != ValueType::Array) return read_value(c, t, false, 1, key, L);
      const ValueType et = checked_type(c.read<std::uint32_t>("an array element type"), key, L);
      if (et == ValueType::Array) fail("{}: key {} is an array of arrays, which llama.cpp cannot read", L, key);
      const auto n = c.read<std::uint64_t>("an array length");
      c.need(n, value_type_min_bytes(et), "the array of key " + key);
      return read_value(c, et, true, n, key, L);
    }();
    f.kv_index_.emplace(key, f.kv_.size());
    f.kv_.emplace_back(std::move(key), std::move(v));
  }
  if (const MetaValue* a = f.find("general.alignment")) {
    if (a->type() != ValueType::U32) fail("{}: general.alignment is {}, expected uint32", L, a->type_description());
    const std::uint32_t al = a->as<std::uint32_t>();
    if (al == 0 || (al & (al - 1)) != 0) fail("{}: general.alignment is {}, not a power of two", L, al);
    f.alignment_ = al;
  }

  // ---- tensor infos ----
  c.need(n_tensors, 8 + 1 + 4 + 8 + 4 + 8, "the tensor list");  // name, 1 dim, type, offset
  f.tensors_.reserve(static_cast<std::size_t>(n_tensors));
  for (std::uint64_t i = 0; i < n_tensors; ++i) {
    TensorInfo t;
    t.name = c.read_string(fmt::format("the name of tensor {}", i));
    if (t.name.empty()) fail("{}: tensor {} has an empty name", L, i);
    if (t.name.size() > kMaxTensorName) fail("{}: tensor {} has a name of {} bytes (at most {})", L, i, t.name.size(), kMaxTensorName);
    if (f.tensor_index_.count(t.name)) fail("{}: duplicate tensor name {}", L, t.name);
    const auto n_dims = c.read<std::uint32_t>("a tensor's dimension count");
    if (n_dims < 1 || n_dims > kMaxDims) fail("{}: tensor {} has {} dimensions (1 to {} allowed)", L, t.name, n_dims, kMaxDims);
    std::int64_t elements = 1;
    for (std::uint32_t d = 0; d < n_dims; ++d) {
      const auto ne = c.read<std::uint64_t>("a tensor dimension");
      if (ne == 0) fail("{}: tensor {} has a dimension of 0", L, t.name);
      if (ne > static_cast<std::uint64_t>(INT64_MAX) / static_cast<std::uint64_t>(elements))
        fail("{}: tensor {} has more elements than an int64 can count", L, t.name);
      elements *= static_cast<std::int64_t>(ne);
      t.shape.push_back(static_cast<std::int64_t>(ne));
    }
    const auto type_id = c.read<std::uint32_t>("a tensor type");
    const GgmlTypeTraits* tr = find_type(type_id);
    if (!tr) fail("{}: tensor {} has ggml type id {}, which is not a type ggml defines", L, t.name, type_id);
    t.type = tr->type;
    if (t.shape[0] % tr->block_size != 0)
      fail("{}: tensor {} ({}) has rows of {} elements, not a whole number of {}-element blocks", L, t.name, tr->name,
           t.shape[0], tr->block_size);
    const auto blocks = static_cast<std::uint64_t>(elements / tr->block_size);
    if (blocks > UINT64_MAX / tr->bytes_per_block) fail("{}: tensor {} is too large", L, t.name);
    t.size_bytes = blocks * tr->bytes_per_block;
    t.offset = c.read<std::uint64_t>("a tensor offset");
    if (t.offset % f.alignment_ != 0)
      fail("{}: tensor {} starts at offset {}, not a multiple of the alignment {}", L, t.name, t.offset, f.alignment_);
    f.tensor_index_.emplace(t.name, f.tensors_.size());
    f.tensors_.push_back(std::move(t));
  }

  // ---- data section ----
  f.data_offset_ = align_up(c.pos(), f.alignment_);
  if (!f.tensors_.empty() && f.data_offset_ > bytes.size())
    fail("{}: truncated: the data section would start at byte {} of {}", L, f.data_offset_, bytes.size());
  const std::uint64_t data_size = bytes.size() - std::min<std::uint64_t>(f.data_offset_, bytes.size());
  for (TensorInfo& t : f.tensors_) {
    if (t.offset > data_size || t.size_bytes > data_size - t.offset)
      fail("{}: tensor {} ({} bytes at data offset {}) runs past the end of the file ({} bytes of data)", L, t.name,
           t.size_bytes, t.offset, data_size);
    t.data = bytes.subspan(static_cast<std::size_t>(f.data_offset_ + t.offset), static_cast<std::size_t>(t.size_bytes));
  }
  std::vector<const TensorInfo*> by_offset;
  for (const TensorInfo& t : f.tensors_) by_offset.push_back(&t);
  std::sort(by_offset.begin(), by_offset.end(), [](auto* a, auto* b) { return a->offset < b->offset; });
  for (std::size_t i = 1; i < by_offset.size(); ++i)
    if (by_offset[i - 1]->offset + by_offset[i - 1]->size_bytes > by_offset[i]->offset)
      fail("{}: tensors {} and {} overlap in the data section", L, by_offset[i - 1]->name, by_offset[i]->name);
  return f;
}

const MetaValue* GgufFile::find(std::string_view key) const {
  auto it = kv_index_.find(key);
  return it == kv_index_.end() ? nullptr : &kv_[it->second].second;
}

const MetaValue& GgufFile::at(std::string_view key) const {
  const MetaValue* v = find(key);
  if (!v) fail("{}: key {} is missing", label_, key);
  return *v;
}

std::uint32_t GgufFile::get_u32(std::string_view key) const {
  return typed(key, [&](const MetaValue& v) { return v.as<std::uint32_t>(key); });
}
std::int32_t GgufFile::get_i32(std::string_view key) const {
  return typed(key, [&](const MetaValue& v) { return v.as<std::int32_t>(key); });
}
std::uint64_t GgufFile::get_u64(std::string_view key) const {
  return typed(key, [&](const MetaValue& v) { return v.as<std::uint64_t>(key); });
}
float GgufFile::get_f32(std::string_view key) const {
  return typed(key, [&](const MetaValue& v) { return v.as<float>(key); });
}
bool GgufFile::get_bool(std::string_view key) const {
  return typed(key, [&](const MetaValue& v) { return v.as_bool(key); });
}
const std::string& GgufFile::get_string(std::string_view key) const {
  return typed(key, [&](const MetaValue& v) -> const std::string& { return v.as_string(key); });
}
std::span<const std::string> GgufFile::get_strings(std::string_view key) const {
  return typed(key, [&](const MetaValue& v) { return v.as_strings(key); });
}

const TensorInfo* GgufFile::find_tensor(std::string_view name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

const TensorInfo& GgufFile::tensor(std::string_view name) const {
  const TensorInfo* t = find_tensor(name);
  if (!t) fail("{}: no tensor named {}", label_, name);
  return *t;
}

}  // namespace qlab::gguf
