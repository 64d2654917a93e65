// HF safetensors -> GGUF, one tensor at a time (see gguf_convert.h).
#include "engine/gguf/gguf_convert.h"

#include <algorithm>
#include <chrono>
#include <numeric>

#include <fmt/format.h>

#include "engine/core/error.h"
#include "engine/gguf/gguf_metadata.h"
#include "engine/gguf/gguf_writer.h"
#include "engine/gguf/hf_vocab.h"
#include "engine/gguf/quantize.h"
#include "engine/io/model_config.h"
#include "engine/io/safetensors.h"
#include "engine/io/tensor_map.h"
#include "engine/tensor/matrix.h"

namespace qlab::gguf {

namespace {

namespace fs = std::filesystem;

// HF name -> GGUF name (gguf.md §2.1); empty for names llama.cpp's converter has no use for.
std::string gguf_name(const std::string& hf) {
  if (hf == "model.embed_tokens.weight") return "token_embd.weight";
  if (hf == "model.norm.weight") return "output_norm.weight";
  if (hf == "lm_head.weight") return "output.weight";
  static const std::pair<const char*, const char*> kLayer[] = {
      {"input_layernorm.weight", "attn_norm.weight"}, {"post_attention_layernorm.weight", "ffn_norm.weight"},
      {"self_attn.q_proj.weight", "attn_q.weight"},   {"self_attn.q_proj.bias", "attn_q.bias"},
      {"self_attn.k_proj.weight", "attn_k.weight"},   {"self_attn.k_proj.bias", "attn_k.bias"},
      {"self_attn.v_proj.weight", "attn_v.weight"},   {"self_attn.v_proj.bias", "attn_v.bias"},
      {"self_attn.o_proj.weight", "attn_output.weight"}, {"self_attn.o_proj.bias", "attn_output.bias"},
      {"mlp.gate_proj.weight", "ffn_gate.weight"},    {"mlp.up_proj.weight", "ffn_up.weight"},
      {"mlp.down_proj.weight", "ffn_down.weight"}};
  const std::string prefix = "model.layers.";
  if (hf.rfind(prefix, 0) != 0) return {};
  const std::size_t dot = hf.find('.', prefix.size());
  if (dot == std::string::npos) return {};
  const std::string layer = hf.substr(prefix.size(), dot - prefix.size()), rest = hf.substr(dot + 1);
  for (const auto& [from, to] : kLayer)
    if (rest == from) return fmt::format("blk.{}.{}", layer, to);
  return {};
}

// HF rows per head in rotate-half order -> llama.cpp's adjacent pairs: new row 2i + a = old row
// a*hd/2 + i (convert_hf_to_gguf.py LlamaModel.permute). x holds rows x cols values.
void permute_rows(std::vector<float>& x, std::int64_t rows, std::int64_t cols, int heads) {
  const std::int64_t hd = rows / heads;
  const std::vector<float> src = x;
  for (std::int64_t h = 0; h < heads; ++h)
    for (std::int64_t i = 0; i < hd / 2; ++i)
      for (std::int64_t a = 0; a < 2; ++a)
        std::copy_n(src.data() + (h * hd + a * hd / 2 + i) * cols, cols, x.data() + (h * hd + 2 * i + a) * cols);
}

struct Source {
  std::string name;                  // GGUF name
  const io::TensorRef* ref = nullptr;  // null for generated tensors (rope_freqs)
  std::vector<float> generated;
  std::vector<std::int64_t> shape;   // ggml order
  int permute_heads = 0;
};

void release_pages(const io::TensorRef& t) {
  tensor::Matrix m;
  m.type = t.dtype == io::DType::F32 ? tensor::ElemType::F32
         : t.dtype == io::DType::F16 ? tensor::ElemType::F16 : tensor::ElemType::BF16;
  m.data = t.bytes.data();
  m.rows = 1;
  m.cols = t.numel();
  m.release_mapped_pages();
}

}  // namespace

std::uint64_t ConvertResult::tensor_bytes() const {
  std::uint64_t b = 0;
  for (const auto& t : tensors) b += t.bytes;
  return b;
}

double ConvertResult::bits_per_weight() const {
  return parameters ? 8.0 * static_cast<double>(tensor_bytes()) / static_cast<double>(parameters) : 0;
}

ConvertResult convert_to_gguf(const fs::path& model_dir, const fs::path& out, const ConvertOptions& o,
                              Progress& progress, std::stop_token stop) {
  const auto t0 = std::chrono::steady_clock::now();
  const io::ModelConfig cfg = io::load_model_config(model_dir / "config.json");
  if (cfg.mlp_bias) fail("{}: mlp_bias models cannot be written to GGUF by qlab", model_dir.string());
  const std::string arch = gguf_arch(cfg);
  const io::TensorStore store = io::TensorStore::open(model_dir);

  // Every tensor the config implies, with its shape; nothing else (but the rotary cache some
  // checkpoints carry, which the converter drops too).
  std::vector<Source> sources;
  {
    std::map<std::string, std::vector<std::int64_t>> expected;
    for (const auto& h : io::tensor_headers(io::tensor_map(cfg), io::DType::F32)) expected[h.name] = h.shape;
    for (const auto& [name, shape] : expected) {
      const io::TensorRef* t = store.find(name);
      if (!t) fail("{}: tensor {} is missing", model_dir.string(), name);
      if (t->shape != shape)
        fail("{}: tensor {} has shape [{}], the config implies [{}]", t->file, name, fmt::join(t->shape, ", "),
             fmt::join(shape, ", "));
    }
    for (const std::string& name : store.names()) {
      if (name.ends_with("rotary_emb.inv_freq")) continue;
      if (!expected.count(name)) {
        if (name == "lm_head.weight" && cfg.tie_word_embeddings) continue;  // tied: token_embd serves
        fail("{}: tensor {} is not one a {} model has", model_dir.string(), name, cfg.architecture);
      }
      const io::TensorRef& t = store.at(name);
      Source s;
      s.name = gguf_name(name);
      if (s.name.empty()) fail("{}: tensor {} has no GGUF name", model_dir.string(), name);
      s.ref = &t;
      s.shape.assign(t.shape.rbegin(), t.shape.rend());
      if (permutes_qk(arch)) {
        if (name.ends_with("q_proj.weight") || name.ends_with("q_proj.bias")) s.permute_heads = cfg.num_attention_heads;
        if (name.ends_with("k_proj.weight") || name.ends_with("k_proj.bias")) s.permute_heads = cfg.num_key_value_heads;
      }
      sources.push_back(std::move(s));
    }
  }
  if (std::vector<float> f = llama3_rope_factors(cfg); !f.empty()) {
    if (arch != "llama") fail("{}: llama3 rope scaling on a {} model", model_dir.string(), arch);
    Source s;
    s.name = "rope_freqs.weight";
    s.shape = {static_cast<std::int64_t>(f.size())};
    s.generated = std::move(f);
    sources.push_back(std::move(s));
  }
  std::stable_sort(sources.begin(), sources.end(),
                   [](const Source& a, const Source& b) { return loader_order_less(a.name, b.name); });

  // Types, exactly as llama-quantize would choose them from an F32 GGUF of this model.
  std::vector<TensorDesc> descs;
  for (const Source& s : sources) descs.push_back({s.name, s.shape, GgmlType::F32});
  ModelFacts facts;
  facts.arch = arch;
  facts.n_layer = cfg.num_hidden_layers;
  facts.n_head = cfg.num_attention_heads;
  facts.n_head_kv = cfg.num_key_value_heads;
  facts.is_70b = model_is_70b(arch, cfg.num_hidden_layers, cfg.num_attention_heads, cfg.num_key_value_heads);
  MixOptions mix = o.mix;
  mix.has_imatrix = !o.importance.empty();
  const std::vector<TensorPlan> plans = plan_types(descs, facts, mix);

  ConvertResult res;
  res.architecture = arch;
  GgufWriter w;
  for (auto& [k, v] : model_metadata(cfg, o.name.empty() ? model_dir.filename().string() : o.name))
    w.set(std::move(k), std::move(v));
  w.set("general.alignment", MetaValue::u32(kDefaultAlignment));
  HfVocab vocab = hf_vocab_metadata(model_dir, cfg);
  for (auto& [k, v] : vocab.kv) w.set(std::move(k), std::move(v));
  w.set("general.quantization_version", MetaValue::u32(2));  // GGML_QNT_VERSION
  w.set("general.file_type", MetaValue::u32(static_cast<std::uint32_t>(mix.file_type)));
  if (!o.importance.empty()) {
    if (!o.imatrix_file.empty()) w.set("quantize.imatrix.file", MetaValue::string(o.imatrix_file));
    if (!o.imatrix_dataset.empty()) w.set("quantize.imatrix.dataset", MetaValue::string(o.imatrix_dataset));
    w.set("quantize.imatrix.entries_count", MetaValue::u32(static_cast<std::uint32_t>(o.importance.size())));
    w.set("quantize.imatrix.chunks_count", MetaValue::u32(o.imatrix_chunks));
  }
  res.tokenizer_model = vocab.model;
  res.tokenizer_pre = vocab.pre;
  res.chat_template = vocab.chat_template;
  res.eos_tokens = vocab.eos_tokens;

  std::vector<const std::vector<float>*> imatrix(sources.size(), nullptr);
  std::uint64_t total_f32 = 0;
  for (std::size_t i = 0; i < sources.size(); ++i) {
    const Source& s = sources[i];
    const GgmlType t = plans[i].type;
    if (plans[i].convert || t != GgmlType::F32) {
      if (auto it = o.importance.find(s.name); it != o.importance.end() && uses_imatrix(t)) {
        const std::int64_t cols = s.shape[0];
        if (static_cast<std::int64_t>(it->second.size()) != cols)
          fail("the importance matrix has {} values for {}, whose rows have {}", it->second.size(), s.name, cols);
        imatrix[i] = &it->second;
      }
    }
    if (plans[i].requires_imatrix && !imatrix[i])
      fail("{} needs an importance matrix for file type {} (give --imatrix)", s.name, file_type_name(mix.file_type));
    w.add_tensor(s.name, t, s.shape);
    std::int64_t n = 1;
    for (std::int64_t d : s.shape) n *= d;
    total_f32 += static_cast<std::uint64_t>(n) * 4;
    res.parameters += n;
    res.tensors.push_back({s.name, t, s.shape, row_bytes(t, s.shape[0], s.name) * static_cast<std::uint64_t>(n / s.shape[0]),
                           plans[i].fell_back, imatrix[i] != nullptr});
  }
  res.source_f32_bytes = total_f32;

  std::uint64_t done = 0;
  progress.report(0.0, "starting");
  w.write(out, [&](std::size_t i) {
    check_cancel(stop);
    const Source& s = sources[i];
    const std::int64_t cols = s.shape[0];
    std::int64_t n = 1;
    for (std::int64_t d : s.shape) n *= d;
    const std::int64_t rows = n / cols;
    std::vector<float> x = s.ref ? io::to_f32(*s.ref) : s.generated;
    if (s.permute_heads > 0) permute_rows(x, s.shape.size() == 1 ? n : rows, s.shape.size() == 1 ? 1 : cols, s.permute_heads);
    std::vector<std::byte> bytes =
        quantize_tensor(res.tensors[i].type, x.data(), rows, cols, imatrix[i] ? imatrix[i]->data() : nullptr, s.name);
    if (s.ref) release_pages(*s.ref);
    done += static_cast<std::uint64_t>(n) * 4;
    progress.report(static_cast<double>(done) / static_cast<double>(std::max<std::uint64_t>(total_f32, 1)),
                    fmt::format("{} {}", s.name, type_name(res.tensors[i].type)));
    return bytes;
  });
  res.file_bytes = fs::file_size(out);
  res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return res;
}

}  // namespace qlab::gguf
