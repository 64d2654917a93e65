// GGUF tensors -> the runtime's weights (see gguf_model.h).
#include "engine/gguf/gguf_model.h"

#include <cstring>
#include <fstream>
#include <set>

#include <fmt/format.h>

#include "engine/core/error.h"
#include "engine/gguf/ggml_activations.h"
#include "engine/gguf/ggml_codec.h"
#include "engine/gguf/gguf_metadata.h"
#include "engine/gguf/gguf_tokenizer.h"
#include "engine/gguf/quantize.h"

namespace qlab::gguf {

namespace {

class Reader {
 public:
  explicit Reader(std::shared_ptr<const GgufFile> f) : f_(std::move(f)) {}

  const TensorInfo& tensor(const std::string& name, std::vector<std::int64_t> ggml_shape) {
    used_.insert(name);
    const TensorInfo* t = f_->find_tensor(name);
    if (!t) fail("{}: tensor {} is missing", f_->label(), name);
    std::vector<std::int64_t> shape = t->shape;
    while (shape.size() > ggml_shape.size() && shape.back() == 1) shape.pop_back();
    if (shape != ggml_shape)
      fail("{}: tensor {} is [{}], the model's hyper-parameters imply [{}] (ggml order)", f_->label(), name,
           fmt::join(t->shape, ", "), fmt::join(ggml_shape, ", "));
    return *t;
  }

