#pragma once
// The variants a suite compares, by name, and how each is made from the model in memory.
//   baseline         the model as stored
//   int8-ch          RTN, int8 with one scale per output row (LLM.int8()'s weight layout without outliers)
//   rtn-int4-g128    RTN, int4 in groups of 128 along a row, asymmetric (GPTQ's rule, no calibration)
//   gptq-int4-g128   GPTQ (true sequential, calibration: the model folder's calib.txt, else the built-in's)
//   awq-int4-g128    AWQ (duo-scaling search and clip search on the same calibration text)
//   nvfp4, mxfp4     the FP4 block formats (NVIDIA Model Optimizer's and OCP MX's)
//   fp8              E4M3 with one scale per tensor (Model Optimizer's FP8 weight recipe)
//                    (nvfp4 and fp8: one per-tensor scale per fused group, q/k/v and gate/up, as the
//                    checkpoint `qlab quantize` writes and vLLM serves holds them)
//   nf4              bitsandbytes' NF4, blocks of 64
//   gguf-q8_0 ...    llama.cpp's file types (Q8_0, Q6_K, Q5_K_M, Q4_K_M, Q4_0, Q3_K_M, Q2_K): every tensor
//                    the type llama-quantize gives it, quantized and read back (gguf_variant.h)
//   --add PATH       a checkpoint folder the learner names (their lab 4 output, a Hub download) or a GGUF
//                    file (llama-quantize's, a Hub download): measured as it is, after checking it is a
//                    variant of the same model (vocabulary; the tokenizer, or for a GGUF file the tokens
//                    its own tokenizer makes of the text)
// Every quantized variant replaces the decoder layers' Linear weights (q, k, v, o, gate, up, down) with
// the values its format stores; embeddings and lm_head stay as stored, as quantized checkpoints keep them
// (a GGUF variant quantizes them too, as llama-quantize does).
// Size: the bytes such a checkpoint holds -- each Linear's codes and scales from the format's storage
// (rows padded to whole blocks), the other tensors at the checkpoint's dtype; a GGUF variant: its tensor
// data at the types llama-quantize chose; the baseline and an added
// checkpoint: their files' sizes (a GGUF file's whole size).
// Bits per weight = 8 x bytes / parameters.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <stop_token>
#include <string>
#include <vector>

#include "engine/core/progress.h"
#include "engine/model/model.h"

namespace qlab::suite {

enum class VariantKind { Baseline, Rtn, Gptq, Awq, Gguf, Added };

struct VariantSpec {
  std::string name;                // "gptq-int4-g128", or the folder's name for --add
  VariantKind kind = VariantKind::Baseline;
  std::string format;              // block format (Rtn/Gptq/Awq) or GGUF type name
  std::filesystem::path path;      // Added: the checkpoint folder or GGUF file
  std::string description;         // one line for the report
};

struct CatalogueEntry {
  VariantSpec spec;
  bool available = true;
  std::string why_not;             // when not available in this build
};

// Every named variant, in report order; those this build cannot make carry why.
const std::vector<CatalogueEntry>& catalogue();
// The names this build can make, in catalogue order (the default --variants).
std::vector<std::string> available_variants();
// The spec for a name; Error listing the known names (and saying why, for one this build lacks).
VariantSpec variant_by_name(const std::string& name);
// An --add path as a variant; Error naming the path when it is neither a model folder nor a GGUF file.
VariantSpec added_variant(const std::filesystem::path& path);

struct MadeVariant {
  explicit MadeVariant(model::Model m) : model(std::move(m)) {}
  model::Model model;
  double seconds = 0;          // quantization time
  double bytes = 0;            // checkpoint bytes (see above)
  double parameters = 0;
  std::string size_note;       // how bytes were counted
  std::vector<std::string> warnings;
};

struct MakeContext {
  const model::Model* base = nullptr;     // the baseline, loaded from model_dir
  std::filesystem::path model_dir;
  std::filesystem::path builtin_dir;      // fallback calibration text
};

// Makes the variant (in memory); Error naming the variant on failure.
MadeVariant make_variant(const VariantSpec& v, const MakeContext& ctx, Progress& progress = Progress::none(),
                         std::stop_token stop = {});

// Checkpoint bytes of a folder: the sizes of its *.safetensors files.
double checkpoint_bytes(const std::filesystem::path& dir);

}  // namespace qlab::suite
