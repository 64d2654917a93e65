#pragma once
// How much memory a model needs to serve, by weight format: the numbers behind `qlab memory` and the
// lab 2 capacity table.
//   Scheme            which weight format goes where (every Linear, or only the MoE experts)
//   MemoryOptions     context, batch, KV cache dtype, budget
//   MemoryEstimate    weights (split into what makes them differ from params x bits), KV, overhead, total
//   estimate_memory   one model x one scheme
//   tensor_bits_per_weight     bits per weight of one rows x cols tensor in a format, from its storage sizes
//
// What is counted, and why (peers' conventions, see the shared export-formats notes):
// - Quantized: the Linear weights inside the decoder layers (attention q/k/v/o, MLP, MoE experts), in the
//   scheme's block format, at byte counts of the format's real storage layout (element codes, block
//   scales, zero points, second-level scales). A row that does not fill whole blocks is zero-padded.
// - Kept in 16 bits (BF16): token embeddings and lm_head (Model Optimizer excludes lm_head and never
//   quantizes embeddings; the NVFP4/FP8 checkpoints it exports keep both in BF16), MoE routers, norms,
//   biases. llama.cpp differs: its k-quant mixes store output.weight as Q6_K and token_embd in the base
//   type, so a GGUF of the same model is smaller than this count.
// - KV cache: 2 (K and V) x KV heads x head_dim per layer per token, at 2 bytes (f16) or 1 (fp8); layers
//   with a sliding window keep only the window.
// - Runtime overhead (an assumption, stated in every result): 1 GB for the CUDA context, library
//   workspaces and allocator slack, plus activations of one forward step of up to 2048 tokens in BF16
//   (residual + normed input, q/k/v, MLP intermediate) and FP32 logits for the last token of each sequence.
// - Units: GB = 10^9 bytes, as the module's table and the budget use them.
#include <cstdint>
#include <string>
#include <vector>

#include "engine/capacity/model_arch.h"

namespace qlab::capacity {

struct Scheme {
  std::string name;            // "nvfp4", "bf16", "released"
  std::string linear_format;   // format of the quantized Linear weights: a block format name or "bf16"/"f16"
  bool experts_only = false;   // quantize only the MoE experts (how GPT-OSS is published)
  std::string label;           // for tables: "nvfp4", "released (mxfp4 experts)"
};

// The module's formats: bf16, fp8, int8, nvfp4, mxfp4, int4 g128 (GPTQ/AWQ), nf4; plus the model's
// released scheme when it is not plain BF16.
std::vector<Scheme> default_schemes(const ModelArch& m);
// A scheme from a CLI format name ("nvfp4", "int4-g128", "bf16", "released"); Error if unknown.
Scheme scheme_from_name(const std::string& name, const ModelArch& m);

enum class KvDtype { F16, FP8 };
int kv_bytes_per_element(KvDtype k);
const char* kv_dtype_name(KvDtype k);

struct MemoryOptions {
  std::int64_t context = 8192;  // tokens per sequence
  std::int64_t batch = 1;       // sequences served at once
  KvDtype kv = KvDtype::F16;
  double budget_gb = 128.0;     // the DGX Spark's unified memory
};

struct MemoryEstimate {
  std::string scheme;
  std::string label;
  std::int64_t parameters = 0;          // all parameters
  std::int64_t quantized_parameters = 0;
  // weight bytes, split by what they hold
  double quantized_element_bytes = 0;   // element codes of the quantized tensors (4 bits each for nvfp4)
  double quantized_scale_bytes = 0;     // block scales, zero points, second-level and tensor scales
  double kept_bytes = 0;                // tensors kept in 16 bits (embeddings, lm_head, norms, routers, biases)
  double embedding_head_bytes = 0;      // the part of kept_bytes that is embeddings + lm_head
  double padding_bytes = 0;             // zero-padding of rows that do not fill whole blocks (included above)
  double weight_bytes = 0;              // sum of the three above
  double bits_per_weight = 0;           // 8 x (elements + scales) / quantized_parameters
  double element_bits = 0;              // bits of one element code (16, 8, 4, ...)
  // the simple rule: parameters x element_bits / 8
  double naive_bytes = 0;
  // the rest of the bill
  double kv_bytes = 0;
  double overhead_bytes = 0;
  double total_bytes = 0;
  bool fits = false;                    // total <= budget
};

MemoryEstimate estimate_memory(const ModelArch& m, const Scheme& s, const MemoryOptions& o);

// KV cache bytes for the whole batch at the given context.
double kv_cache_bytes(const ModelArch& m, const MemoryOptions& o);
double overhead_bytes(const ModelArch& m, const MemoryOptions& o);
std::string overhead_assumption();  // one sentence, shown with every table

// Bits per weight of a [rows, cols] tensor in the format: the bytes formats::storage_sizes counts (codes,
// block scales, zero points, second-level and per-tensor scales) for rows padded to whole blocks, over
// the rows x cols real weights. 16 for bf16/f16.
double tensor_bits_per_weight(const std::string& format, std::int64_t rows, std::int64_t cols);

}  // namespace qlab::capacity