  // rows x cols in runtime terms (ggml shape [cols, rows]). heads > 0: un-permute Q/K rows per head.
  tensor::Matrix matrix(const std::string& name, std::int64_t rows, std::int64_t cols, int heads = 0) {
    const TensorInfo& t = tensor(name, {cols, rows});
    std::span<const std::byte> bytes = t.data;
    std::shared_ptr<const void> owner = f_;
    if (heads > 0) {
      auto copy = std::make_shared<std::vector<std::byte>>(unpermuted(t, rows, heads));
      bytes = *copy;
      owner = copy;
    }
    tensor::Matrix m;
    m.rows = rows;
    m.cols = cols;
    switch (t.type) {
      case GgmlType::F32: m.type = tensor::ElemType::F32; break;
      case GgmlType::F16: m.type = tensor::ElemType::F16; break;
      case GgmlType::BF16: m.type = tensor::ElemType::BF16; break;
      default: {
        const formats::BlockFormatSpec* spec = ggml_block_spec(t.type);
        if (!spec)
          fail("{}: tensor {} is {}, a type qlab does not read (it reads f32, f16, bf16, q4_0 .. q8_0, q2_K .. q6_K, "
               "mxfp4)", f_->label(), name, type_name(t.type));
        formats::QuantizedView q;
        q.spec = spec;
        q.rows = rows;
        q.cols = cols;
        q.data = std::span(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
        tensor::Matrix p = tensor::Matrix::borrowed_packed(q, cols, std::move(owner));
        p.round_input = llama_cpp_input_rounding(t.type);
        // Decoding reads a copy laid out for this CPU's kernel where it has one (llama.cpp's CPU repack),
        // made at its first use (tensor/row_interleave.h); prompts read the mapped blocks.
        return p;
      }
    }
    m.data = bytes.data();
    m.owner = std::move(owner);
    m.round_input = llama_cpp_input_rounding(t.type);
    return m;
  }

  std::vector<float> vec(const std::string& name, std::int64_t n, int heads = 0) {
    const TensorInfo& t = tensor(name, {n});
    std::vector<float> v(static_cast<std::size_t>(n));
    if (!type_traits(t.type).qlab_converts || t.shape[0] % type_traits(t.type).block_size != 0)
      fail("{}: tensor {} is {}, which qlab does not read as a vector", f_->label(), name, type_name(t.type));
    dequantize_rows(t.type, t.data, n, v, name);
    if (heads > 0) {  // a bias of a permuted projection: one value per row
      const std::vector<float> src = v;
      const std::int64_t hd = n / heads;
      for (std::int64_t h = 0; h < heads; ++h)
        for (std::int64_t i = 0; i < hd / 2; ++i)
          for (std::int64_t a = 0; a < 2; ++a) v[h * hd + a * hd / 2 + i] = src[h * hd + 2 * i + a];
    }
    return v;
  }

  // Every tensor the file holds must be one the model read.
  void check_all_used() const {
    for (const TensorInfo& t : f_->tensors())
      if (!used_.count(t.name) && t.name != "rope_freqs.weight")
        fail("{}: tensor {} is not one the {} architecture has", f_->label(), t.name, f_->get_string("general.architecture"));
  }

 private:
  // Stored row 2i + a of head h is the HF row a*hd/2 + i: move whole rows back.
  std::vector<std::byte> unpermuted(const TensorInfo& t, std::int64_t rows, int heads) const {
    const std::int64_t hd = rows / heads;
    if (hd * heads != rows || hd % 2 != 0)
      fail("{}: tensor {} has {} rows, not {} heads of an even size", f_->label(), t.name, rows, heads);
    const std::size_t rb = t.data.size() / static_cast<std::size_t>(rows);
    std::vector<std::byte> out(t.data.size());
    for (std::int64_t h = 0; h < heads; ++h)
      for (std::int64_t i = 0; i < hd / 2; ++i)
        for (std::int64_t a = 0; a < 2; ++a)
          std::memcpy(out.data() + static_cast<std::size_t>(h * hd + a * hd / 2 + i) * rb,
                      t.data.data() + static_cast<std::size_t>(h * hd + 2 * i + a) * rb, rb);
    return out;
  }

  std::shared_ptr<const GgufFile> f_;
  std::set<std::string> used_;
};

}  // namespace

model::Model load_gguf_model(std::shared_ptr<const GgufFile> file) {
  io::ModelConfig c = model_config_from_gguf(*file);
  const bool permuted = permutes_qk(file->get_string("general.architecture"));
  Reader r(file);
  const std::int64_t H = c.hidden_size, I = c.intermediate_size, V = c.vocab_size;
  const std::int64_t q_dim = static_cast<std::int64_t>(c.num_attention_heads) * c.head_dim;
  const std::int64_t kv_dim = static_cast<std::int64_t>(c.num_key_value_heads) * c.head_dim;
  const int qh = permuted ? c.num_attention_heads : 0, kh = permuted ? c.num_key_value_heads : 0;

  model::Weights w;
  w.embed = r.matrix("token_embd.weight", V, H);
  w.lm_head = c.tie_word_embeddings ? w.embed : r.matrix("output.weight", V, H);
  w.final_norm = r.vec("output_norm.weight", H);
  w.layers.resize(static_cast<std::size_t>(c.num_hidden_layers));
  for (int i = 0; i < c.num_hidden_layers; ++i) {
    const std::string p = fmt::format("blk.{}.", i);
    model::LayerWeights& l = w.layers[static_cast<std::size_t>(i)];
    l.wq = r.matrix(p + "attn_q.weight", q_dim, H, qh);
    l.wk = r.matrix(p + "attn_k.weight", kv_dim, H, kh);
    l.wv = r.matrix(p + "attn_v.weight", kv_dim, H);
    l.wo = r.matrix(p + "attn_output.weight", H, q_dim);
    if (c.attention_bias) {
      l.bq = r.vec(p + "attn_q.bias", q_dim, qh);
      l.bk = r.vec(p + "attn_k.bias", kv_dim, kh);
      l.bv = r.vec(p + "attn_v.bias", kv_dim);
    }
    l.w_gate = r.matrix(p + "ffn_gate.weight", I, H);
    l.w_up = r.matrix(p + "ffn_up.weight", I, H);
    l.w_down = r.matrix(p + "ffn_down.weight", H, I);
    l.attn_norm = r.vec(p + "attn_norm.weight", H);
    l.mlp_norm = r.vec(p + "ffn_norm.weight", H);
  }
  r.check_all_used();
  const std::filesystem::path source = file->label();
  return model::Model::from_weights(std::move(c), std::move(w), source, file);
}

GgufModel open_gguf_model(const std::filesystem::path& path) {
  auto file = std::make_shared<const GgufFile>(GgufFile::open(path));
  model::Model m = load_gguf_model(file);
  std::optional<io::Tokenizer> tok = gguf_tokenizer(*file);
  return GgufModel{std::move(file), std::move(m), std::move(tok)};
}

bool is_gguf_file(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return false;
  std::ifstream in(path, std::ios::binary);
  char magic[4] = {};
  in.read(magic, 4);
  return in.gcount() == 4 && std::memcmp(magic, "GGUF", 4) == 0;
}

}  // namespace qlab::gguf
