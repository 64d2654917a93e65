#include "engine/suite/gguf_variant.h"

#include <fmt/format.h>

#include <memory>
#include <span>
#include <utility>

#include "engine/core/error.h"
#include "engine/gguf/ggml_activations.h"
#include "engine/gguf/ggml_codec.h"
#include "engine/gguf/ggml_type.h"
#include "engine/gguf/quantize.h"

namespace qlab::suite {

namespace {

gguf::GgmlType source_type(const tensor::Matrix& w, const std::string& name) {
  switch (w.type) {
    case tensor::ElemType::F32: return gguf::GgmlType::F32;
    case tensor::ElemType::F16: return gguf::GgmlType::F16;
    case tensor::ElemType::BF16: return gguf::GgmlType::BF16;
    case tensor::ElemType::Packed: break;
  }
  fail("{}: already quantized in the checkpoint; a GGUF variant starts from 16- or 32-bit weights", name);
}

// A matrix [rows, cols] (row-major, rows of cols) is ggml's [cols, rows].
GgufTensorRef matrix_ref(std::string name, tensor::Matrix& w) {
  GgufTensorRef r;
  r.desc.type = source_type(w, name);
  r.desc.name = std::move(name);
  r.desc.shape = {w.cols, w.rows};
  r.matrix = &w;
  r.numel = w.rows * w.cols;
  return r;
}

GgufTensorRef vector_ref(std::string name, std::size_t n) {
  GgufTensorRef r;
  r.desc.name = std::move(name);
  r.desc.shape = {static_cast<std::int64_t>(n)};
  r.desc.type = gguf::GgmlType::F32;
  r.numel = static_cast<std::int64_t>(n);
  return r;
}

}  // namespace

gguf::ModelFacts gguf_model_facts(const io::ModelConfig& c) {
  gguf::ModelFacts f;
  // convert_hf_to_gguf.py: LlamaForCausalLM and MistralForCausalLM -> "llama", Qwen2ForCausalLM -> "qwen2".
  if (c.model_type == "llama" || c.model_type == "mistral") f.arch = "llama";
  else if (c.model_type == "qwen2") f.arch = "qwen2";
  else fail("{}: GGUF variants are made for Llama, Mistral and Qwen2 models, not {}", c.name(), c.model_type);
  f.n_layer = c.num_hidden_layers;
  f.n_head = c.num_attention_heads;
  f.n_head_kv = c.num_key_value_heads;
  f.is_70b = gguf::model_is_70b(f.arch, f.n_layer, f.n_head, f.n_head_kv);
  return f;
}

std::vector<GgufTensorRef> gguf_tensor_list(model::Model& m) {
  model::Weights& w = m.mutable_weights();
  std::vector<GgufTensorRef> t;
  t.push_back(matrix_ref("token_embd.weight", w.embed));
  if (w.lm_head.data != w.embed.data) t.push_back(matrix_ref("output.weight", w.lm_head));
  t.push_back(vector_ref("output_norm.weight", w.final_norm.size()));
  for (std::size_t i = 0; i < w.layers.size(); ++i) {
    model::LayerWeights& l = w.layers[i];
    const auto n = [&](const char* what) { return fmt::format("blk.{}.{}", i, what); };
    t.push_back(vector_ref(n("attn_norm.weight"), l.attn_norm.size()));
    t.push_back(matrix_ref(n("attn_q.weight"), l.wq));
    t.push_back(matrix_ref(n("attn_k.weight"), l.wk));
    t.push_back(matrix_ref(n("attn_v.weight"), l.wv));
    if (!l.bq.empty()) t.push_back(vector_ref(n("attn_q.bias"), l.bq.size()));
    if (!l.bk.empty()) t.push_back(vector_ref(n("attn_k.bias"), l.bk.size()));
    if (!l.bv.empty()) t.push_back(vector_ref(n("attn_v.bias"), l.bv.size()));
    t.push_back(matrix_ref(n("attn_output.weight"), l.wo));
    t.push_back(vector_ref(n("ffn_norm.weight"), l.mlp_norm.size()));
    t.push_back(matrix_ref(n("ffn_gate.weight"), l.w_gate));
    t.push_back(matrix_ref(n("ffn_up.weight"), l.w_up));
    t.push_back(matrix_ref(n("ffn_down.weight"), l.w_down));
  }
  return t;
}

GgufVariantStats make_gguf_variant(model::Model& m, const std::string& file_type, Progress& progress,
                                   std::stop_token stop) {
  const auto ftype = gguf::file_type_from_name(file_type);
  if (!ftype) fail("GGUF file type {}: not one llama-quantize makes here ({})", file_type, gguf::file_type_names());
  gguf::MixOptions opt;
  opt.file_type = *ftype;
  const gguf::ModelFacts facts = gguf_model_facts(m.config());
  std::vector<GgufTensorRef> refs = gguf_tensor_list(m);
  std::vector<gguf::TensorDesc> descs;
  for (const auto& r : refs) descs.push_back(r.desc);
  const std::vector<gguf::TensorPlan> plans = gguf::plan_types(descs, facts, opt);

  GgufVariantStats st;
  std::vector<std::pair<gguf::GgmlType, int>> counts;
  for (std::size_t i = 0; i < refs.size(); ++i) {
    const GgufTensorRef& r = refs[i];
    const gguf::TensorPlan& p = plans[i];
    if (p.requires_imatrix)
      fail("{} gives {} type {}, which llama-quantize makes only with an importance matrix", file_type, r.desc.name,
           gguf::type_name(p.type));
    const std::int64_t cols = r.desc.shape[0], rows = r.numel / cols;
    st.bytes += static_cast<double>(rows) * static_cast<double>(gguf::row_bytes(p.type, cols, r.desc.name));
    // Products take their activations rounded as llama.cpp's CPU kernels round them for this type
    // (ggml_activations.h), as the GGUF runtime does: on the built-in model that alone moves a Q4_K_M
    // perplexity by about 0.15 %.
    if (r.matrix) r.matrix->round_input = gguf::llama_cpp_input_rounding(p.type);
    if (!p.convert) continue;
    check_cancel(stop);
    if (!r.matrix) fail("{}: a vector llama-quantize would convert to {}", r.desc.name, gguf::type_name(p.type));
    const std::vector<float> src = r.matrix->to_f32();
    auto q = std::make_shared<const std::vector<std::byte>>(
        gguf::quantize_tensor(p.type, src.data(), rows, cols, nullptr, r.desc.name));
    if (const formats::BlockFormatSpec* spec = gguf::ggml_block_spec(p.type)) {
      // Kept packed, as the GGUF runtime holds a file's tensors: products dequantize slabs of rows
      // with ggml's own dequantization, so memory and decode speed are the type's.
      formats::QuantizedView view;
      view.spec = spec;
      view.rows = rows;
      view.cols = cols;
      view.data = std::span(reinterpret_cast<const std::uint8_t*>(q->data()), q->size());
      *r.matrix = tensor::Matrix::borrowed_packed(view, cols, q);
    } else {  // a float type (f16, bf16): widened back to float32
      std::vector<float> back(static_cast<std::size_t>(r.numel));
      gguf::dequantize_rows(p.type, *q, cols, back, r.desc.name);
      *r.matrix = tensor::Matrix::owned_f32(std::move(back), rows, cols);
    }
    r.matrix->round_input = gguf::llama_cpp_input_rounding(p.type);
    ++st.quantized;
    if (p.fell_back) ++st.fell_back;
    auto it = counts.begin();
    while (it != counts.end() && it->first != p.type) ++it;
    if (it == counts.end()) counts.emplace_back(p.type, 1);
    else ++it->second;
    progress.report(static_cast<double>(i + 1) / static_cast<double>(refs.size()),
                    fmt::format("{} {}", r.desc.name, gguf::type_name(p.type)));
  }
  // A tied lm_head reads the (now quantized) embedding table, as llama.cpp's output falls back to token_embd.
  model::Weights& w = m.mutable_weights();
  if (refs.size() > 1 && refs[1].desc.name != "output.weight") w.lm_head = w.embed;
  for (const auto& [type, n] : counts) st.types.push_back(fmt::format("{} x {}", gguf::type_name(type), n));
  return st;
}

}  // namespace qlab::suite
