#include "engine/train/train_model.h"

#include <cmath>
#include <cstring>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "engine/core/atomic_file.h"
#include "engine/core/error.h"
#include "engine/formats/scalar.h"
#include "engine/io/safetensors.h"
#include "engine/train/text_world.h"

namespace qlab::train {

namespace {

io::ModelConfig llama(int vocab, int hidden, int inter, int layers, int heads, int kv_heads, int ctx) {
  io::ModelConfig c = io::llama_config(layers, hidden, heads, kv_heads, inter, vocab);
  c.max_position_embeddings = ctx;
  c.tie_word_embeddings = true;
  c.bos_token_id = 0;
  c.eos_token_id = 0;
  c.eos_token_ids = {0};
  c.dtype = "float32";
  return c;
}

}  // namespace

io::ModelConfig builtin_config(int vocab_size) { return llama(vocab_size, 64, 256, 4, 2, 1, 128); }
io::ModelConfig tiny_config(int vocab_size) { return llama(vocab_size, 16, 24, 2, 4, 2, 16); }

TrainModel TrainModel::create(const io::ModelConfig& c) {
  if (c.hidden_size <= 0 || c.num_attention_heads <= 0 || c.num_key_value_heads <= 0 ||
      c.num_attention_heads % c.num_key_value_heads != 0 || c.head_dim <= 0 || c.head_dim % 2 != 0 ||
      c.vocab_size <= 0 || c.intermediate_size <= 0 || c.num_hidden_layers <= 0)
    fail("trainer: unsupported model shape (hidden {}, heads {}/{}, head_dim {}, vocab {})", c.hidden_size,
         c.num_attention_heads, c.num_key_value_heads, c.head_dim, c.vocab_size);
  if (c.attention_bias || c.mlp_bias || c.o_proj_bias)
    fail("trainer: models with biases are not supported (the trainer builds Llama without biases)");
  TrainModel m;
  m.cfg = c;
  const std::int64_t H = c.hidden_size, I = c.intermediate_size, V = c.vocab_size;
  const std::int64_t QD = std::int64_t{c.num_attention_heads} * c.head_dim;
  const std::int64_t KD = std::int64_t{c.num_key_value_heads} * c.head_dim;
  std::size_t off = 0;
  auto add = [&](std::string name, std::vector<std::int64_t> shape, bool decay) {
    std::size_t n = 1;
    for (auto d : shape) n *= static_cast<std::size_t>(d);
    m.tensors.push_back({std::move(name), std::move(shape), off, n, decay});
    off += n;
    return m.tensors.back().offset;
  };
  m.embed = add("model.embed_tokens.weight", {V, H}, true);
  for (int l = 0; l < c.num_hidden_layers; ++l) {
    const std::string p = fmt::format("model.layers.{}.", l);
    LayerParams lp{};
    lp.attn_norm = add(p + "input_layernorm.weight", {H}, false);
    lp.wq = add(p + "self_attn.q_proj.weight", {QD, H}, true);
    lp.wk = add(p + "self_attn.k_proj.weight", {KD, H}, true);
    lp.wv = add(p + "self_attn.v_proj.weight", {KD, H}, true);
    lp.wo = add(p + "self_attn.o_proj.weight", {H, QD}, true);
    lp.mlp_norm = add(p + "post_attention_layernorm.weight", {H}, false);
    lp.w_gate = add(p + "mlp.gate_proj.weight", {I, H}, true);
    lp.w_up = add(p + "mlp.up_proj.weight", {I, H}, true);
    lp.w_down = add(p + "mlp.down_proj.weight", {H, I}, true);
    m.layers.push_back(lp);
  }
  m.final_norm = add("model.norm.weight", {H}, false);
  m.lm_head = c.tie_word_embeddings ? m.embed : add("lm_head.weight", {V, H}, true);
  m.values.assign(off, 0.0f);
  return m;
}

void TrainModel::init(std::uint64_t seed) {
  WorldRng rng(seed);
  auto normal = [&] {
    double u1 = rng.uniform(), u2 = rng.uniform();
    return std::sqrt(-2.0 * std::log(1.0 - u1)) * std::cos(6.283185307179586 * u2);
  };
  const double resid_scale = 1.0 / std::sqrt(2.0 * cfg.num_hidden_layers);
  for (const auto& t : tensors) {
    float* p = at(t.offset);
    if (t.shape.size() == 1) {
      for (std::size_t i = 0; i < t.size; ++i) p[i] = 1.0f;
      continue;
    }
    bool resid = t.name.find("o_proj") != std::string::npos || t.name.find("down_proj") != std::string::npos;
    const double sd = 0.02 * (resid ? resid_scale : 1.0);
    for (std::size_t i = 0; i < t.size; ++i) p[i] = static_cast<float>(sd * normal());
  }
}

void TrainModel::save(const std::filesystem::path& dir, bool bf16) const {
  std::filesystem::create_directories(dir);
  io::ModelConfig c = cfg;
  c.dtype = bf16 ? "bfloat16" : "float32";
  nlohmann::json j = io::model_config_to_json(c);
  write_file_atomic(dir / "config.json", j.dump(2) + "\n");

  std::vector<std::vector<std::uint16_t>> half(tensors.size());
  std::vector<io::TensorToWrite> out;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const auto& t = tensors[i];
    io::TensorToWrite w{t.name, io::DType::F32, t.shape, {}};
    if (bf16) {
      half[i].resize(t.size);
      for (std::size_t k = 0; k < t.size; ++k) half[i][k] = formats::f32_to_bf16(values[t.offset + k]);
      w.dtype = io::DType::BF16;
      w.bytes = std::as_bytes(std::span<const std::uint16_t>(half[i]));
    } else {
      w.bytes = std::as_bytes(std::span<const float>(values.data() + t.offset, t.size));
    }
    out.push_back(std::move(w));
  }
  io::write_safetensors(dir / "model.safetensors", out, {{"format", "pt"}});
}

TrainModel TrainModel::load(const std::filesystem::path& dir) {
  io::ModelConfig c = io::load_model_config(dir / "config.json");
  if (c.architecture != "LlamaForCausalLM")
    fail("{}: the trainer resumes LlamaForCausalLM checkpoints only, not {}", (dir / "config.json").string(),
         c.architecture);
  TrainModel m = create(c);
  io::TensorStore store = io::TensorStore::open(dir);
  for (const auto& t : m.tensors) {
    const io::TensorRef& r = store.at(t.name);
    if (r.shape != t.shape)
      fail("{}: tensor {} has shape [{}], the config implies [{}]", r.file, t.name, fmt::join(r.shape, ", "),
           fmt::join(t.shape, ", "));
    io::to_f32(r, std::span<float>(m.values.data() + t.offset, t.size));
  }
  return m;
}

}  // namespace qlab::train
