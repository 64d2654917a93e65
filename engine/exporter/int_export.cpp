// Integer GPTQ / AWQ / RTN checkpoints from a model quantized in memory (int_export.h).
#include "engine/exporter/int_export.h"

#include <chrono>
#include <cstring>

#include <fmt/format.h>

#include "engine/core/error.h"
#include "engine/exporter/quantize_plan.h"
#include "engine/exporter/source_folder.h"
#include "engine/formats/scalar_fast.h"
#include "engine/io/model_config.h"
#include "engine/io/tensor_map.h"

namespace qlab::exporter {

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// The model's own copy of a norm weight or a bias ("model.layers.3.input_layernorm.weight"); nullptr
// for every other tensor.
const std::vector<float>* held_vector(const model::Model& m, const std::string& name) {
  const model::Weights& w = m.weights();
  if (name == "model.norm.weight") return &w.final_norm;
  const std::string prefix = "model.layers.";
  if (name.rfind(prefix, 0) != 0) return nullptr;
  const std::size_t dot = name.find('.', prefix.size());
  if (dot == std::string::npos) return nullptr;
  const int layer = std::stoi(name.substr(prefix.size(), dot - prefix.size()));
  if (layer < 0 || layer >= static_cast<int>(w.layers.size())) return nullptr;
  const model::LayerWeights& lw = w.layers[static_cast<std::size_t>(layer)];
  const std::string rest = name.substr(dot + 1);
  if (rest == "input_layernorm.weight") return &lw.attn_norm;
  if (rest == "post_attention_layernorm.weight") return &lw.mlp_norm;
  if (rest == "self_attn.q_proj.bias") return &lw.bq;
  if (rest == "self_attn.k_proj.bias") return &lw.bk;
  if (rest == "self_attn.v_proj.bias") return &lw.bv;
  return nullptr;
}

// v in the dtype of the source tensor (F32, F16 or BF16), little-endian bytes.
std::vector<std::byte> in_dtype(const std::vector<float>& v, io::DType dtype, const std::string& name) {
  std::vector<std::byte> b;
  if (dtype == io::DType::F32) {
    b.resize(v.size() * 4);
    std::memcpy(b.data(), v.data(), b.size());
    return b;
  }
  if (dtype != io::DType::F16 && dtype != io::DType::BF16)
    fail("tensor '{}' is {}; norms and biases are written as F32, F16 or BF16", name, io::dtype_name(dtype));
  b.resize(v.size() * 2);
  for (std::size_t i = 0; i < v.size(); ++i) {
    const std::uint16_t h = dtype == io::DType::F16 ? formats::f32_to_f16(v[i]) : formats::f32_to_bf16(v[i]);
    std::memcpy(b.data() + 2 * i, &h, 2);
  }
  return b;
}

io::IntLinear to_int_linear(const quant::QuantizedLinear& q) {
  io::IntLinear l;
  l.rows = q.rows;
  l.cols = q.cols;
  l.bits = q.bits;
  l.group_size = q.group_size;
  l.codes = q.codes;
  l.scales = q.scales;
  l.zeros.assign(q.zeros.begin(), q.zeros.end());
  l.g_idx = q.g_idx;
  return l;
}

struct Written {
  std::string name;             // source tensor
  bool packed = false;          // a Linear weight written as the layout's parts
  std::vector<std::byte> held;  // a norm or bias as written (from the model's memory)
};

void reread_check(const fs::path& out_dir, const io::TensorStore& src, const model::Model& m,
                  const std::vector<Written>& written, const io::IntScheme& scheme, std::stop_token stop) {
  const std::optional<io::QuantScheme> s = io::read_checkpoint_scheme(out_dir);
  if (!s || !s->ints || s->ints->layout != scheme.layout || s->ints->bits != scheme.bits ||
      s->ints->group_size != scheme.group_size || s->ints->symmetric != scheme.symmetric)
    fail("{}: re-read check: the written config does not announce {} {}-bit", out_dir.string(),
         io::int_layout_name(scheme.layout), scheme.bits);
  const io::TensorStore out = io::TensorStore::open(out_dir);
  std::size_t expected = 0;
  const model::Weights& w = m.weights();
  for (const Written& t : written) {
    check_cancel(stop);
    const io::TensorRef& source = src.at(t.name);
    if (t.packed) {
      const std::string module = module_of(t.name);
      const std::int64_t rows = source.shape[0], cols = source.shape[1];
      expected += io::int_part_shapes(*s->ints, rows, cols).size();
      const auto q = io::read_int_linear(out, *s->ints, module, rows, cols);
      if (!q) fail("{}: re-read check: '{}' was written unquantized", out_dir.string(), module);
      // the model's weight: which layer and Linear
      const int layer = std::stoi(t.name.substr(13, t.name.find('.', 13) - 13));
      const tensor::Matrix* held = nullptr;
      const model::LayerWeights& lw = w.layers[static_cast<std::size_t>(layer)];
      for (const auto& [suffix, mat] : {std::pair{"self_attn.q_proj", &lw.wq}, {"self_attn.k_proj", &lw.wk},
                                        {"self_attn.v_proj", &lw.wv}, {"self_attn.o_proj", &lw.wo},
                                        {"mlp.gate_proj", &lw.w_gate}, {"mlp.up_proj", &lw.w_up},
                                        {"mlp.down_proj", &lw.w_down}})
        if (module.size() > std::strlen(suffix) && module.compare(module.size() - std::strlen(suffix), std::string::npos, suffix) == 0)
          held = mat;
      if (!held) fail("{}: re-read check: '{}' is not a decoder Linear", out_dir.string(), module);
      const std::vector<float> a = q->dequantize(), b = held->to_f32();
      if (a.size() != b.size() || std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) != 0)
        fail("{}: re-read check: '{}' dequantized from the written bytes differs from the quantization in memory",
             out_dir.string(), module);
      continue;
    }
    ++expected;
    const io::TensorRef& o = out.at(t.name);
    if (o.dtype != source.dtype || o.shape != source.shape)
      fail("{}: re-read check: tensor '{}' differs from its source", o.file, t.name);
    const bool same = t.held.empty()
                          ? o.bytes.size() == source.bytes.size() &&
                                std::memcmp(o.bytes.data(), source.bytes.data(), o.bytes.size()) == 0
                          : o.bytes.size() == t.held.size() && std::memcmp(o.bytes.data(), t.held.data(), t.held.size()) == 0;
    if (!same) fail("{}: re-read check: tensor '{}' is not what was meant to be written", o.file, t.name);
  }
  if (out.size() != expected)
    fail("{}: re-read check: {} tensors written, {} expected", out_dir.string(), out.size(), expected);
}

}  // namespace

