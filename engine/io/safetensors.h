#pragma once
// safetensors reading (memory-mapped, single file or sharded) and writing (atomic).
//   DType                 the dtypes a safetensors header can name
//   TensorRef             one tensor: name, dtype, shape, and a view of its bytes in the mapping
//   TensorStore::open     a model folder (model.safetensors or model.safetensors.index.json + shards)
//                         or one .safetensors file; strict validation, errors name file and tensor
//   to_f32                convert F32/F16/BF16 tensors to float32
//   write_safetensors     write tensors + metadata to a file atomically
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace qlab::io {

enum class DType { F64, F32, F16, BF16, I64, I32, I16, I8, U64, U32, U16, U8, BOOL, F8_E4M3, F8_E5M2, F8_E8M0, F4 };

std::string_view dtype_name(DType d);   // "F32", ...
std::size_t dtype_size(DType d);        // bytes per element (F4: 0 — packed, see shape rules)

struct TensorRef {
  std::string name;
  DType dtype;
  std::vector<std::int64_t> shape;
  std::span<const std::byte> bytes;  // inside the memory mapping; valid while the store lives
  std::string file;                  // the shard it lives in (for error messages)
  std::int64_t numel() const;
};

class TensorStore {
 public:
  static TensorStore open(const std::filesystem::path& dir_or_file);
  TensorStore(TensorStore&&) noexcept;
  TensorStore& operator=(TensorStore&&) noexcept;
  ~TensorStore();

  const TensorRef* find(std::string_view name) const;  // nullptr if absent
  const TensorRef& at(std::string_view name) const;    // Error naming the folder and tensor if absent
  std::vector<std::string> names() const;              // sorted
  const std::map<std::string, std::string>& metadata() const;  // __metadata__ of the first shard
  std::uint64_t total_bytes() const;                   // sum of tensor byte lengths

 private:
  TensorStore();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Convert a F32/F16/BF16 tensor to float32 (Error for other dtypes, naming the tensor).
void to_f32(const TensorRef& t, std::span<float> out);
std::vector<float> to_f32(const TensorRef& t);

struct TensorToWrite {
  std::string name;
  DType dtype;
  std::vector<std::int64_t> shape;
  std::span<const std::byte> bytes;  // must be numel * dtype_size bytes
};

void write_safetensors(const std::filesystem::path& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace qlab::io
