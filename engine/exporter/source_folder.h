#pragma once
// What every `qlab quantize` writer checks and copies of the source model folder, whatever it quantizes
// with (the streaming float formats, quantize_checkpoint.h; the integer GPTQ / AWQ / RTN checkpoints,
// int_export.h).
//   check_source_and_out   a model folder, not already quantized; --out neither inside it nor around it
//   read_config_json       config.json as JSON (rewritten with the quantization block)
//   copied_source_files    the small files a server or tokenizer reads, sorted (config.json, the index
//                          and hf_quant_config.json are rewritten, shards re-made, dot files skipped)
//   SourceStamps           size and modification time of every shard, to notice a source rewritten
//                          while it is read; as JSON, part of a resumable run's key (an interrupted
//                          run is resumed only on the source it read)
#include <cstdint>
#include <filesystem>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/io/safetensors.h"

namespace qlab::exporter {

void check_source_and_out(const std::filesystem::path& model_dir, const std::filesystem::path& out_dir);
nlohmann::json read_config_json(const std::filesystem::path& path);
std::vector<std::filesystem::path> copied_source_files(const std::filesystem::path& model_dir);

class SourceStamps {
 public:
  explicit SourceStamps(const io::TensorStore& store);
  // Error naming the first file whose size or modification time changed.
  void check_unchanged() const;
  // [{"file", "bytes", "mtime_ns"}] in the store's order, with the folder's absolute path.
  nlohmann::json to_json() const;

 private:
  struct Stamp {
    std::filesystem::path path;
    std::uintmax_t size = 0;
    std::filesystem::file_time_type mtime;
  };
  std::vector<Stamp> stamps_;
};

}  // namespace qlab::exporter
