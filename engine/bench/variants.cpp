#include "engine/bench/variants.h"

#include <memory>
#include <vector>

#include <fmt/format.h>

#include "engine/core/error.h"
#include "engine/core/threads.h"
#include "engine/quant/rtn.h"
#include "engine/formats/format_lookup.h"
#include "engine/formats/scalar_fast.h"

namespace qlab::bench {

namespace {

const char* type_name(tensor::ElemType t) {
  switch (t) {
    case tensor::ElemType::F32: return "f32";
    case tensor::ElemType::F16: return "f16";
    case tensor::ElemType::BF16: return "bf16";
    case tensor::ElemType::Packed: return "packed";
  }
  return "?";
}

// w widened and stored again as `type` (round to nearest even), owned by the new matrix.
tensor::Matrix converted(const tensor::Matrix& w, tensor::ElemType type) {
  if (w.type == type) return w;
  const std::size_t n = static_cast<std::size_t>(w.rows * w.cols);
  tensor::Matrix m;
  m.type = type;
  m.rows = w.rows;
  m.cols = w.cols;
  m.math = w.math;
  const auto cols = static_cast<std::size_t>(w.cols);
  if (type == tensor::ElemType::F32) {
    std::vector<float> v(n);
    parallel_for(static_cast<std::size_t>(w.rows), [&](std::size_t b, std::size_t e) {
      w.rows_to_f32(static_cast<std::int64_t>(b), static_cast<std::int64_t>(e - b), v.data() + b * cols);
    }, 64);
    tensor::Matrix f = tensor::Matrix::owned_f32(std::move(v), w.rows, w.cols);
    f.math = w.math;
    return f;
  }
  auto held = std::make_shared<std::vector<std::uint16_t>>(n);
  parallel_for(static_cast<std::size_t>(w.rows), [&](std::size_t b, std::size_t e) {
    std::vector<float> row(cols);
    for (std::size_t r = b; r < e; ++r) {
      w.rows_to_f32(static_cast<std::int64_t>(r), 1, row.data());
      std::uint16_t* out = held->data() + r * cols;
      for (std::size_t k = 0; k < cols; ++k)
        out[k] = type == tensor::ElemType::BF16 ? formats::f32_to_bf16(row[k]) : formats::f32_to_f16(row[k]);
    }
  }, 64);
  m.data = held->data();
  m.owner = std::shared_ptr<const void>(held, held->data());
  return m;
}

}  // namespace

Variant make_variant(const model::Model& base, const std::string& name, Progress& progress) {
  Variant v{name, "", base};
  model::Weights& w = v.model.mutable_weights();
  if (name == "base") {
    v.storage = type_name(w.layers.empty() ? w.lm_head.type : w.layers[0].wq.type);
    return v;
  }
  if (name == "f32" || name == "f16" || name == "bf16") {
    const auto type = name == "f32" ? tensor::ElemType::F32 : name == "f16" ? tensor::ElemType::F16 : tensor::ElemType::BF16;
    const bool tied = w.lm_head.data == w.embed.data;
    std::size_t done = 0;
    const std::size_t total = w.layers.size() * 7 + 1;
    for (auto& l : w.layers)
      for (tensor::Matrix* t : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down}) {
        *t = converted(*t, type);
        progress.report(static_cast<double>(++done) / static_cast<double>(total), fmt::format("{} {}/{}", name, done, total));
      }
    w.lm_head = converted(w.lm_head, type);
    if (tied) w.embed = w.lm_head;
    v.storage = name;
    return v;
  }
  const auto spec = formats::block_format_from_name(name);
  if (!spec)
    fail("bench: variant '{}' is neither base, f32, f16, bf16 nor a block format (qlab formats list shows them)", name);
  quant::fake_quantize_model(v.model, *spec, {}, progress, false, true);
  v.storage = fmt::format("{}, packed", spec->name);
  return v;
}

std::uint64_t weight_bytes_per_token(const model::Model& m) {
  const model::Weights& w = m.weights();
  std::uint64_t bytes = w.lm_head.storage_bytes();
  if (w.embed.rows > 0) bytes += w.embed.storage_bytes() / static_cast<std::uint64_t>(w.embed.rows);
  for (const auto& l : w.layers)
    for (const tensor::Matrix* t : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down}) bytes += t->storage_bytes();
  return bytes;
}

}  // namespace qlab::bench
