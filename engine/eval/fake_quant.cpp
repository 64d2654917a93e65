#include "engine/eval/fake_quant.h"

#include <fmt/format.h>

#include <algorithm>
#include <vector>

namespace qlab::eval {

FakeQuantStats fake_quantize_model(model::Model& m, const formats::BlockFormatSpec& spec, bool include_embeddings,
                                   Progress& progress, bool release_originals, std::stop_token stop) {
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
    check_cancel(stop);  // one matrix of an 8B model takes about a second: cancel is noticed per matrix
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
  if (include_embeddings && tied) w.lm_head = w.embed;
  return st;
}

}  // namespace qlab::eval
