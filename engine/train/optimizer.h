#pragma once
// AdamW with a warm-up + cosine learning-rate schedule and global gradient-norm clipping.
//   Schedule      lr(step): linear warm-up from lr/warmup to lr over `warmup` steps, then cosine
//                 decay to min_lr at `total` steps
//   AdamW         decoupled weight decay (Loshchilov & Hutter) on the tensors marked `decay`;
//                 bias-corrected moments; state m, v float32 beside the master weights
//   grad_norm / clip_gradients   L2 norm over every parameter (double accumulation)
#include <cstdint>
#include <vector>

#include "engine/train/train_model.h"

namespace qlab::train {

struct Schedule {
  double lr = 3e-3, min_lr = 3e-4;
  std::int64_t warmup = 50, total = 1000;
  double at(std::int64_t step) const;  // step counts from 0
};

struct AdamWOptions {
  double beta1 = 0.9, beta2 = 0.95, eps = 1e-8, weight_decay = 0.1;
};

struct AdamW {
  AdamWOptions opt;
  std::vector<float> m, v;
  std::int64_t t = 0;  // updates applied
  void step(TrainModel& model, const std::vector<float>& grads, double lr);
};

double grad_norm(const std::vector<float>& grads);
// Scales grads so their norm is at most max_norm; returns the norm before clipping.
double clip_gradients(std::vector<float>& grads, double max_norm);

}  // namespace qlab::train
