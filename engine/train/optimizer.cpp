#include "engine/train/optimizer.h"

#include <algorithm>
#include <cmath>

#include "engine/core/threads.h"

namespace qlab::train {

double Schedule::at(std::int64_t step) const {
  if (step < warmup) return lr * static_cast<double>(step + 1) / static_cast<double>(warmup);
  if (step >= total) return min_lr;
  const double progress = static_cast<double>(step - warmup) / static_cast<double>(std::max<std::int64_t>(1, total - warmup));
  return min_lr + 0.5 * (lr - min_lr) * (1.0 + std::cos(3.141592653589793 * progress));
}

void AdamW::step(TrainModel& model, const std::vector<float>& grads, double lr) {
  if (m.size() != model.values.size()) {
    m.assign(model.values.size(), 0.0f);
    v.assign(model.values.size(), 0.0f);
  }
  ++t;
  const float b1 = static_cast<float>(opt.beta1), b2 = static_cast<float>(opt.beta2);
  const float c1 = static_cast<float>(1.0 - std::pow(opt.beta1, static_cast<double>(t)));
  const float c2 = static_cast<float>(1.0 - std::pow(opt.beta2, static_cast<double>(t)));
  const float flr = static_cast<float>(lr), eps = static_cast<float>(opt.eps);
  for (const auto& tensor : model.tensors) {
    const float wd = tensor.decay ? static_cast<float>(opt.weight_decay) : 0.0f;
    float* w = model.values.data() + tensor.offset;
    const float* g = grads.data() + tensor.offset;
    float* mm = m.data() + tensor.offset;
    float* vv = v.data() + tensor.offset;
    parallel_for(
        tensor.size,
        [&](std::size_t b, std::size_t e) {
          for (std::size_t i = b; i < e; ++i) {
            mm[i] = b1 * mm[i] + (1.0f - b1) * g[i];
            vv[i] = b2 * vv[i] + (1.0f - b2) * g[i] * g[i];
            const float mh = mm[i] / c1, vh = vv[i] / c2;
            w[i] -= flr * (mh / (std::sqrt(vh) + eps) + wd * w[i]);
          }
        },
        16384);
  }
}

double grad_norm(const std::vector<float>& grads) {
  double s = 0;
  for (float g : grads) s += static_cast<double>(g) * g;
  return std::sqrt(s);
}

double clip_gradients(std::vector<float>& grads, double max_norm) {
  const double n = grad_norm(grads);
  if (max_norm > 0 && std::isfinite(n) && n > max_norm) {
    const float s = static_cast<float>(max_norm / n);
    for (float& g : grads) g *= s;
  }
  return n;
}

}  // namespace qlab::train
