// Importance-matrix files: GGUF (today's llama-imatrix) and the legacy .dat, after llama.cpp's
// tools/imatrix/imatrix.cpp and common/imatrix-loader.cpp. The legacy file is
//   int32 n_entries; per entry: int32 name length, name, int32 ncall, int32 nval, float32[nval]
//   (values already divided by the count and multiplied by ncall); then optionally int32 chunk
//   count, int32 dataset-name length, dataset name.
#include "engine/gguf/imatrix_file.h"

#include <cmath>
#include <cstring>

#include "engine/core/error.h"
#include "engine/gguf/gguf_file.h"
#include "engine/gguf/gguf_writer.h"
#include "engine/gguf/mapped_file.h"

namespace qlab::gguf {

namespace {

const std::string kSumsSuffix = ".in_sum2";
const std::string kCountsSuffix = ".counts";

bool strip_suffix(std::string& s, const std::string& suffix) {
  if (s.size() <= suffix.size() || s.compare(s.size() - suffix.size(), suffix.size(), suffix) != 0) return false;
  s.resize(s.size() - suffix.size());
  return true;
}

std::vector<float> f32_values(const TensorInfo& t, const std::string& label) {
  if (t.type != GgmlType::F32) fail("{}: imatrix tensor {} is {}, expected f32", label, t.name, type_name(t.type));
  std::vector<float> v(static_cast<std::size_t>(t.elements()));
  std::memcpy(v.data(), t.data.data(), v.size() * sizeof(float));
  return v;
}

Imatrix read_gguf(std::span<const std::byte> bytes, const std::string& label) {
  const GgufFile f = GgufFile::parse(bytes, label);
  Imatrix m;
  for (const char* key : {"imatrix.datasets", "imatrix.chunk_count", "imatrix.chunk_size"})
    if (!f.find(key)) fail("{}: key {} is missing (llama-quantize refuses an imatrix without it)", label, key);
  for (const std::string& d : f.get_strings("imatrix.datasets")) m.datasets.push_back(d);
  m.chunk_count = f.get_u32("imatrix.chunk_count");
  m.chunk_size = f.get_u32("imatrix.chunk_size");

  std::map<std::string, std::pair<const TensorInfo*, const TensorInfo*>> pairs;
  for (const TensorInfo& t : f.tensors()) {
    std::string name = t.name;
    if (strip_suffix(name, kSumsSuffix)) pairs[name].first = &t;
    else if (strip_suffix(name, kCountsSuffix)) pairs[name].second = &t;
  }
  if (pairs.empty()) fail("{}: no imatrix entries (tensors named <tensor>.in_sum2 and <tensor>.counts)", label);
  for (const auto& [name, p] : pairs) {
    if (!p.first || !p.second) fail("{}: imatrix entry {} lacks its {} tensor", label, name, p.first ? "counts" : "in_sum2");
    const std::int64_t matrices = p.first->rows();
    if (p.second->elements() != matrices)
      fail("{}: imatrix entry {} has {} matrices but {} counts", label, name, matrices, p.second->elements());
    ImatrixEntry e;
    e.columns = p.first->row_length();
    e.sums = f32_values(*p.first, label);
    e.counts = f32_values(*p.second, label);
    m.entries.emplace(name, std::move(e));
  }
  return m;
}

class DatCursor {
 public:
  DatCursor(std::span<const std::byte> b, const std::string& label) : b_(b), label_(label) {}
  std::size_t left() const { return b_.size() - pos_; }
  std::int32_t i32(std::string_view what) {
    if (left() < 4) fail("{}: truncated legacy imatrix: {} is missing", label_, what);
    std::int32_t v;
    std::memcpy(&v, b_.data() + pos_, 4);
    pos_ += 4;
    return v;
  }
  std::string bytes(std::int32_t n, std::string_view what) {
    if (n < 0 || static_cast<std::size_t>(n) > left())
      fail("{}: legacy imatrix: {} of {} bytes does not fit in the {} bytes left", label_, what, n, left());
    std::string s(reinterpret_cast<const char*>(b_.data() + pos_), static_cast<std::size_t>(n));
    pos_ += static_cast<std::size_t>(n);
    return s;
  }
  std::vector<float> floats(std::int32_t n, std::string_view what) {
    if (n < 1 || static_cast<std::size_t>(n) > left() / 4)
      fail("{}: legacy imatrix: {} has {} values, which do not fit in the {} bytes left", label_, what, n, left());
    std::vector<float> v(static_cast<std::size_t>(n));
    std::memcpy(v.data(), b_.data() + pos_, v.size() * 4);
    pos_ += v.size() * 4;
    return v;
  }

