// The trainer's backward pass against central finite differences of its forward pass, one
// parameter tensor at a time, on a tiny model (every tensor kind: embedding, norms, q/k/v/o with
// grouped-query attention, SwiGLU, lm_head untied and tied).
#include <gtest/gtest.h>

#include <cmath>

#include "engine/train/llama_train.h"
#include "engine/train/text_world.h"

namespace qlab::train {
namespace {

double loss_of(const TrainModel& m, const std::vector<std::int32_t>& tok, const std::vector<std::int32_t>& tgt,
               std::int64_t B, std::int64_t T) {
  Activations a(m, B, T);
  CastContext ctx;
  double counted = 0;
  for (auto t : tgt) counted += t >= 0 ? 1 : 0;
  return forward(m, a, tok.data(), tgt.data(), ctx) / counted;  // the mean over scored positions
}

void check_gradients(bool tied) {
  io::ModelConfig c = tiny_config(40);
  c.tie_word_embeddings = tied;
  TrainModel m = TrainModel::create(c);
  m.init(7);
  // Norm gains away from 1 and larger weights, so every path carries a visible gradient.
  WorldRng rng(11);
  for (auto& v : m.values) v *= 8.0f;
  for (const auto& t : m.tensors)
    if (t.shape.size() == 1)
      for (std::size_t i = 0; i < t.size; ++i) m.values[t.offset + i] = 0.5f + static_cast<float>(rng.uniform());
  const std::int64_t B = 2, T = 12;
  std::vector<std::int32_t> tok(B * T), tgt(B * T);
  for (auto& x : tok) x = static_cast<std::int32_t>(rng.below(40));
  for (auto& x : tgt) x = static_cast<std::int32_t>(rng.below(40));
  tgt[3] = -1;  // an ignored position

  Activations a(m, B, T);
  CastContext ctx;
  forward(m, a, tok.data(), tgt.data(), ctx);
  std::vector<float> grads;
  backward(m, a, ctx, grads);

  const float eps = 1e-2f;
  for (const auto& t : m.tensors) {
    // Directional derivative along a random unit direction within this tensor.
    std::vector<float> d(t.size);
    double norm = 0;
    for (auto& x : d) {
      x = static_cast<float>(rng.uniform() - 0.5);
      norm += static_cast<double>(x) * x;
    }
    double analytic = 0;
    for (std::size_t i = 0; i < t.size; ++i) {
      d[i] = static_cast<float>(d[i] / std::sqrt(norm));
      analytic += static_cast<double>(d[i]) * grads[t.offset + i];
    }
    TrainModel plus = m, minus = m;
    for (std::size_t i = 0; i < t.size; ++i) {
      plus.values[t.offset + i] += eps * d[i];
      minus.values[t.offset + i] -= eps * d[i];
    }
    const double numeric = (loss_of(plus, tok, tgt, B, T) - loss_of(minus, tok, tgt, B, T)) / (2.0 * eps);
    EXPECT_NEAR(analytic, numeric, 2e-2 * std::fabs(numeric) + 2e-4) << t.name << (tied ? " (tied)" : "");
    EXPECT_GT(std::fabs(numeric), 1e-4) << t.name << ": direction carries no gradient, the check proves nothing";

    // And the single largest entry of the gradient.
    std::size_t imax = 0;
    for (std::size_t i = 1; i < t.size; ++i)
      if (std::fabs(grads[t.offset + i]) > std::fabs(grads[t.offset + imax])) imax = i;
    TrainModel p1 = m, m1 = m;
    p1.values[t.offset + imax] += eps;
    m1.values[t.offset + imax] -= eps;
    const double num1 = (loss_of(p1, tok, tgt, B, T) - loss_of(m1, tok, tgt, B, T)) / (2.0 * eps);
    EXPECT_NEAR(grads[t.offset + imax], num1, 2e-2 * std::fabs(num1) + 2e-4) << t.name << "[" << imax << "]";
  }
}

TEST(TrainGradient, MatchesFiniteDifferencesUntied) { check_gradients(false); }
TEST(TrainGradient, MatchesFiniteDifferencesTied) { check_gradients(true); }

}  // namespace
}  // namespace qlab::train
