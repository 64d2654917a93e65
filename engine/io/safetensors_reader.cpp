// TensorStore: a model folder's tensors, memory-mapped read-only. Nothing is copied; a TensorRef's
// bytes point into the mapping and stay valid while the store lives. A file truncated while it is
// mapped reads as zeros from there on and is reported by check_intact() and check_cancel()
// (engine/core/mapped_file.h).
#include <algorithm>
#include <cstring>
#include <set>

#include "engine/core/atomic_file.h"
#include "engine/core/error.h"
#include "engine/core/mapped_file.h"
#include "engine/io/safetensors.h"
#include "engine/io/safetensors_header.h"
#include "engine/io/strict_json.h"

namespace qlab::io {

namespace fs = std::filesystem;


struct TensorStore::Impl {
  fs::path where;  // what open() was given, for messages
  std::vector<fs::path> files;
  std::vector<std::unique_ptr<MappedFile>> maps;
  std::map<std::string, TensorRef, std::less<>> tensors;
  std::map<std::string, std::string> metadata;
  std::uint64_t total = 0;

  // Maps one file and adds its tensors; `expected` (sharded) is the set the index gives this shard.
  void add_file(const fs::path& path, const std::set<std::string>* expected, const fs::path& index_path) {
    auto m = std::make_unique<MappedFile>(path);
    ParsedSafetensors parsed = parse_safetensors(m->bytes(), path.string());
    if (files.empty()) metadata = parsed.metadata;
    for (auto& p : parsed.tensors) {
      if (expected && !expected->count(p.name))
        fail("{}: tensor {} is in shard {} but the index does not list it there", index_path.string(),
             printable(p.name), path.filename().string());
      TensorRef ref;
      ref.name = p.name;
      ref.dtype = p.dtype;
      ref.shape = std::move(p.shape);
      ref.bytes = m->bytes().subspan(p.begin, p.end - p.begin);
      ref.file = path.string();
      total += p.end - p.begin;
      auto [it, fresh] = tensors.emplace(p.name, std::move(ref));
      if (!fresh)
        fail("{}: tensor {} is in both {} and {}", index_path.string(), printable(p.name), it->second.file,
             path.string());
    }
    files.push_back(path);
    maps.push_back(std::move(m));
  }

  void open_index(const fs::path& index_path) {
    const fs::path dir = index_path.parent_path().empty() ? fs::path(".") : index_path.parent_path();
    ParsedIndex index = parse_safetensors_index(read_file(index_path), index_path.string());
    std::map<std::string, std::set<std::string>> by_shard;
    for (const auto& [name, shard] : index.weight_map) by_shard[shard].insert(name);
    for (const auto& shard : index.shards) {
      fs::path p = dir / shard;
      std::error_code ec;
      if (!fs::exists(p, ec))
        fail("{}: shard {} is missing (it holds {} tensors, e.g. {})", index_path.string(), printable(shard),
             by_shard[shard].size(), printable(*by_shard[shard].begin()));
      add_file(p, &by_shard[shard], index_path);
    }
    for (const auto& [name, shard] : index.weight_map)
      if (!tensors.count(name))
        fail("{}: tensor {} is listed in shard {} but that file does not hold it", index_path.string(),
             printable(name), printable(shard));
  }
};

TensorStore::TensorStore() : impl_(std::make_unique<Impl>()) {}
TensorStore::TensorStore(TensorStore&&) noexcept = default;
TensorStore& TensorStore::operator=(TensorStore&&) noexcept = default;
TensorStore::~TensorStore() = default;

TensorStore TensorStore::open(const fs::path& dir_or_file) {
  TensorStore s;
  s.impl_->where = dir_or_file;
  std::error_code ec;
  if (fs::is_directory(dir_or_file, ec)) {
    // transformers looks for the single file first, then the index; so do we.
    const fs::path single = dir_or_file / "model.safetensors";
    const fs::path index = dir_or_file / "model.safetensors.index.json";
    if (fs::exists(single, ec)) {
      s.impl_->add_file(single, nullptr, single);
    } else if (ec && ec != std::errc::no_such_file_or_directory) {
      fail("{}: cannot be read: {}", single.string(), ec.message());  // an unreadable folder, not a missing file
    } else if (fs::exists(index, ec)) {
      s.impl_->open_index(index);
    } else {
      fail("{}: no model.safetensors or model.safetensors.index.json in this folder", dir_or_file.string());
    }
  } else if (!fs::exists(dir_or_file, ec)) {
    fail("{}: no such file or folder", dir_or_file.string());
  } else if (dir_or_file.filename() == "config.json") {
    fail("{}: is a model's config, not its weights: give the folder that holds it", dir_or_file.string());
  } else if (dir_or_file.extension() == ".json") {
    s.impl_->open_index(dir_or_file);
  } else {
    s.impl_->add_file(dir_or_file, nullptr, dir_or_file);
  }
  return s;
}

const TensorRef* TensorStore::find(std::string_view name) const {
  auto it = impl_->tensors.find(name);
  return it == impl_->tensors.end() ? nullptr : &it->second;
}

const TensorRef& TensorStore::at(std::string_view name) const {
  if (const TensorRef* t = find(name)) return *t;
  fail("{}: no tensor {} ({} tensors here)", impl_->where.string(), printable(name), impl_->tensors.size());
}

std::vector<std::string> TensorStore::names() const {
  std::vector<std::string> out;
  out.reserve(impl_->tensors.size());
  for (const auto& [name, ref] : impl_->tensors) out.push_back(name);
  return out;
}

const std::map<std::string, std::string>& TensorStore::metadata() const { return impl_->metadata; }
std::uint64_t TensorStore::total_bytes() const { return impl_->total; }
std::vector<fs::path> TensorStore::files() const { return impl_->files; }
std::size_t TensorStore::size() const { return impl_->tensors.size(); }

std::optional<std::pair<std::string, std::int64_t>> TensorStore::first_non_finite() const {
  // An all-ones exponent field is an infinity or a NaN in each of these formats.
  auto scan = [](const std::byte* p, std::int64_t n, std::size_t width, std::uint32_t exponent) -> std::int64_t {
    for (std::int64_t i = 0; i < n; ++i) {
      std::uint32_t bits = 0;
      std::memcpy(&bits, p + static_cast<std::size_t>(i) * width, width);  // little-endian hosts
      if ((bits & exponent) == exponent) return i;
    }
    return -1;
  };
  for (const auto& [name, t] : impl_->tensors) {
    std::int64_t at = -1;
    if (t.dtype == DType::F32) at = scan(t.bytes.data(), t.numel(), 4, 0x7F800000u);
    else if (t.dtype == DType::F16) at = scan(t.bytes.data(), t.numel(), 2, 0x7C00u);
    else if (t.dtype == DType::BF16) at = scan(t.bytes.data(), t.numel(), 2, 0x7F80u);
    if (at >= 0) return std::make_pair(name, at);
  }
  return std::nullopt;
}

void TensorStore::check_intact() const {
  for (const auto& m : impl_->maps) m->check_intact();
}

}  // namespace qlab::io
