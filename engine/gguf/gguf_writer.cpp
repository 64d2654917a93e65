// GGUF v3 writer after ggml's gguf.cpp writer: all integers little-endian, strings as u64 length +
// bytes, bools as one byte 0/1, tensor n_dims = dimensions up to the last one that is not 1.
#include "engine/gguf/gguf_writer.h"

#include <algorithm>
#include <cstring>
#include <ostream>

#include "engine/core/atomic_file.h"
#include "engine/core/error.h"
#include "engine/gguf/gguf_file.h"

namespace qlab::gguf {

namespace {

class Bytes {
 public:
  template <typename T>
  void put(T v) {
    append(&v, sizeof v);
  }
  void put_string(std::string_view s) {
    put<std::uint64_t>(s.size());
    append(s.data(), s.size());
  }
  void pad(std::uint64_t alignment) {
    while (out_.size() % alignment != 0) out_.push_back(std::byte{0});
  }
  std::vector<std::byte>& get() { return out_; }

 private:
  void append(const void* p, std::size_t n) {
    const std::size_t at = out_.size();
    out_.resize(at + n);
    if (n) std::memcpy(out_.data() + at, p, n);
  }
  std::vector<std::byte> out_;
};

void put_value(Bytes& b, const MetaValue& v) {
  b.put<std::uint32_t>(static_cast<std::uint32_t>(v.type()));
  if (v.is_array()) {
    b.put<std::uint32_t>(static_cast<std::uint32_t>(v.element_type()));
    b.put<std::uint64_t>(v.size());
  }
  std::visit(
      [&](const auto& elems) {
        for (const auto& e : elems) {
          if constexpr (std::is_same_v<std::decay_t<decltype(e)>, std::string>)
            b.put_string(e);
          else
            b.put(e);
        }
      },
      v.storage());
}

std::uint64_t padded(std::uint64_t n, std::uint64_t a) { return n + (a - n % a) % a; }

}  // namespace

void GgufWriter::set(std::string key, MetaValue value) {
  if (key.empty()) fail("GGUF metadata key is empty");
  if (key == "general.alignment") {
    if (value.type() != ValueType::U32) fail("general.alignment must be a uint32, not {}", value.type_description());
    const std::uint32_t a = value.as<std::uint32_t>();
    if (a == 0 || (a & (a - 1)) != 0) fail("general.alignment must be a power of two, not {}", a);
  }
  remove(key);
  kv_.emplace_back(std::move(key), std::move(value));
}

void GgufWriter::remove(std::string_view key) {
  kv_.erase(std::remove_if(kv_.begin(), kv_.end(), [&](const auto& kv) { return kv.first == key; }), kv_.end());
}

const MetaValue* GgufWriter::find(std::string_view key) const {
  for (const auto& [k, v] : kv_)
    if (k == key) return &v;
  return nullptr;
}

std::uint32_t GgufWriter::alignment() const {
  const MetaValue* a = find("general.alignment");
  return a ? a->as<std::uint32_t>() : kDefaultAlignment;
}

void GgufWriter::add_tensor(std::string name, GgmlType type, std::vector<std::int64_t> shape,
                            std::optional<std::vector<std::byte>> data) {
  if (name.empty() || name.size() > kMaxTensorName)
    fail("tensor name '{}' must be 1 to {} bytes long", name, kMaxTensorName);
  for (const Tensor& t : tensors_)
    if (t.name == name) fail("tensor {} is added twice", name);
  if (shape.empty() || shape.size() > static_cast<std::size_t>(kMaxDims))
    fail("tensor {}: {} dimensions (1 to {} allowed)", name, shape.size(), kMaxDims);
  while (shape.size() > 1 && shape.back() == 1) shape.pop_back();
  std::int64_t rows = 1;
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] <= 0) fail("tensor {}: dimension {} is {}", name, i, shape[i]);
    if (i > 0) {
      if (rows > INT64_MAX / shape[i]) fail("tensor {}: too many elements", name);
      rows *= shape[i];
    }
  }
  const std::uint64_t rb = row_bytes(type, shape[0], "tensor " + name);
  if (rb != 0 && static_cast<std::uint64_t>(rows) > UINT64_MAX / rb) fail("tensor {}: too large", name);
  const std::uint64_t size = rb * static_cast<std::uint64_t>(rows);
  if (data && data->size() != size) fail("tensor {}: {} bytes given, its shape and type need {}", name, data->size(), size);
  tensors_.push_back(Tensor{std::move(name), type, std::move(shape), size, std::move(data)});
}

std::uint64_t GgufWriter::data_offset_of(std::size_t index) const {
  std::uint64_t off = 0;
  for (std::size_t i = 0; i < index; ++i) off += padded(tensors_.at(i).size_bytes, alignment());
  return off;
}

std::vector<std::byte> GgufWriter::header_bytes() const {
  Bytes b;
  b.put<std::uint32_t>(0x46554747u);  // "GGUF"
  b.put<std::uint32_t>(3);
  b.put<std::uint64_t>(tensors_.size());
  b.put<std::uint64_t>(kv_.size());
  for (const auto& [key, value] : kv_) {
    b.put_string(key);
    put_value(b, value);
  }
  const std::uint32_t align = alignment();
  std::uint64_t offset = 0;
  for (const Tensor& t : tensors_) {
    b.put_string(t.name);
    b.put<std::uint32_t>(static_cast<std::uint32_t>(t.shape.size()));
    for (std::int64_t d : t.shape) b.put<std::uint64_t>(static_cast<std::uint64_t>(d));
    b.put<std::uint32_t>(static_cast<std::uint32_t>(t.type));
    b.put<std::uint64_t>(offset);
    offset += padded(t.size_bytes, align);
  }
  b.pad(align);
  return std::move(b.get());
}

void GgufWriter::write(const std::filesystem::path& path, const Producer& produce) const {
  const std::uint32_t align = alignment();
  const std::vector<std::byte> header = header_bytes();
  write_file_atomic(path, [&](std::ostream& out) {
    auto put = [&](const std::byte* p, std::size_t n) {
      out.write(reinterpret_cast<const char*>(p), static_cast<std::streamsize>(n));
      if (!out) fail("{}: write failed", path.string());
    };
    put(header.data(), header.size());
    const std::byte zeros[256] = {};
    for (std::size_t i = 0; i < tensors_.size(); ++i) {
      const Tensor& t = tensors_[i];
      std::vector<std::byte> produced;
      const std::vector<std::byte>* data = t.data ? &*t.data : nullptr;
      if (!data) {
        if (!produce) fail("{}: no bytes for tensor {}", path.string(), t.name);
        produced = produce(i);
        if (produced.size() != t.size_bytes)
          fail("{}: tensor {} came with {} bytes, {} expected", path.string(), t.name, produced.size(), t.size_bytes);
        data = &produced;
      }
      put(data->data(), data->size());
      for (std::uint64_t pad = padded(t.size_bytes, align) - t.size_bytes; pad > 0;) {
        const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(pad, sizeof zeros));
        put(zeros, n);
        pad -= n;
      }
    }
  });
}

}  // namespace qlab::gguf
