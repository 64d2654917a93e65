#pragma once
// Quantized Hugging Face checkpoints: the tensors a quantized Linear holds in each layout qlab writes
// and reads, and the config blocks that announce them (export-formats.md sections 1 and 2). The writer
// (engine/export) and the readers (Model::load, `qlab info`) both take names, dtypes, shapes and scale
// conventions from here, so there is one definition of each layout.
//   QuantLayout            ModelOpt's unified checkpoint, or compressed-tensors
//   QuantScheme            a method (nvfp4-w4a16, mxfp4, fp8, fp8-channel; nvfp4 read only) in a layout
//   quant_scheme           the scheme of a method and layout; Error when the loaders have no such layout
//   linear_parts           the tensors of one quantized Linear [out, in], and which QuantizedTensor
//                          part each holds
//   quantization_config    config.json's block; hf_quant_config_json: ModelOpt's hf_quant_config.json
//   read_checkpoint_scheme the scheme a model folder announces (nullopt for an unquantized one),
//                          checked against hf_quant_config.json where both exist; integer GPTQ, AWQ and
//                          compressed-tensors pack-quantized schemes come with `ints` set (int_checkpoint.h
//                          packs and reads those Linears)
//   read_packed_linear     one quantized Linear of a checkpoint as a QuantizedView over the mapping
// Conventions, each as vLLM's loader defines it (vllm/model_executor/layers/quantization/):
//   ModelOpt NVFP4 (modelopt.py, ModelOptNvFp4LinearMethod / ModelOptNvFp4W4A16LinearMethod.create_weights):
//     weight U8 [out, in/2] (even input index in the low nibble), weight_scale F8_E4M3 [out, in/16],
//     weight_scale_2 F32 scalar = amax / 2688 (the dequantization multiplier), input_scale F32 scalar =
//     activation amax / 2688 (W4A4 only; vLLM's alpha = input_scale * weight_scale_2)
//   ModelOpt FP8_PER_CHANNEL_PER_TOKEN (ModelOptFp8PcPtLinearMethod.create_weights): weight F8_E4M3
//     [out, in], weight_scale F32 [out], no input_scale (activations quantized per token at run time)
//   ModelOpt FP8 (ModelOptFp8LinearMethod.create_weights): weight F8_E4M3 [out, in], weight_scale and
//     input_scale F32 scalars (amax / 448); it always registers input_scale, so ModelOpt FP8 is W8A8
//     with a calibrated activation scale
//   compressed-tensors NVFP4 (compressed_tensors/schemes/compressed_tensors_w4a16_nvfp4.py,
//     CompressedTensorsW4A16Fp4.create_weights and process_weights_after_loading): weight_packed U8
//     [out, in/2], weight_scale F8_E4M3 [out, in/16], weight_global_scale F32 [1] = 1 / ModelOpt's
//     weight_scale_2 (the loader takes its reciprocal)
//   compressed-tensors MXFP4 (compressed_tensors_w4a16_mxfp4.py, CompressedTensorsW4A16Mxfp4.create_weights):
//     weight_packed U8 [out, in/2], weight_scale U8 [out, in/32] holding E8M0 codes; no global scale
//   compressed-tensors FP8 (compressed_tensors_w8a16_fp8.py and w8a8_fp8.py via fp8_utils'
//     create_fp8_scale_parameter): weight F8_E4M3 [out, in], weight_scale F32 [1] (tensor) or [out, 1]
//     (channel)
//   The scheme of a config group is recognised as CompressedTensorsConfig._is_nvfp4_format /
//     _is_mxfp4 do: float 4-bit, symmetric, strategy tensor_group with group 16 / group with group 32.
// TensorRT-LLM's PyTorch backend (what trtllm-serve runs; tensorrt_llm/_torch/modules/linear.py,
// _torch/model_config.py) reads the same ModelOpt layouts from hf_quant_config.json: NVFP4LinearMethod
// takes weight_scale in the linear [out, in/16] layout written here and swizzles it itself, computes
// alpha = input_scale * weight_scale_2, and asserts that the members of a fused q/k/v or gate/up carry
// equal input_scale and weight_scale_2 (so the writer gives a fused group one value of each, where
// vLLM would take the largest); FP8QDQLinearMethod takes the largest scale of a fused group; the
// per-channel FP8 weight_scale is read as [out]; exclude_modules are fnmatch patterns over module
// names ("lm_head"). W4A16_NVFP4 (W4A16NVFP4LinearMethod) exists only in its 2026 sources: an older
// release refuses the quant_algo.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/formats/block.h"
#include "engine/io/int_checkpoint.h"
#include "engine/io/safetensors.h"

