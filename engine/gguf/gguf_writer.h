#pragma once
// Writing a GGUF v3 file the way ggml's writer lays it out, so that llama.cpp reads it (ggml's own
// reader wants tensors in info order, each at the previous one's end padded to the alignment).
//   set / remove          metadata; set() on an existing key removes it and appends the new value
//                         at the end, as ggml's gguf_set_* do (llama-quantize relies on this order)
//   add_tensor            a tensor info (name, type, ggml shape) and, optionally, its bytes now
//   write                 header, metadata, tensor infos, zero padding to the alignment, then each
//                         tensor's bytes followed by zeros up to the alignment. Tensors added
//                         without bytes are asked for, one at a time and in order, from `produce`
//                         (so a converter holds one tensor in memory, not the model). The file is
//                         written to a temporary beside the target and renamed over it when
//                         complete; on any error (or an exception from produce) nothing is left.
// Alignment: general.alignment if set (a uint32 power of two), else 32.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/gguf/ggml_type.h"
#include "engine/gguf/gguf_value.h"

namespace qlab::gguf {

class GgufWriter {
 public:
  void set(std::string key, MetaValue value);
  void remove(std::string_view key);
  const MetaValue* find(std::string_view key) const;
  const std::vector<std::pair<std::string, MetaValue>>& metadata() const { return kv_; }

  // shape in ggml order (shape[0] = row length), 1..4 dimensions, trailing 1s dropped as ggml's
  // writer does (a [4096, 1] tensor is written with n_dims 1). Error on a repeated or bad name, a
  // bad shape, or a row length the type's blocks do not divide; data, if given, must be exactly
  // the tensor's size.
  void add_tensor(std::string name, GgmlType type, std::vector<std::int64_t> shape,
                  std::optional<std::vector<std::byte>> data = std::nullopt);
  std::size_t tensor_count() const { return tensors_.size(); }

  // Produces the bytes of tensor `index` (only asked for tensors added without data).
  using Producer = std::function<std::vector<std::byte>(std::size_t index)>;
  void write(const std::filesystem::path& path, const Producer& produce = {}) const;

  // The bytes before the data section (header, metadata, infos, padding), and each tensor's
  // offset in the data section: what write() puts at the start of the file.
  std::vector<std::byte> header_bytes() const;
  std::uint64_t data_offset_of(std::size_t index) const;
  std::uint32_t alignment() const;

 private:
  struct Tensor {
    std::string name;
    GgmlType type;
    std::vector<std::int64_t> shape;
    std::uint64_t size_bytes;
    std::optional<std::vector<std::byte>> data;
  };
  std::vector<std::pair<std::string, MetaValue>> kv_;
  std::vector<Tensor> tensors_;
};

}  // namespace qlab::gguf
