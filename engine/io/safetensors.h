#pragma once
// safetensors reading (memory-mapped, single file or sharded) and writing (atomic).
//   DType                 the dtypes a safetensors header can name
//   TensorRef             one tensor: name, dtype, shape, and a view of its bytes in the mapping
//   TensorStore::open     a model folder (model.safetensors or model.safetensors.index.json + shards)
//                         or one .safetensors file; strict validation, errors name file and tensor
//   to_f32                convert F32/F16/BF16 tensors to float32
//   write_safetensors     write tensors + metadata to a file atomically (bytes in memory, or
//                         streamed chunk by chunk so a 16 GB shard never sits in RAM)
// What open() enforces, per file (the rules of the reference implementation, huggingface/safetensors):
//   8-byte little-endian header length N, N <= 100,000,000 and 8 + N <= file size; the header is a JSON
//   object (trailing spaces allowed) with no duplicate key at any depth; every entry but __metadata__
//   is an object with "dtype", "shape", "data_offsets" (other keys ignored, as the reference
//   implementation does); __metadata__ maps strings to strings; dtype is a name it knows;
//   shape entries are non-negative integers; element count x dtype bits is a whole number of bytes
//   equal to end - begin (no overflow); sorted by offset, the tensors tile the data area exactly:
//   the first starts at 0, each starts where the previous ended, the last ends at the end of the
//   file (no gaps, no overlap, no trailing bytes). Sharded folders: the index is
//   {"weight_map": {tensor: shard file name}} (plain file names in the same folder); every shard
//   must exist, every tensor listed must be in its shard, and every tensor of a shard must be
//   listed for that shard.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace qlab::io {

enum class DType { F64, F32, F16, BF16, I64, I32, I16, I8, U64, U32, U16, U8, BOOL, F8_E4M3, F8_E5M2, F8_E8M0, F4,
                   F6_E2M3, F6_E3M2, C64 };

std::string_view dtype_name(DType d);   // "F32", ...
std::size_t dtype_size(DType d);        // bytes per element (F4, F6_*: 0 — packed, see dtype_bits)
std::size_t dtype_bits(DType d);        // bits per element (F4: 4, F6_*: 6, F32: 32, ...)
std::optional<DType> dtype_from_name(std::string_view name);  // "BF16" -> BF16; nullopt if unknown

// Byte length of `numel` elements; Error (naming `what`) on overflow or a partial byte.
std::uint64_t dtype_byte_length(DType d, std::span<const std::int64_t> shape, std::string_view what);

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
  std::vector<std::filesystem::path> files() const;    // the file, or every shard in index order
  std::size_t size() const;                            // number of tensors
  // Error naming the file when one of the mapped files was truncated while it was read (the bytes
  // read from it since are zeros; see engine/core/mapped_file.h).
  void check_intact() const;
  // The first F32/F16/BF16 tensor, in name order, holding a NaN or an infinity, with the index of
  // the element; nullopt when all are finite. Reads every such tensor's bits (no copy): meant for
  // explaining a result that came out non-finite, not for every load.
  std::optional<std::pair<std::string, std::int64_t>> first_non_finite() const;

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

// Tensors are laid out the way the safetensors library lays them out (by dtype, widest first, then
// by name) and the header is padded with spaces to a multiple of 8 bytes, so a file it writes is
// byte-identical to safetensors.torch.save_file of the same tensors and metadata.
void write_safetensors(const std::filesystem::path& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

// The same file, with each tensor's bytes produced on demand: fill(i, byte_offset, chunk) must fill
// `chunk` with bytes [byte_offset, byte_offset + chunk.size()) of tensor i (index into `tensors`).
// Chunks are at most `chunk_bytes` long and start on element boundaries; memory stays at one chunk.
struct TensorHeader {
  std::string name;
  DType dtype;
  std::vector<std::int64_t> shape;
};
using ChunkFill = std::function<void(std::size_t tensor, std::uint64_t byte_offset, std::span<std::byte> chunk)>;
void write_safetensors_streamed(const std::filesystem::path& path, const std::vector<TensorHeader>& tensors,
                                const std::map<std::string, std::string>& metadata, const ChunkFill& fill,
                                std::size_t chunk_bytes = std::size_t{16} << 20);

// Bytes a file with these tensors will take (8 + padded header + data).
std::uint64_t safetensors_file_size(const std::vector<TensorHeader>& tensors,
                                    const std::map<std::string, std::string>& metadata = {});

}  // namespace qlab::io
