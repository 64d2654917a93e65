#include "engine/eval/fake_quant.h"

#include <fmt/format.h>

#include <algorithm>
#include <vector>

#include "engine/tensor/quantize_matrix.h"

namespace qlab::eval {

FakeQuantStats fake_quantize_model(model::Model& m, const formats::BlockFormatSpec& spec, bool include_embeddings,
                                   Progress& progress, bool release_originals, bool keep_packed) {
  model::Weights& w = m.mutable_weights();
  std::vector<tensor::Matrix*> targets;
  for (auto& l : w.layers)
    for (tensor::Matrix* t : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down}) targets.push_back(t);
  const bool tied = w.lm_head.data == w.embed.data;
  if (include_embeddings) {
    targets.push_back(&w.embed);
    if (!tied) targets.push_back(&w.lm_head);
  }
  FakeQuantStats st;
  // One matrix at a time: the format's own kernels use the thread pool, and peak memory stays at
  // one float32 copy in flight beyond the ones already replaced.
  for (std::size_t i = 0; i < targets.size(); ++i) {
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
  if (include_embeddings && tied) w.lm_head = w.embed;
  return st;
}

}  // namespace qlab::eval
