#pragma once
// `qlab quantize --method gptq|awq|rtn`: a model quantized in memory by a calibrated (or data-free)
// integer quantizer, written as a Hugging Face folder in the GPTQ v1, AutoAWQ GEMM or compressed-tensors
// pack-quantized layout (io/int_checkpoint.h) that vLLM and transformers load.
//   IntLinears          the quantizer's output per Linear module ("model.layers.0.self_attn.q_proj"),
//                       collected from its LinearSink (the dequantized copy dropped: the model holds it)
//   check_int_export    before any calibration: every decoder Linear fits the layout (names the module)
//   write_int_checkpoint  the folder, through io::CheckpointWriter (staging folder renamed at the end)
// What is written per source tensor, in the tensor map's order:
//   decoder Linear weights    the layout's packed parts (their biases as the model now holds them)
//   norms and biases          the model's in-memory values in the source dtype (AWQ folds its scales into
//                             the norms, v_proj and up_proj, so the source's values would be wrong)
//   embeddings, lm_head       the source's bytes
// config.json gets the quantization_config block; GPTQ also gets quantize_config.json (AutoGPTQ's file).
// Re-read check: every Linear read back through io::read_int_linear dequantizes bit for bit to the
// in-memory model's weight, every norm and bias reads back as the model holds it, every other tensor is
// byte-identical to its source. It runs on the staging folder before it is renamed into place, so a
// failure leaves out_dir as it was.
#include <cstdint>
#include <filesystem>
#include <map>
#include <stop_token>
#include <string>

#include "engine/core/progress.h"
#include "engine/io/checkpoint_writer.h"
#include "engine/io/int_checkpoint.h"
#include "engine/model/model.h"
#include "engine/quant/quantized_linear.h"

namespace qlab::exporter {

using IntLinears = std::map<std::string, quant::QuantizedLinear>;

// scheme.group_size, bits, symmetry, act_order and layout against every decoder Linear of the config.
void check_int_export(const io::ModelConfig& c, const io::IntScheme& scheme);

struct IntExportResult {
  io::CheckpointResult files;
  std::size_t quantized = 0, kept = 0;    // Linear modules packed; tensors written as they are held
  std::uint64_t linear_weights = 0;       // the packed Linears' weight count
  std::uint64_t linear_source_bytes = 0;  // the packed Linears' weights as stored in the source
  std::uint64_t linear_written_bytes = 0; // their parts as written
  std::uint64_t source_bytes = 0;         // every tensor of the source
  double seconds_write = 0, seconds_check = 0;
};

struct IntExportOptions {
  std::uint64_t max_shard_bytes = 5'000'000'000;
  bool replace_existing = false;  // --force: an existing model folder at out_dir is replaced
  std::stop_token stop;
};

// m: the model loaded from model_dir and quantized in memory; linears: every decoder Linear's result.
IntExportResult write_int_checkpoint(const std::filesystem::path& model_dir, const std::filesystem::path& out_dir,
                                     const model::Model& m, const IntLinears& linears, const io::IntScheme& scheme,
                                     const IntExportOptions& opt, Progress& progress);

}  // namespace qlab::exporter
