#pragma once
// Random-weight Hugging Face models of any size, so that big-model code paths can be run and
// timed with nothing downloaded.
//   synth_preset / synth_preset_names   shapes of real models (TinyLlama-1.1B, Llama-3.1-8B) and a tiny one
//   write_synth_model                   config.json + model.safetensors (sharded past max_shard_bytes),
//                                       streamed a chunk at a time, into a folder that appears whole
// The tensors are the config's tensor map (tensor_map.h), in its order.
// Weights are drawn like transformers' _init_weights: N(0, initializer_range = 0.02) for every
// Linear and the embedding, RMSNorm weights 1, biases 0. Each value is a pure function of (seed,
// tensor name, element index), so the bytes do not depend on thread count or chunking.
#include <cstdint>
#include <filesystem>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include "engine/core/progress.h"
#include "engine/io/model_config.h"
#include "engine/io/safetensors.h"

namespace qlab::io {

const std::vector<std::string>& synth_preset_names();  // "tiny", "tinyllama-1.1b", "llama-3.1-8b"
ModelConfig synth_preset(std::string_view name);       // Error listing the names if unknown

struct SynthSpec {
  ModelConfig config;
  DType dtype = DType::BF16;                      // F32, F16 or BF16
  std::uint64_t seed = 0;
  std::uint64_t max_shard_bytes = 5'000'000'000;  // transformers' default max_shard_size "5GB"
  float init_std = 0.02f;
};

struct SynthResult {
  std::vector<std::filesystem::path> files;  // config.json, shards, index (if sharded)
  std::uint64_t bytes = 0;                   // on disk, all files
  long long parameters = 0;
};

// Bytes the model files will take (to check free space before starting).
std::uint64_t synth_model_bytes(const SynthSpec& spec);

// out_dir must not exist, or be an empty folder. The files are written into a sibling staging
// folder that is renamed into place at the end; on error or cancel it is removed.
SynthResult write_synth_model(const std::filesystem::path& out_dir, const SynthSpec& spec, Progress& progress,
                              std::stop_token stop = {});

// The value of element i of the named tensor (float32, before rounding to the stored dtype).
float synth_value(std::uint64_t seed, std::string_view tensor_name, std::uint64_t i, float std);

}  // namespace qlab::io
