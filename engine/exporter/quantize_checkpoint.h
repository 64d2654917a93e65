#pragma once
// `qlab quantize`: a Hugging Face model folder streamed, tensor by tensor from its memory-mapped
// shards, into a quantized checkpoint that vLLM (and, for ModelOpt's layout, TensorRT-LLM) loads.
//   quantize_checkpoint   plan (quantize_plan.h), stream, write (io::CheckpointWriter), re-read check
// Memory: a Linear weight is read a slab of rows at a time (slab_bytes of float32), quantized and its
// source pages released (madvise), so what stays resident is one slab, the quantized tensor being
// written (0.56 bytes per weight for NVFP4, 1 for FP8) and the writer's chunk; kept tensors are copied
// chunk by chunk straight from the mapping. A fused group is read twice (amax first, then the codes);
// the second read mostly hits the page cache.
// Activation scales (NVFP4 W4A4, ModelOpt FP8): a calibration pass first (activation_amax.h), then the
// per-Linear input_scale from its input amax: amax / 2688 (NVFP4), amax / 448 (FP8), 2688 / amax as
// compressed-tensors' input_global_scale; an input that stayed zero gets scale 1.
// Written: config.json with quantization_config, hf_quant_config.json (ModelOpt), the tokenizer and
// other small files of the source (*.json, *.txt, *.model, *.tiktoken, *.jinja), shards of at most
// max_shard_bytes and the index. All of it in a staging folder renamed into place at the end
// (CheckpointWriter); cancel or any error leaves nothing at out_dir.
// A source shard whose size or modification time changed during the run is an error (before the folder
// is renamed into place).
// Re-read check: after writing, every quantized Linear is read back through io::read_packed_linear
// (the readers' code) and dequantized; the float32 bits must hash equal to the in-memory quantization,
// and every kept tensor must be byte-identical to its source. The check runs on the staging folder
// before it is renamed into place: a failure leaves out_dir as it was.
// Also checked while quantizing: every value within its format's error bound (slab_quantize.h).
// Resuming (--resume): the writer is resumable (checkpoint_writer.h) with a key of everything the bytes
// depend on (the source's path, shard sizes and times, method, layout, excludes, shard size, calibration)
// and records, with each complete shard, the per-module hashes and input scales the re-read check needs
// and the calibration's ranges. A resumed run skips the tensors of the adopted shards (reading no source
// for a Linear whose parts are all there) and the calibration, and writes the folder one uninterrupted
// run writes. A cancel keeps the complete shards (the caller says where); a kill leaves them.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <stop_token>
#include <string>
#include <vector>

#include "engine/core/progress.h"
#include "engine/exporter/activation_amax.h"
#include "engine/io/checkpoint_writer.h"
#include "engine/io/quant_checkpoint.h"

namespace qlab::exporter {

struct QuantizeOptions {
  std::string method;                     // io::quant_method_names()
  io::QuantLayout layout = io::QuantLayout::ModelOpt;
  std::vector<std::string> exclude;       // fnmatch patterns over module names
  std::uint64_t max_shard_bytes = 5'000'000'000;
  bool replace_existing = false;  // --force: an existing model folder at out_dir is replaced, an interrupted
                                  // run's staging folder discarded
  bool resume = false;            // --resume: continue an interrupted run of the same settings
  bool discard_other = false;     // with resume: an interrupted run with other settings is discarded
  std::size_t slab_bytes = std::size_t{64} << 20;  // float32 bytes of a slab of rows
  CalibrationOptions calibration;  // used where the scheme has static activation scales (input_scale())
  std::stop_token stop;
};

struct QuantizeResult {
  io::QuantScheme scheme;                  // as written (ignore list included)
  std::size_t quantized = 0, kept = 0;     // tensors
  std::uint64_t source_bytes = 0;          // every tensor of the source
  std::uint64_t linear_weights = 0;        // the Linear weights quantized: their element count
  std::uint64_t linear_source_bytes = 0;   // the Linear weights quantized, as stored in the source
  std::uint64_t linear_written_bytes = 0;  // their parts as written (codes, scales, scalars)
  io::CheckpointResult files;
  double seconds_calibrate = 0, seconds_write = 0, seconds_check = 0;
  ActivationAmax activations;              // empty unless the scheme has static activation scales
  std::size_t resumed_shards = 0;          // complete shards taken over from an interrupted run
  std::uint64_t resumed_bytes = 0;         // source bytes they held (not read again)
  std::vector<std::string> warnings;
};

using Warn = std::function<void(const std::string&)>;

// Thrown by quantize_checkpoint when it is cancelled after at least one shard is complete: the staging
// folder stays for --resume.
struct Suspended : Cancelled {
  Suspended(std::filesystem::path staging, std::size_t shards)
      : Cancelled(), staging(std::move(staging)), shards(shards) {}
  std::filesystem::path staging;
  std::size_t shards;
};

QuantizeResult quantize_checkpoint(const std::filesystem::path& model_dir, const std::filesystem::path& out_dir,
                                   const QuantizeOptions& options, Progress& progress, const Warn& warn = {});

}  // namespace qlab::exporter
