// Memory needed to serve a model in a weight format; see memory_model.h for what is counted and why.
#include "engine/capacity/memory_model.h"

#include <algorithm>

#include "engine/core/error.h"
#include "engine/formats/block.h"

namespace qlab::capacity {

namespace {

constexpr double kGB = 1e9;
constexpr double kRuntimeFixedBytes = 1.0 * kGB;  // CUDA context + library workspaces + allocator slack
constexpr std::int64_t kStepTokens = 2048;        // tokens in one prefill step (a common chunk size)

bool is_16bit(const std::string& f) { return f == "bf16" || f == "f16" || f == "fp16"; }

formats::BlockFormatSpec spec_or_fail(const std::string& name) {
  auto spec = formats::block_format_from_name(name);
  if (!spec) fail("unknown weight format '{}' (use bf16, f16 or a block format from `qlab formats list`)", name);
  return *spec;
}

}  // namespace

std::vector<Scheme> default_schemes(const ModelArch& m) {
  std::vector<Scheme> s = {
      {"bf16", "bf16", false, "bf16"},
      {"fp8", "fp8-tensor", false, "fp8"},
      {"int8", "int8-ch", false, "int8"},
      {"nvfp4", "nvfp4", false, "nvfp4"},
      {"mxfp4", "mxfp4", false, "mxfp4"},
      {"int4-g128", "int4-g128", false, "int4 g128"},
      {"nf4", "nf4", false, "nf4"},
  };
  if (!m.config.released_format.empty())
    s.push_back({"released", m.config.released_format, true, "as released (" + m.config.released_format + " experts)"});
  return s;
}

Scheme scheme_from_name(const std::string& name, const ModelArch& m) {
  for (const auto& s : default_schemes(m))
    if (s.name == name || s.linear_format == name) return s;
  if (name == "released") fail("{} is published in BF16; it has no quantized release", m.name);
  if (is_16bit(name)) return {name, name, false, name};
  spec_or_fail(name);
  return {name, name, false, name};
}

int kv_bytes_per_element(KvDtype k) { return k == KvDtype::FP8 ? 1 : 2; }
const char* kv_dtype_name(KvDtype k) { return k == KvDtype::FP8 ? "fp8" : "f16"; }

double kv_cache_bytes(const ModelArch& m, const MemoryOptions& o) {
  const io::ModelConfig& c = m.config;
  const double per_layer_token = 2.0 * c.num_key_value_heads * c.head_dim * kv_bytes_per_element(o.kv);
  const double full_layers = c.num_hidden_layers - c.sliding_layers;
  const double window_tokens = static_cast<double>(std::min<std::int64_t>(o.context, c.sliding_window));
  return static_cast<double>(o.batch) * per_layer_token *
         (full_layers * static_cast<double>(o.context) + c.sliding_layers * window_tokens);
}

double overhead_bytes(const ModelArch& m, const MemoryOptions& o) {
  const io::ModelConfig& c = m.config;
  // batch x context in double: the product of two caller-given counts need not fit 64 bits
  const double tokens = std::min(static_cast<double>(o.batch) * static_cast<double>(o.context),
                                 static_cast<double>(kStepTokens));
  const double ffn_active =
      static_cast<double>(c.intermediate_size) * (c.num_experts > 0 ? c.num_experts_per_tok : 1);
  const double per_token = 2.0 * (2.0 * c.hidden_size + double(c.num_attention_heads) * c.head_dim +
                                  2.0 * c.num_key_value_heads * c.head_dim + (c.gated_mlp ? 2.0 : 1.0) * ffn_active);
  const double logits = 4.0 * static_cast<double>(o.batch) * c.vocab_size;
  return kRuntimeFixedBytes + tokens * per_token + logits;
}

std::string overhead_assumption() {
  return "overhead = 1 GB (CUDA context, library workspaces, allocator slack) + BF16 activations of one "
         "forward step of up to 2048 tokens + FP32 logits of each sequence's last token";
}

MemoryEstimate estimate_memory(const ModelArch& m, const Scheme& s, const MemoryOptions& o) {
  if (o.context <= 0 || o.batch <= 0) fail("context and batch must be positive");
  MemoryEstimate e;
  e.scheme = s.name;
  e.label = s.label;
  const bool sixteen = is_16bit(s.linear_format);
  formats::BlockFormatSpec spec;
  if (!sixteen) spec = spec_or_fail(s.linear_format);
  e.element_bits = sixteen ? 16.0 : spec.bits;

  for (const auto& t : m.tensors) {
    const double params = static_cast<double>(t.parameters());
    e.parameters += t.parameters();
    const bool quantize = io::quantized(t.role, {.embeddings = false, .experts_only = s.experts_only});
    if (!quantize) {
      e.kept_bytes += 2.0 * params;
      if (t.role == io::TensorRole::Embedding || t.role == io::TensorRole::LmHead) e.embedding_head_bytes += 2.0 * params;
      continue;
    }
    e.quantized_parameters += t.parameters();
    if (sixteen) {
      e.quantized_element_bytes += 2.0 * params;
      continue;
    }
    const std::int64_t cols = formats::padded_cols(spec, t.cols);
    const auto sz = formats::storage_sizes(spec, t.rows, cols);
    const double count = static_cast<double>(t.count);
    e.quantized_element_bytes += count * static_cast<double>(sz.data);
    e.quantized_scale_bytes += count * static_cast<double>(sz.total() - sz.data);
    if (cols != t.cols)
      e.padding_bytes += count * static_cast<double>(sz.total()) * static_cast<double>(cols - t.cols) / double(cols);
  }
  e.weight_bytes = e.quantized_element_bytes + e.quantized_scale_bytes + e.kept_bytes;
  e.bits_per_weight = e.quantized_parameters
                          ? 8.0 * (e.quantized_element_bytes + e.quantized_scale_bytes) / double(e.quantized_parameters)
                          : 0.0;
  e.naive_bytes = static_cast<double>(e.parameters) * e.element_bits / 8.0;
  e.kv_bytes = kv_cache_bytes(m, o);
  e.overhead_bytes = overhead_bytes(m, o);
  e.total_bytes = e.weight_bytes + e.kv_bytes + e.overhead_bytes;
  e.fits = e.total_bytes <= o.budget_gb * kGB;
  return e;
}

double tensor_bits_per_weight(const std::string& format, std::int64_t rows, std::int64_t cols) {
  if (is_16bit(format)) return 16.0;
  const auto spec = spec_or_fail(format);
  if (rows <= 0 || cols <= 0) fail("tensor [{}, {}] is empty", rows, cols);
  const auto sz = formats::storage_sizes(spec, rows, formats::padded_cols(spec, cols));
  return 8.0 * static_cast<double>(sz.total()) / (static_cast<double>(rows) * static_cast<double>(cols));
}

}  // namespace qlab::capacity
