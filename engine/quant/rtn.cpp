#include "engine/quant/rtn.h"

#include <fmt/format.h>

#include <vector>

#include "engine/core/error.h"
#include "engine/quant/layer_linears.h"
#include "engine/tensor/quantize_matrix.h"

namespace qlab::quant {

namespace {

// The runtime's matrix for a tensor of the map, through the one binding of a layer's HF names to the
// runtime's fields (layer_linears.h); nullptr when the runtime holds no such matrix.
tensor::Matrix* runtime_matrix(model::Weights& w, const io::TensorEntry& t) {
  if (t.role == io::TensorRole::Embedding) return &w.embed;
  if (t.role == io::TensorRole::LmHead) return &w.lm_head;
  if (t.layer < 0 || static_cast<std::size_t>(t.layer) >= w.layers.size()) return nullptr;
  for (const LayerLinear& l : kLayerLinears)
    if (t.name == fmt::format("model.layers.{}.{}.weight", t.layer, l.name))
      return &(w.layers[static_cast<std::size_t>(t.layer)].*l.weight);
  return nullptr;
}

}  // namespace

FakeQuantStats fake_quantize_model(model::Model& m, const formats::BlockFormatSpec& spec, const io::QuantScope& scope,
                                   Progress& progress, bool release_originals, bool keep_packed, std::stop_token stop) {
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
    check_cancel(stop);
    tensor::Matrix& t = *targets[i];
    tensor::Matrix q = tensor::quantize_matrix(t, spec, keep_packed ? tensor::QuantizedStorage::Packed
                                                                    : tensor::QuantizedStorage::F32);
    st.weights += static_cast<double>(t.rows) * static_cast<double>(t.cols);
    if (release_originals) t.release_mapped_pages();
    t = std::move(q);
    ++st.matrices;
    progress.report(static_cast<double>(i + 1) / static_cast<double>(targets.size()),
                    fmt::format("quantizing {}/{}", i + 1, targets.size()));
  }
  // A tied lm_head is the embedding table (the map lists it once): it follows the quantized table.
  if (tied && io::quantized(io::TensorRole::Embedding, scope)) w.lm_head = w.embed;
  return st;
}

}  // namespace qlab::quant