void check_int_export(const io::ModelConfig& c, const io::IntScheme& scheme) {
  for (const io::TensorEntry& e : io::tensor_map(c))
    if (e.linear_weight() && e.shape.size() == 2)
      io::check_int_linear_shape(scheme, module_of(e.name), e.shape[0], e.shape[1]);
}

IntExportResult write_int_checkpoint(const fs::path& model_dir, const fs::path& out_dir, const model::Model& m,
                                     const IntLinears& linears, const io::IntScheme& scheme,
                                     const IntExportOptions& opt, Progress& progress) {
  check_source_and_out(model_dir, out_dir);
  const io::ModelConfig cfg = io::load_model_config(model_dir / "config.json");
  nlohmann::json config = read_config_json(model_dir / "config.json");
  const io::TensorStore store = io::TensorStore::open(model_dir);
  const SourceStamps stamps(store);
  config["quantization_config"] = io::int_quantization_config(scheme);

  IntExportResult r;
  std::vector<Written> written;
  std::vector<std::string> order;
  for (const io::TensorEntry& e : io::tensor_map(cfg))
    if (store.find(e.name)) order.push_back(e.name);
  for (const auto& name : store.names())
    if (std::find(order.begin(), order.end(), name) == order.end()) order.push_back(name);

  io::CheckpointOptions co;
  co.max_shard_bytes = opt.max_shard_bytes;
  co.stop = opt.stop;
  co.replace_existing = opt.replace_existing;
  co.verify = [&](const fs::path& staged) {  // before the folder appears where the learner looks
    const auto t1 = Clock::now();
    progress.report(1.0, "re-reading the checkpoint");
    stamps.check_unchanged();
    reread_check(staged, store, m, written, scheme, opt.stop);
    r.seconds_check = since(t1);
  };
  const auto t0 = Clock::now();
  io::CheckpointWriter w(out_dir, co);
  std::size_t done = 0;
  for (const std::string& name : order) {
    check_cancel(opt.stop);
    progress.report(static_cast<double>(done++) / static_cast<double>(order.size()), fmt::format("writing {}", name));
    const io::TensorRef& t = store.at(name);
    r.source_bytes += t.bytes.size();
    const std::string module = module_of(name);
    auto q = linears.find(module);
    if (io::is_linear_weight(io::role_of(name)) && q != linears.end()) {
      for (io::IntPart& part : io::pack_int_linear(scheme, to_int_linear(q->second), module)) {
        r.linear_written_bytes += part.bytes.size();
        w.add(io::TensorHeader{module + "." + part.suffix, part.dtype, part.shape}, part.bytes);
      }
      r.linear_source_bytes += t.bytes.size();
      r.linear_weights += static_cast<std::uint64_t>(t.numel());
      ++r.quantized;
      written.push_back({name, true, {}});
      continue;
    }
    if (io::is_linear_weight(io::role_of(name)) && name.rfind("model.layers.", 0) == 0)
      fail("{}: '{}' has no quantization: every decoder Linear is written packed", model_dir.string(), module);
    ++r.kept;
    if (const std::vector<float>* held = held_vector(m, name)) {
      if (static_cast<std::int64_t>(held->size()) != t.numel())
        fail("{}: tensor '{}' has {} values, the model holds {}", t.file, name, t.numel(), held->size());
      std::vector<std::byte> bytes = in_dtype(*held, t.dtype, name);
      w.add(io::TensorHeader{name, t.dtype, t.shape}, bytes);
      written.push_back({name, false, std::move(bytes)});
      continue;
    }
    const io::TensorRef* src = &t;
    w.add(io::TensorHeader{name, t.dtype, t.shape}, [src](std::uint64_t offset, std::span<std::byte> chunk) {
      std::memcpy(chunk.data(), src->bytes.data() + offset, chunk.size());
    });
    written.push_back({name, false, {}});
  }
  w.write_json("config.json", config);
  if (scheme.layout == io::IntLayout::Gptq) w.write_json("quantize_config.json", io::gptq_quantize_config(scheme));
  for (const auto& p : copied_source_files(model_dir)) w.copy_file(p);
  stamps.check_unchanged();
  r.files = w.finish();
  r.seconds_write = since(t0) - r.seconds_check;
  return r;
}

}  // namespace qlab::exporter
