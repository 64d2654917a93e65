#include "engine/model/model.h"

#include <fmt/format.h>

#include "engine/core/error.h"
#include "engine/io/quant_checkpoint.h"
#include "engine/io/safetensors.h"

namespace qlab::model {

namespace {

class Loader {
 public:
  Loader(const io::TensorStore& s, const std::filesystem::path& dir)
      : s_(s), dir_(dir), scheme_(io::read_checkpoint_scheme(dir)) {}

  const io::TensorRef& tensor(const std::string& name, std::vector<std::int64_t> shape) const {
    const io::TensorRef* t = s_.find(name);
    if (!t) fail("{}: tensor '{}' is missing from the safetensors files", dir_.string(), name);
    if (t->shape != shape)
      fail("{}: tensor '{}' has shape [{}], the config implies [{}]", t->file, name, fmt::join(t->shape, ", "),
           fmt::join(shape, ", "));
    return *t;
  }

  tensor::Matrix matrix(const std::string& name, std::int64_t rows, std::int64_t cols) const {
    // A quantized checkpoint's Linear weight (ModelOpt or compressed-tensors floats): its packed parts,
    // borrowed from the mapping and dequantized a slab at a time by the products.
    if (scheme_ && name.size() > 7 && name.compare(name.size() - 7, 7, ".weight") == 0) {
      const std::string module = name.substr(0, name.size() - 7);
      // GPTQ, AWQ and compressed-tensors int: unpacked and dequantized to float32 once, here (their
      // packings differ from the int formats' row-major one, and act-order groups are not blocks).
      if (scheme_->ints) {
        if (auto q = io::read_int_linear(s_, *scheme_->ints, module, rows, cols))
          return tensor::Matrix::owned_f32(q->dequantize(), rows, cols);
      } else if (auto p = io::read_packed_linear(s_, *scheme_, module, rows, cols)) {
        return tensor::Matrix::borrowed_packed(p->view, cols, p);
      }
    }
    const io::TensorRef& t = tensor(name, {rows, cols});
    tensor::Matrix m;
    switch (t.dtype) {
      case io::DType::F32: m.type = tensor::ElemType::F32; break;
      case io::DType::F16: m.type = tensor::ElemType::F16; break;
      case io::DType::BF16: m.type = tensor::ElemType::BF16; break;
      default:
        fail("{}: tensor '{}' has dtype {}; the runtime reads F32, F16 and BF16", t.file, name,
             io::dtype_name(t.dtype));
    }
    m.data = t.bytes.data();
    m.rows = rows;
    m.cols = cols;
    return m;
  }

  std::vector<float> vec(const std::string& name, std::int64_t n) const { return io::to_f32(tensor(name, {n})); }

  // The run-time quantization of the input the modules (a fused group, [out, in] each) share, as vLLM
  // makes one scale of the members' (modelopt.py, compressed_tensors_w4a4_nvfp4.py): the largest
  // input_scale (NVFP4: global scale = its reciprocal; FP8: the scale), or the largest
  // input_global_scale (compressed-tensors NVFP4).
  ActivationQuant activation_quant(const std::vector<std::string>& modules, std::int64_t out0, std::int64_t in) const {
    ActivationQuant a;
    if (!scheme_ || !scheme_->input_scale()) return a;
    float largest = 0;
    bool reciprocal = false;
    for (std::size_t i = 0; i < modules.size(); ++i) {
      const auto v = io::read_input_scale(s_, *scheme_, modules[i], out0, in);
      if (!v) return ActivationQuant{};  // kept unquantized (a fused group is excluded whole)
      largest = std::max(largest, v->value);
      reciprocal = v->reciprocal;
    }
    a.kind = scheme_->format == "nvfp4" ? ActivationQuant::Kind::Nvfp4 : ActivationQuant::Kind::Fp8;
    a.scale = a.kind == ActivationQuant::Kind::Nvfp4 && !reciprocal ? 1.0f / largest : largest;
    return a;
  }

