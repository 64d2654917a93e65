#pragma once
// The validating parser behind TensorStore, on bytes already in memory (a mapping, or a fuzzer's
// input): nothing here touches the filesystem.
//   parse_safetensors        one .safetensors file's bytes -> its tensors (offsets checked against
//                            the buffer) and __metadata__; the rules are listed in safetensors.h
//   parse_safetensors_index  model.safetensors.index.json text -> weight_map
#include <cstddef>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/io/safetensors.h"

namespace qlab::io {

inline constexpr std::uint64_t kMaxSafetensorsHeader = 100'000'000;  // the reference implementation's bound

struct ParsedTensor {
  std::string name;
  DType dtype;
  std::vector<std::int64_t> shape;
  std::uint64_t begin = 0, end = 0;  // absolute byte offsets in the file (data area start already added)
};

struct ParsedSafetensors {
  std::vector<ParsedTensor> tensors;  // in file (offset) order
  std::map<std::string, std::string> metadata;
  std::uint64_t data_start = 0;  // 8 + header length
};

// Error "FILE: ..." (and "tensor 'NAME'" where one is to blame) on any broken rule.
ParsedSafetensors parse_safetensors(std::span<const std::byte> file, std::string_view file_name);

struct ParsedIndex {
  std::map<std::string, std::string> weight_map;  // tensor name -> shard file name
  std::vector<std::string> shards;                // distinct shard names, sorted
};

ParsedIndex parse_safetensors_index(std::string_view json_text, std::string_view file_name);

}  // namespace qlab::io