namespace qlab::io {

class TensorStore;

enum class QuantLayout { ModelOpt, CompressedTensors };
const char* layout_name(QuantLayout l);  // "modelopt" | "compressed-tensors"

struct QuantScheme {
  std::string method;        // nvfp4-w4a16 | nvfp4 (W4A4) | mxfp4 | fp8 | fp8-channel
  std::string format;        // the block format of formats/block.h: nvfp4 | mxfp4 | fp8-tensor | fp8-channel
  QuantLayout layout = QuantLayout::ModelOpt;
  std::vector<std::string> ignore;  // modules left unquantized (ModelOpt exclude_modules / CT ignore)
  // An integer checkpoint (method gptq, awq or int; format intB-gG[-sym] or intB-ch): its Linears are
  // read with read_int_linear, not read_packed_linear.
  std::optional<IntScheme> ints;
  const formats::BlockFormatSpec& spec() const;
  // "modelopt" | "compressed-tensors" | "gptq" | "awq"
  const char* export_name() const { return ints ? int_layout_name(ints->layout) : layout_name(layout); }
  // A static per-tensor activation scale per Linear, from calibration amax (algorithms.md 5): NVFP4
  // W4A4 in either layout, and ModelOpt's FP8 (W8A8; compressed-tensors fp8 is weight-only here).
  bool input_scale() const { return method == "nvfp4" || (method == "fp8" && layout == QuantLayout::ModelOpt); }
};

// The methods `qlab quantize` writes.
const std::vector<std::string>& quant_method_names();
// Error (naming the method and layout, and what to use instead) when no loader reads that pair.
QuantScheme quant_scheme(std::string_view method, QuantLayout layout);
// The layout a method is written in when none is asked for: ModelOpt, compressed-tensors for MXFP4.
QuantLayout default_layout(std::string_view method);

// Which part of a formats::QuantizedTensor a checkpoint tensor holds.
enum class PartSource {
  Data,                   // packed codes (or FP8 bytes)
  Scales,                 // per-block / per-row scales as stored
  TensorScale,            // tensor_scales[0] (dequantization multiplier)
  TensorScaleReciprocal,  // 1 / tensor_scales[0] (compressed-tensors' global scale)
  InputScale,             // activation amax / format max (ModelOpt input_scale)
  InputScaleReciprocal,   // its reciprocal (compressed-tensors input_global_scale = 2688 / amax)
};
struct LinearPart {
  std::string suffix;  // appended to the module name: "weight", "weight_scale", ...
  DType dtype;
  std::vector<std::int64_t> shape;
  PartSource source;
};
// Every tensor of one quantized Linear weight [out, in], in the order written (the activation scale
// last, where the scheme has one).
std::vector<LinearPart> linear_parts(const QuantScheme& s, std::int64_t out, std::int64_t in);
// The same without the activation scale: what dequantizing the weight needs.
std::vector<LinearPart> weight_parts(const QuantScheme& s, std::int64_t out, std::int64_t in);

// config.json's "quantization_config" for this scheme.
nlohmann::json quantization_config(const QuantScheme& s);
// ModelOpt's hf_quant_config.json.
nlohmann::json hf_quant_config_json(const QuantScheme& s);

// The scheme a model folder's config.json announces (and hf_quant_config.json, which must agree with
// it where both exist); nullopt when neither announces one. Error, naming the file, for a scheme qlab
// cannot read.
std::optional<QuantScheme> read_checkpoint_scheme(const std::filesystem::path& dir);

// True when module (a name without ".weight") is left unquantized by the scheme's ignore list
// (exact names and fnmatch wildcards, as vLLM's ModelOpt loader matches exclude_modules).
bool scheme_ignores(const QuantScheme& s, std::string_view module);

// One quantized Linear of a checkpoint, borrowed from the store's mapping (the store must outlive it).
struct PackedLinear {
  formats::QuantizedView view;       // spec, rows = out, cols = in; parts point into the mapping
  std::vector<float> tensor_scales;  // owned (the reciprocal of a compressed-tensors global scale)
};
// The module's packed parts, checked (dtype and shape of each) against the layout for [out, in];
// nullptr when the checkpoint holds the module's weight unquantized (a 16/32-bit "weight").
std::shared_ptr<const PackedLinear> read_packed_linear(const TensorStore& store, const QuantScheme& s,
                                                       const std::string& module, std::int64_t out,
                                                       std::int64_t in);

// The activation scale of a quantized Linear of a scheme with input_scale(), as the file holds it:
// ModelOpt's input_scale (amax / format max) or compressed-tensors' input_global_scale (format max /
// amax, marked by reciprocal); nullopt when the module is kept unquantized. Error naming the tensor
// when it is missing, not an F32 scalar, or not finite and positive.
struct InputScale {
  float value = 0;
  bool reciprocal = false;  // value is format max / amax
};
std::optional<InputScale> read_input_scale(const TensorStore& store, const QuantScheme& s, const std::string& module,
                                           std::int64_t out, std::int64_t in);

}  // namespace qlab::io