 private:
  const io::TensorStore& s_;
  std::filesystem::path dir_;
  std::optional<io::QuantScheme> scheme_;  // what config.json / hf_quant_config.json announce
};

}  // namespace

Model Model::load(const std::filesystem::path& dir) {
  Model m;
  m.dir_ = dir;
  if (!std::filesystem::is_directory(dir)) fail("{}: not a model folder (expected config.json + safetensors)", dir.string());
  m.cfg_ = io::load_model_config(dir / "config.json");
  const io::ModelConfig& c = m.cfg_;
  auto store = std::make_shared<io::TensorStore>(io::TensorStore::open(dir));
  m.store_ = store;
  Loader L(*store, dir);

  const std::int64_t H = c.hidden_size, I = c.intermediate_size, V = c.vocab_size;
  const std::int64_t q_dim = static_cast<std::int64_t>(c.num_attention_heads) * c.head_dim;
  const std::int64_t kv_dim = static_cast<std::int64_t>(c.num_key_value_heads) * c.head_dim;
  if (c.mlp_bias) fail("{}: mlp_bias = true is not supported by the runtime", (dir / "config.json").string());

  m.w_.embed = L.matrix("model.embed_tokens.weight", V, H);
  if (c.tie_word_embeddings) {
    m.w_.lm_head = m.w_.embed;
  } else {
    m.w_.lm_head = L.matrix("lm_head.weight", V, H);
  }
  m.w_.final_norm = L.vec("model.norm.weight", H);
  m.w_.layers.resize(static_cast<std::size_t>(c.num_hidden_layers));
  for (int i = 0; i < c.num_hidden_layers; ++i) {
    const std::string p = fmt::format("model.layers.{}.", i);
    LayerWeights& lw = m.w_.layers[static_cast<std::size_t>(i)];
    lw.wq = L.matrix(p + "self_attn.q_proj.weight", q_dim, H);
    lw.wk = L.matrix(p + "self_attn.k_proj.weight", kv_dim, H);
    lw.wv = L.matrix(p + "self_attn.v_proj.weight", kv_dim, H);
    lw.wo = L.matrix(p + "self_attn.o_proj.weight", H, q_dim);
    if (c.attention_bias) {
      lw.bq = L.vec(p + "self_attn.q_proj.bias", q_dim);
      lw.bk = L.vec(p + "self_attn.k_proj.bias", kv_dim);
      lw.bv = L.vec(p + "self_attn.v_proj.bias", kv_dim);
    }
    lw.w_gate = L.matrix(p + "mlp.gate_proj.weight", I, H);
    lw.w_up = L.matrix(p + "mlp.up_proj.weight", I, H);
    lw.w_down = L.matrix(p + "mlp.down_proj.weight", H, I);
    lw.attn_norm = L.vec(p + "input_layernorm.weight", H);
    lw.mlp_norm = L.vec(p + "post_attention_layernorm.weight", H);
    lw.act_qkv = L.activation_quant({p + "self_attn.q_proj", p + "self_attn.k_proj", p + "self_attn.v_proj"}, q_dim, H);
    lw.act_o = L.activation_quant({p + "self_attn.o_proj"}, H, q_dim);
    lw.act_gate_up = L.activation_quant({p + "mlp.gate_proj", p + "mlp.up_proj"}, I, H);
    lw.act_down = L.activation_quant({p + "mlp.down_proj"}, H, I);
  }
  // Angles of the first positions up to the trained context, at most 4096 of them (2 MB at head_dim 128).
  m.rope_ = Rope(c.rope, c.head_dim, std::min<std::int64_t>(c.max_position_embeddings, 4096));
  return m;
}

void Model::set_product_math(tensor::ProductMath math) {
  w_.embed.math = math;
  w_.lm_head.math = math;
  for (auto& l : w_.layers)
    for (tensor::Matrix* t : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down}) t->math = math;
}

Model Model::from_weights(io::ModelConfig cfg, Weights w, std::filesystem::path source,
                          std::shared_ptr<const void> keep_alive) {
  const std::int64_t H = cfg.hidden_size, I = cfg.intermediate_size, V = cfg.vocab_size;
  const std::int64_t q_dim = static_cast<std::int64_t>(cfg.num_attention_heads) * cfg.head_dim;
  const std::int64_t kv_dim = static_cast<std::int64_t>(cfg.num_key_value_heads) * cfg.head_dim;
  auto check = [&](const tensor::Matrix& m, std::int64_t rows, std::int64_t cols, const char* what, int layer) {
    if (m.rows != rows || m.cols != cols)
      fail("{}: {} of layer {} is [{}, {}], the config implies [{}, {}]", source.string(), what, layer, m.rows, m.cols,
           rows, cols);
  };
  auto check_vec = [&](const std::vector<float>& v, std::int64_t n, const char* what, int layer) {
    if (static_cast<std::int64_t>(v.size()) != n)
      fail("{}: {} of layer {} has {} values, the config implies {}", source.string(), what, layer, v.size(), n);
  };
  check(w.embed, V, H, "the embedding", -1);
  check(w.lm_head, V, H, "the output projection", -1);
  check_vec(w.final_norm, H, "the final norm", -1);
  if (static_cast<int>(w.layers.size()) != cfg.num_hidden_layers)
    fail("{}: {} layers, the config says {}", source.string(), w.layers.size(), cfg.num_hidden_layers);
  for (int i = 0; i < cfg.num_hidden_layers; ++i) {
    const LayerWeights& l = w.layers[static_cast<std::size_t>(i)];
    check(l.wq, q_dim, H, "q", i);
    check(l.wk, kv_dim, H, "k", i);
    check(l.wv, kv_dim, H, "v", i);
    check(l.wo, H, q_dim, "o", i);
    check(l.w_gate, I, H, "gate", i);
    check(l.w_up, I, H, "up", i);
    check(l.w_down, H, I, "down", i);
    check_vec(l.attn_norm, H, "the attention norm", i);
    check_vec(l.mlp_norm, H, "the MLP norm", i);
    if (cfg.attention_bias) {
      check_vec(l.bq, q_dim, "the q bias", i);
      check_vec(l.bk, kv_dim, "the k bias", i);
      check_vec(l.bv, kv_dim, "the v bias", i);
    }
  }
  Model m;
  m.cfg_ = std::move(cfg);
  m.dir_ = std::move(source);
  m.keep_alive_ = std::move(keep_alive);
  m.w_ = std::move(w);
  m.rope_ = Rope(m.cfg_.rope, m.cfg_.head_dim, std::min<std::int64_t>(m.cfg_.max_position_embeddings, 4096));
  return m;
}

}  // namespace qlab::model