 private:
  std::span<const std::byte> b_;
  const std::string& label_;
  std::size_t pos_ = 0;
};

Imatrix read_dat(std::span<const std::byte> bytes, const std::string& label) {
  DatCursor c(bytes, label);
  Imatrix m;
  m.legacy = true;
  const std::int32_t n = c.i32("the entry count");
  if (n < 1) fail("{}: legacy imatrix with {} entries", label, n);
  for (std::int32_t i = 0; i < n; ++i) {
    std::string name = c.bytes(c.i32("a name length"), "a name");
    if (name.find('\0') != std::string::npos) name.resize(name.find('\0'));  // as llama.cpp reads it (a C string)
    const std::int32_t ncall = c.i32("an ncall");
    const std::int32_t nval = c.i32("a value count");
    ImatrixEntry e;
    e.sums = c.floats(nval, "entry " + name);
    e.columns = nval;
    e.counts = {static_cast<float>(ncall)};
    m.entries[name] = std::move(e);
  }
  if (c.left() >= 4) {
    m.chunk_count = static_cast<std::uint32_t>(c.i32("the chunk count"));
    if (c.left() >= 4) {
      const std::int32_t len = c.i32("the dataset name length");
      if (len > 0) m.datasets.push_back(c.bytes(len, "the dataset name"));
    }
  }
  return m;
}

}  // namespace

Imatrix parse_imatrix(std::span<const std::byte> bytes, const std::string& label) {
  if (bytes.size() >= 4 && std::memcmp(bytes.data(), "GGUF", 4) == 0) return read_gguf(bytes, label);
  return read_dat(bytes, label);
}

Imatrix read_imatrix(const std::filesystem::path& path) {
  const MappedFile file(path);
  return parse_imatrix(file.bytes(), path.string());
}

void write_imatrix(const std::filesystem::path& path, const Imatrix& m) {
  GgufWriter w;
  w.set("general.type", MetaValue::string("imatrix"));
  w.set("imatrix.datasets", MetaValue::array(m.datasets));
  w.set("imatrix.chunk_count", MetaValue::u32(m.chunk_count));
  w.set("imatrix.chunk_size", MetaValue::u32(m.chunk_size));
  auto floats = [](const std::vector<float>& v) {
    std::vector<std::byte> b(v.size() * sizeof(float));
    std::memcpy(b.data(), v.data(), b.size());
    return b;
  };
  for (const auto& [name, e] : m.entries) {  // std::map: name order, as llama-imatrix sorts them
    const std::int64_t mats = e.matrices();
    if (mats < 1 || e.columns < 1 || static_cast<std::int64_t>(e.sums.size()) != mats * e.columns)
      fail("{}: imatrix entry {}: {} sums for {} matrices of {} columns", path.string(), name, e.sums.size(), mats, e.columns);
    w.add_tensor(name + kSumsSuffix, GgmlType::F32, {e.columns, mats}, floats(e.sums));
    w.add_tensor(name + kCountsSuffix, GgmlType::F32, {1, mats}, floats(e.counts));
  }
  w.write(path);
}

std::map<std::string, std::vector<float>> importance_weights(const Imatrix& m) {
  std::map<std::string, std::vector<float>> out;
  for (const auto& [name, e] : m.entries) {
    std::vector<float> w(e.sums.size());
    if (m.legacy) {
      const auto ncall = static_cast<std::int64_t>(e.counts.empty() ? 0.0f : e.counts[0]);
      for (std::size_t i = 0; i < w.size(); ++i) w[i] = ncall > 0 ? e.sums[i] / static_cast<float>(ncall) : e.sums[i];
    } else {
      for (std::int64_t j = 0; j < e.matrices(); ++j) {
        // llama.cpp rounds the stored float count to an integer first.
        const auto count = static_cast<float>(std::lround(e.counts[static_cast<std::size_t>(j)]));
        for (std::int64_t i = 0; i < e.columns; ++i) {
          const auto k = static_cast<std::size_t>(j * e.columns + i);
          w[k] = count > 0.0f ? e.sums[k] / count : 1.0f;
        }
      }
    }
    out.emplace(name, std::move(w));
  }
  return out;
}

}  // namespace qlab::gguf
