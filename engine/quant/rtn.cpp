#include "engine/quant/rtn.h"

#include <fmt/format.h>

#include <algorithm>
#include <string_view>
#include <vector>

#include "engine/core/error.h"

namespace qlab::quant {

namespace {

// The runtime's matrix for a tensor of the map (the names model::Model::load reads); nullptr when the
// runtime holds no such matrix.
tensor::Matrix* runtime_matrix(model::Weights& w, const io::TensorEntry& t) {
  if (t.role == io::TensorRole::Embedding) return &w.embed;
  if (t.role == io::TensorRole::LmHead) return &w.lm_head;
  if (t.layer < 0 || static_cast<std::size_t>(t.layer) >= w.layers.size()) return nullptr;
  using L = model::LayerWeights;
  static constexpr std::pair<std::string_view, tensor::Matrix L::*> kLinears[] = {
      {".self_attn.q_proj.weight", &L::wq}, {".self_attn.k_proj.weight", &L::wk}, {".self_attn.v_proj.weight", &L::wv},
      {".self_attn.o_proj.weight", &L::wo}, {".mlp.gate_proj.weight", &L::w_gate}, {".mlp.up_proj.weight", &L::w_up},
      {".mlp.down_proj.weight", &L::w_down}};
  const std::string_view n = t.name;
  for (const auto& [suffix, field] : kLinears)
    if (n.size() > suffix.size() && n.substr(n.size() - suffix.size()) == suffix)
      return &(w.layers[static_cast<std::size_t>(t.layer)].*field);
  return nullptr;
}

}  // namespace

FakeQuantStats fake_quantize_model(model::Model& m, const formats::BlockFormatSpec& spec, const io::QuantScope& scope,
                                   Progress& progress, bool release_originals) {
  model::Weights& w = m.mutable_weights();
  const bool tied = w.lm_head.data == w.embed.data;
  std::vector<tensor::Matrix*> targets;
  for (const io::TensorEntry& t : io::tensor_map(m.config())) {
    if (!io::quantized(t.role, scope)) continue;
    tensor::Matrix* x = runtime_matrix(w, t);
    if (!x) fail("{}: the runtime holds no matrix {} to quantize", m.dir().string(), t.name);
    targets.push_back(x);
  }
  FakeQuantStats st;
  // One matrix at a time: the format's own kernels use the thread pool, and peak memory stays at
  // one float32 copy in flight beyond the ones already replaced.
  for (std::size_t i = 0; i < targets.size(); ++i) {
    tensor::Matrix& t = *targets[i];
    std::vector<float> v = t.to_f32();
    const std::int64_t pc = formats::padded_cols(spec, t.cols);
    if (pc == t.cols) {
      formats::fake_quantize(spec, v, t.rows, t.cols);
    } else {
      // Rows that do not fill whole blocks are zero-padded, as a checkpoint writer would pad them.
      std::vector<float> padded = formats::pad_columns(v, t.rows, t.cols, pc);
      formats::fake_quantize(spec, padded, t.rows, pc);
      for (std::int64_t r = 0; r < t.rows; ++r)
        std::copy_n(padded.begin() + r * pc, t.cols, v.begin() + r * t.cols);
    }
    st.weights += static_cast<double>(v.size());
    if (release_originals) t.release_mapped_pages();
    t = tensor::Matrix::owned_f32(std::move(v), t.rows, t.cols);
    ++st.matrices;
    progress.report(static_cast<double>(i + 1) / static_cast<double>(targets.size()),
                    fmt::format("quantizing {}/{}", i + 1, targets.size()));
  }
  // A tied lm_head is the embedding table (the map lists it once): it follows the quantized table.
  if (tied && io::quantized(io::TensorRole::Embedding, scope)) w.lm_head = w.embed;
  return st;
}

}  // namespace qlab::quant
