#pragma once
// Forward and backward of the Llama-family model for training, written out top to bottom in
// llama_train.cpp (embed -> per layer [RMSNorm -> q,k,v -> RoPE -> causal GQA attention -> o ->
// residual -> RMSNorm -> SwiGLU MLP -> residual] -> final RMSNorm -> lm_head -> cross-entropy).
//   LinearMeta      FP8 delayed-scaling state of one Linear: its input, weight and output gradient
//   CastContext     the precision of a pass, the FP8 states (one per Linear: 7 per layer, then
//                   lm_head), and the cast counts collected
//   Activations     everything the backward pass reads, for a batch of B sequences of T tokens
//   forward         returns the summed NLL over targets >= 0 (targets may be null: logits only)
//   backward        accumulates parameter gradients (after forward with the same batch)
// Low precision: each Linear's input and weight are cast (bf16, or e4m3 with scales) before the
// product, and its output gradient (bf16, or e5m2) before the two backward products; lm_head is
// kept in bf16 in the fp8 modes (as FP8 recipes keep the head in higher precision); attention
// score/value products, norms and the loss stay float32.
#include <cstdint>
#include <vector>

#include "engine/train/precision.h"
#include "engine/train/train_kernels.h"
#include "engine/train/train_model.h"

namespace qlab::train {

struct LinearMeta {
  ScaleMeta x, w, dy;
};

struct CastContext {
  Precision precision = Precision::FP32;
  std::vector<LinearMeta> metas;  // (7 * layers + 1) entries once a pass has run
  CastStats stats{};
  bool record_amax = true;        // false for evaluation passes: leave the scaling state alone
  // After a training step: new scales for the next step (delayed scaling).
  void update_scales(const DelayedScaling& recipe);
};

struct Activations {
  Activations(const TrainModel& m, std::int64_t B, std::int64_t T);
  std::int64_t B, T, N;
  RopeTable rope;
  struct Layer {
    std::vector<float> x_in, xn1, rstd1, q, k, v, P, att, x_mid, xn2, rstd2, g, u, a;
    std::vector<float> xq_c, xk_c, xv_c, att_c, xg_c, xu_c, a_c;  // cast inputs of each Linear
  };
  std::vector<Layer> layers;
  std::vector<float> x_out, rstd_f, xf, xf_c, logits;
  std::vector<float> w_cast;  // the cast weights of this step, same layout as the parameters
  std::vector<std::int32_t> tokens, targets;
};

double forward(const TrainModel& m, Activations& a, const std::int32_t* tokens, const std::int32_t* targets,
               CastContext& ctx);
// grads: same layout as m.values, accumulated into. Call after forward with targets; the loss
// is the mean NLL over counted targets.
void backward(const TrainModel& m, Activations& a, CastContext& ctx, std::vector<float>& grads);

}  // namespace qlab::train
