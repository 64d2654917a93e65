#pragma once
// Integer group-quantized checkpoints (export-formats.md sections 2, 3 and 5): the tensors GPTQ v1,
// AutoAWQ's GEMM and compressed-tensors' pack-quantized layouts hold per quantized Linear, the config
// blocks that announce them, and their readers. Nothing here quantizes: a calibrated quantizer
// (engine/quant) makes the codes, scales and zero points, and this file only packs and unpacks them.
//   IntLayout / IntScheme  which layout, bits, group, symmetry, act-order, scale dtype, modules left out
//   IntLinear              one Linear's integer quantization, as every layout stores it logically
//   check_int_linear_shape Error when the layout cannot store a Linear of that shape
//   pack_int_linear        the tensors of one Linear in the layout, in the order written
//   read_int_linear        one Linear of a checkpoint, every part's dtype and shape checked
//   int_quantization_config / gptq_quantize_config  config.json's block; GPTQ's quantize_config.json
//   int_scheme_from_config the scheme of a gptq / awq / compressed-tensors pack-quantized config block
// Conventions, each as the loaders define them (W is [out, in]; codes unsigned in [0, 2^b)):
//   GPTQ v1 (AutoGPTQ qlinear pack; vLLM gptq.py GPTQLinearMethod.create_weights; transformers via
//     optimum/gptqmodel): qweight I32 [in*b/32, out], input row 32/b*w+k of column o at bits b*k of word
//     [w][o]; qzeros I32 [groups, out*b/32], zero - 1 at bits b*k of word [g][w] for column 32/b*w+k
//     (the v1 convention: loaders add 1 back); scales F16 [groups, out]; g_idx I32 [in].
//     A zero point of 0 has no v1 encoding (zero - 1 = -1 wraps and the loaders' +1 carries into the
//     next field): such a Linear is refused with a message pointing at compressed-tensors.
//   AutoAWQ GEMM (awq/modules/linear/gemm.py WQLinear_GEMM.from_linear; vLLM awq.py): qweight I32
//     [in, out/8], nibble k of word [i][w] holds output column 8w + {0,2,4,6,1,3,5,7}[k]; qzeros I32
//     [groups, out/8] the same order (zeros as they are); scales F16 [groups, out]. 4-bit, zero point,
//     groups contiguous.
//   compressed-tensors pack-quantized (compressors/quantized_compressors/pack_quantized.py
//     pack_to_int32; vLLM compressed_tensors_wNa16.py CompressedTensorsWNA16.create_weights):
//     weight_packed I32 [out, ceil(in*b/32)], element j of a row at bits b*(j%(32/b)) of word j/(32/b),
//     stored as the signed value + 2^(b-1) (= qlab's unsigned code); weight_scale [out, groups] in the
//     scale dtype; weight_zero_point I32 [ceil(out*b/32), groups] packed along the output dimension the
//     same way (asymmetric only); weight_g_idx I32 [in] (actorder "group" only); weight_shape I64 [2].
// Dequantization everywhere: w = scale[g] * (code - zero[g]) with g = g_idx[in column], in float32,
// scale * (float(code) - float(zero)) as the int formats compute it (block_params.h).
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/io/safetensors.h"

namespace qlab::io {

class TensorStore;

enum class IntLayout { Gptq, Awq, CompressedTensors };
const char* int_layout_name(IntLayout l);  // "gptq" | "awq" | "compressed-tensors"

struct IntScheme {
  IntLayout layout = IntLayout::Gptq;
  int bits = 4;
  std::int64_t group_size = 128;  // -1: one group per row
  bool symmetric = false;
  bool act_order = false;         // g_idx stored in act-order (GPTQ desc_act; compressed-tensors actorder "group")
  bool static_groups = false;     // GPTQ's option, recorded in its config
  double damp = 0.01;             // recorded in GPTQ's config
  bool true_sequential = true;
  DType scale_dtype = DType::F16; // compressed-tensors: the model's dtype; GPTQ and AWQ: F16
  std::vector<std::string> ignore;  // modules left unquantized (lm_head always)
  std::string method;             // what made it (gptq, awq, rtn), for messages and the config's producer note
};

struct IntLinear {
  std::int64_t rows = 0, cols = 0;   // out, in
  int bits = 4;
  std::int64_t group_size = 0;       // columns per group (cols when one group per row)
  std::vector<std::uint8_t> codes;   // [rows, cols]
  std::vector<float> scales;         // [rows, groups]
  std::vector<std::int32_t> zeros;   // [rows, groups] the code of 0.0 (GPTQ v1 can read back 2^b)
  std::vector<std::int32_t> g_idx;   // [cols]
  std::int64_t groups() const { return group_size > 0 ? (cols + group_size - 1) / group_size : 0; }
  std::vector<float> dequantize() const;  // [rows, cols]
};

// Error naming `module` when the layout cannot hold this scheme on a Linear [out, in] (bits, group
// not dividing in, out or in not a multiple of the packing, act-order in AWQ).
void check_int_linear_shape(const IntScheme& s, const std::string& module, std::int64_t out, std::int64_t in);

struct IntPart {
  std::string suffix;  // appended to the module name
  DType dtype;
  std::vector<std::int64_t> shape;
  std::vector<std::byte> bytes;
};
// Names, dtypes and shapes of the parts (bytes empty): what a reader expects.
std::vector<IntPart> int_part_shapes(const IntScheme& s, std::int64_t out, std::int64_t in);
std::vector<IntPart> pack_int_linear(const IntScheme& s, const IntLinear& q, const std::string& module);

// The module's Linear from the checkpoint; nullopt when it holds the weight unquantized (a 16/32-bit
// "weight"). Errors name the file and tensor: a missing part, a wrong dtype or shape, a g_idx out of
// range, a scale that is not finite.
std::optional<IntLinear> read_int_linear(const TensorStore& store, const IntScheme& s, const std::string& module,
                                         std::int64_t out, std::int64_t in);

nlohmann::json int_quantization_config(const IntScheme& s);
nlohmann::json gptq_quantize_config(const IntScheme& s);
// quant_method "gptq" / "awq", or a compressed-tensors block of format pack-quantized (source: for
// messages). Error for what no layout here reads (GPTQ v2, AWQ GEMV, 3-bit, ...).
IntScheme int_scheme_from_config(const nlohmann::json& q, const std::string& source);
// True for a compressed-tensors block whose weights are integers (int-quantized / pack-quantized).
bool is_ct_int_config(const nlohmann::json& q);

}  // namespace qlab::io
