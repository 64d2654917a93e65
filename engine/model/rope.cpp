#include "engine/model/rope.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "engine/core/error.h"

namespace qlab::model {

std::vector<float> rope_inv_freq(const io::RopeConfig& rope, int head_dim) {
  if (head_dim <= 0 || head_dim % 2 != 0) fail("rope: head_dim {} must be a positive even number", head_dim);
  const int half = head_dim / 2;
  std::vector<float> inv(static_cast<std::size_t>(half));
  // transformers computes these in float32: theta ** (float(2i) / d), then 1 / that.
  for (int i = 0; i < half; ++i) {
    const float expo = static_cast<float>(2 * i) / static_cast<float>(head_dim);
    const auto p = static_cast<float>(std::pow(rope.theta, static_cast<double>(expo)));
    inv[static_cast<std::size_t>(i)] = 1.0f / p;
  }
  if (!rope.freq_factors.empty()) {  // GGUF rope_freqs: llama.cpp divides each frequency by its factor
    if (rope.freq_factors.size() != inv.size())
      fail("rope: {} frequency factors for head_dim {} (it needs {})", rope.freq_factors.size(), head_dim, half);
    for (int i = 0; i < half; ++i) inv[static_cast<std::size_t>(i)] /= rope.freq_factors[static_cast<std::size_t>(i)];
  }
  if (rope.type == "default") return inv;
  if (rope.type == "linear") {
    if (!(rope.factor > 0)) fail("rope_scaling linear: factor {} must be positive", rope.factor);
    for (auto& f : inv) f = static_cast<float>(f / rope.factor);
    return inv;
  }
  if (rope.type == "llama3") {
    const double factor = rope.factor, lo = rope.low_freq_factor, hi = rope.high_freq_factor;
    const double old_ctx = rope.original_max_position_embeddings;
    if (!(factor > 0) || !(hi > lo) || !(old_ctx > 0))
      fail("rope_scaling llama3: need factor > 0, high_freq_factor > low_freq_factor, original_max_position_embeddings > 0");
    const double low_wavelen = old_ctx / lo, high_wavelen = old_ctx / hi;
    for (auto& f : inv) {
      const double freq = f;
      const double wavelen = 2 * std::numbers::pi / freq;
      double scaled = wavelen > low_wavelen ? freq / factor : freq;
      if (!(wavelen < high_wavelen) && !(wavelen > low_wavelen)) {
        const double smooth = (old_ctx / wavelen - lo) / (hi - lo);
        scaled = (1 - smooth) * scaled / factor + smooth * scaled;
      }
      f = static_cast<float>(scaled);
    }
    return inv;
  }
  fail("unsupported rope type '{}' (supported: default, linear, llama3)", rope.type);
}

Rope::Rope(const io::RopeConfig& rope, int head_dim, std::int64_t table_positions)
    : head_dim_(head_dim), inv_freq_(rope_inv_freq(rope, head_dim)) {
  const std::int64_t half = head_dim / 2;
  table_.resize(static_cast<std::size_t>(std::max<std::int64_t>(table_positions, 0) * head_dim));
  for (std::int64_t p = 0; p < table_positions; ++p)
    compute(p, table_.data() + p * head_dim, table_.data() + p * head_dim + half);
}

void Rope::cos_sin(std::int64_t pos, float* cs, float* sn) const {
  const std::int64_t half = head_dim_ / 2;
  if (pos >= 0 && (pos + 1) * head_dim_ <= static_cast<std::int64_t>(table_.size())) {
    std::copy_n(table_.data() + pos * head_dim_, half, cs);
    std::copy_n(table_.data() + pos * head_dim_ + half, half, sn);
    return;
  }
  compute(pos, cs, sn);
}

void Rope::compute(std::int64_t pos, float* cs, float* sn) const {
  const int half = head_dim_ / 2;
  for (int i = 0; i < half; ++i) {
    // The angle is one float32 product, as in transformers; cos/sin of it in double then rounded.
    const float ang = static_cast<float>(pos) * inv_freq_[static_cast<std::size_t>(i)];
    cs[i] = static_cast<float>(std::cos(static_cast<double>(ang)));
    sn[i] = static_cast<float>(std::sin(static_cast<double>(ang)));
  }
}

void Rope::rotate(float* x, int n_heads, const float* cs, const float* sn) const {
  const int half = head_dim_ / 2;
  for (int h = 0; h < n_heads; ++h) {
    float* v = x + static_cast<std::ptrdiff_t>(h) * head_dim_;
    for (int i = 0; i < half; ++i) {
      const float a = v[i], b = v[i + half];
      v[i] = a * cs[i] - b * sn[i];
      v[i + half] = b * cs[i] + a * sn[i];
    }
  }
}

void Rope::apply(float* x, int n_heads, std::int64_t pos) const {
  thread_local std::vector<float> cs, sn;
  cs.resize(static_cast<std::size_t>(head_dim_ / 2));
  sn.resize(cs.size());
  cos_sin(pos, cs.data(), sn.data());
  rotate(x, n_heads, cs.data(), sn.data());
}

}  // namespace qlab::model
