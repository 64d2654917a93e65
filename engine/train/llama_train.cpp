#include "engine/train/llama_train.h"

#include <algorithm>
#include <cstring>

#include "engine/core/error.h"

namespace qlab::train {

namespace {

enum LinearSlot { kQ, kK, kV, kO, kGate, kUp, kDown, kSlots };

std::size_t sz(std::int64_t n) { return static_cast<std::size_t>(n); }

// The head stays bf16 in the fp8 modes.
Precision head_precision(Precision p) { return p == Precision::FP32 ? Precision::FP32 : p == Precision::FP8 || p == Precision::FP8NoScale ? Precision::BF16 : p; }

struct Dims {
  std::int64_t H, I, V, QD, KD, L;
  explicit Dims(const io::ModelConfig& c)
      : H(c.hidden_size), I(c.intermediate_size), V(c.vocab_size),
        QD(std::int64_t{c.num_attention_heads} * c.head_dim), KD(std::int64_t{c.num_key_value_heads} * c.head_dim),
        L(c.num_hidden_layers) {}
};

// The weight a product reads: the cast copy when casting, the master weights otherwise.
const float* weight(const TrainModel& m, const Activations& a, Precision p, std::size_t off) {
  return casts(p) ? a.w_cast.data() + off : m.at(off);
}

ScaleMeta* fp8_meta(CastContext& ctx, Precision p, int idx, ScaleMeta LinearMeta::*which) {
  if (p != Precision::FP8 && p != Precision::FP8NoScale) return nullptr;
  return &(ctx.metas[static_cast<std::size_t>(idx)].*which);
}

// y[N,out] = cast(x)[N,in] * W^T; the cast input is kept in x_c for the backward pass.
void linear_forward(CastContext& ctx, Precision p, int idx, const float* x, float* x_c, std::int64_t N,
                    std::int64_t in, const float* W, std::int64_t out, float* y) {
  const float* xin = x;
  if (casts(p)) {
    cast_into(p, CastRole::Activation, x, x_c, sz(N * in), fp8_meta(ctx, p, idx, &LinearMeta::x), ctx.stats);
    xin = x_c;
  }
  matmul_nt(N, out, in, xin, W, y);
}

// dy is cast in place; dx (+)= dy * W; dW += dy^T * x_c.
void linear_backward(CastContext& ctx, Precision p, int idx, float* dy, const float* x_c, std::int64_t N,
                     std::int64_t in, const float* W, std::int64_t out, float* dx, bool accumulate_dx, float* dW) {
  if (casts(p))
    cast_into(p, CastRole::Gradient, dy, dy, sz(N * out), fp8_meta(ctx, p, idx, &LinearMeta::dy), ctx.stats);
  matmul_nn(N, in, out, dy, W, dx, accumulate_dx);
  matmul_tn_acc(N, out, in, dy, x_c, dW);
}

void add_into(std::vector<float>& dst, const std::vector<float>& a, const std::vector<float>& b) {
  for (std::size_t i = 0; i < dst.size(); ++i) dst[i] = a[i] + b[i];
}

}  // namespace

void CastContext::update_scales(const DelayedScaling& recipe) {
  if (precision != Precision::FP8) {
    for (auto& m : metas) m.x.amax_now = m.w.amax_now = m.dy.amax_now = 0;
    return;
  }
  for (auto& m : metas) {
    update_scale(m.x, CastRole::Activation, recipe);
    update_scale(m.w, CastRole::Weight, recipe);
    update_scale(m.dy, CastRole::Gradient, recipe);
  }
}

Activations::Activations(const TrainModel& m, std::int64_t B_, std::int64_t T_)
    : B(B_), T(T_), N(B_ * T_), rope(T_, m.cfg.head_dim, m.cfg.rope.theta) {
  const Dims d(m.cfg);
  const std::size_t nH = sz(N * d.H), nI = sz(N * d.I), nQ = sz(N * d.QD), nK = sz(N * d.KD);
  layers.resize(sz(d.L));
  for (auto& l : layers) {
    for (auto* v : {&l.x_in, &l.xn1, &l.x_mid, &l.xn2, &l.xq_c, &l.xk_c, &l.xv_c, &l.xg_c, &l.xu_c}) v->resize(nH);
    for (auto* v : {&l.q, &l.att, &l.att_c}) v->resize(nQ);
    for (auto* v : {&l.k, &l.v}) v->resize(nK);
    for (auto* v : {&l.g, &l.u, &l.a, &l.a_c}) v->resize(nI);
    l.rstd1.resize(sz(N));
    l.rstd2.resize(sz(N));
    l.P.resize(sz(B * m.cfg.num_attention_heads * T * T));
  }
  for (auto* v : {&x_out, &xf, &xf_c}) v->resize(nH);
  rstd_f.resize(sz(N));
  logits.resize(sz(N * d.V));
  w_cast.resize(m.values.size());
  tokens.resize(sz(N));
  targets.resize(sz(N));
}

double forward(const TrainModel& m, Activations& a, const std::int32_t* tokens, const std::int32_t* targets,
               CastContext& ctx) {
  const io::ModelConfig& c = m.cfg;
  const Dims d(c);
  const std::int64_t N = a.N;
  const Precision p = ctx.precision, ph = head_precision(p);
  const float eps = static_cast<float>(c.rms_norm_eps);
  const AttnShape as{a.B, a.T, c.num_attention_heads, c.num_key_value_heads, c.head_dim};
  if (ctx.metas.size() != sz(d.L * kSlots + 1)) ctx.metas.assign(sz(d.L * kSlots + 1), LinearMeta{});
  std::vector<LinearMeta> saved;
  if (!ctx.record_amax) saved = ctx.metas;

  // Weights cast once per pass (their scale meta: the weight slot of each Linear).
  if (casts(p)) {
    for (std::int64_t l = 0; l < d.L; ++l) {
      const LayerParams& lp = m.layers[sz(l)];
      const std::size_t offs[kSlots] = {lp.wq, lp.wk, lp.wv, lp.wo, lp.w_gate, lp.w_up, lp.w_down};
      const std::int64_t sizes[kSlots] = {d.QD * d.H, d.KD * d.H, d.KD * d.H, d.H * d.QD,
                                          d.I * d.H,  d.I * d.H,  d.H * d.I};
      for (int j = 0; j < kSlots; ++j)
        cast_into(p, CastRole::Weight, m.at(offs[j]), a.w_cast.data() + offs[j], sz(sizes[j]),
                  fp8_meta(ctx, p, static_cast<int>(l * kSlots + j), &LinearMeta::w), ctx.stats);
    }
    cast_into(ph, CastRole::Weight, m.at(m.lm_head), a.w_cast.data() + m.lm_head, sz(d.V * d.H), nullptr, ctx.stats);
  }

  // Token embedding.
  std::copy(tokens, tokens + N, a.tokens.begin());
  for (std::int64_t n = 0; n < N; ++n) {
    const std::int32_t t = tokens[n];
    if (t < 0 || t >= d.V) fail("trainer: token id {} outside the vocabulary (size {})", t, d.V);
    std::memcpy(a.layers[0].x_in.data() + n * d.H, m.at(m.embed) + static_cast<std::int64_t>(t) * d.H,
                sz(d.H) * sizeof(float));
  }

  std::vector<float> tmp(sz(N * d.H)), tmp2(sz(N * d.H));
  for (std::int64_t l = 0; l < d.L; ++l) {
    auto& A = a.layers[sz(l)];
    const LayerParams& lp = m.layers[sz(l)];
    const int base = static_cast<int>(l * kSlots);
    // Attention block.
    rmsnorm_forward(N, d.H, A.x_in.data(), m.at(lp.attn_norm), eps, A.xn1.data(), A.rstd1.data());
    linear_forward(ctx, p, base + kQ, A.xn1.data(), A.xq_c.data(), N, d.H, weight(m, a, p, lp.wq), d.QD, A.q.data());
    linear_forward(ctx, p, base + kK, A.xn1.data(), A.xk_c.data(), N, d.H, weight(m, a, p, lp.wk), d.KD, A.k.data());
    linear_forward(ctx, p, base + kV, A.xn1.data(), A.xv_c.data(), N, d.H, weight(m, a, p, lp.wv), d.KD, A.v.data());
    rope_apply(a.rope, N, a.T, c.num_attention_heads, A.q.data(), false);
    rope_apply(a.rope, N, a.T, c.num_key_value_heads, A.k.data(), false);
    attention_forward(as, A.q.data(), A.k.data(), A.v.data(), A.P.data(), A.att.data());
    linear_forward(ctx, p, base + kO, A.att.data(), A.att_c.data(), N, d.QD, weight(m, a, p, lp.wo), d.H, tmp.data());
    add_into(A.x_mid, A.x_in, tmp);
    // MLP block.
    rmsnorm_forward(N, d.H, A.x_mid.data(), m.at(lp.mlp_norm), eps, A.xn2.data(), A.rstd2.data());
    linear_forward(ctx, p, base + kGate, A.xn2.data(), A.xg_c.data(), N, d.H, weight(m, a, p, lp.w_gate), d.I,
                   A.g.data());
    linear_forward(ctx, p, base + kUp, A.xn2.data(), A.xu_c.data(), N, d.H, weight(m, a, p, lp.w_up), d.I,
                   A.u.data());
    swiglu_forward(sz(N * d.I), A.g.data(), A.u.data(), A.a.data());
    linear_forward(ctx, p, base + kDown, A.a.data(), A.a_c.data(), N, d.I, weight(m, a, p, lp.w_down), d.H,
                   tmp2.data());
    std::vector<float>& next = l + 1 < d.L ? a.layers[sz(l + 1)].x_in : a.x_out;
    add_into(next, A.x_mid, tmp2);
  }

  // Final norm, head, loss.
  rmsnorm_forward(N, d.H, a.x_out.data(), m.at(m.final_norm), eps, a.xf.data(), a.rstd_f.data());
  linear_forward(ctx, ph, static_cast<int>(d.L * kSlots), a.xf.data(), a.xf_c.data(), N, d.H,
                 weight(m, a, ph, m.lm_head), d.V, a.logits.data());
  if (!ctx.record_amax) ctx.metas = std::move(saved);
  if (!targets) return 0.0;
  std::copy(targets, targets + N, a.targets.begin());
  std::vector<float> copy = a.logits;  // keep the logits; the loss pass below works on a copy
  std::int64_t counted = 0;
  return cross_entropy(N, d.V, copy.data(), targets, false, 0.0f, counted);
}

void backward(const TrainModel& m, Activations& a, CastContext& ctx, std::vector<float>& grads) {
  const io::ModelConfig& c = m.cfg;
  const Dims d(c);
  const std::int64_t N = a.N;
  const Precision p = ctx.precision, ph = head_precision(p);
  const AttnShape as{a.B, a.T, c.num_attention_heads, c.num_key_value_heads, c.head_dim};
  if (grads.size() != m.values.size()) grads.assign(m.values.size(), 0.0f);
  float* G = grads.data();

  // Loss -> dlogits (mean over counted targets).
  std::int64_t count = 0;
  for (auto t : a.targets) count += t >= 0 ? 1 : 0;
  if (count == 0) return;
  std::int64_t counted = 0;
  cross_entropy(N, d.V, a.logits.data(), a.targets.data(), true, 1.0f / static_cast<float>(count), counted);

  // Head and final norm.
  std::vector<float> dxf(sz(N * d.H)), dx(sz(N * d.H));
  linear_backward(ctx, ph, static_cast<int>(d.L * kSlots), a.logits.data(), casts(ph) ? a.xf_c.data() : a.xf.data(), N, d.H,
                  weight(m, a, ph, m.lm_head), d.V, dxf.data(), false, G + m.lm_head);
  rmsnorm_backward(N, d.H, a.x_out.data(), m.at(m.final_norm), a.rstd_f.data(), dxf.data(), dx.data(),
                   G + m.final_norm, false);

  std::vector<float> dy(sz(N * d.H)), dn(sz(N * d.H));
  std::vector<float> da(sz(N * d.I)), dg(sz(N * d.I)), du(sz(N * d.I));
  std::vector<float> datt(sz(N * d.QD)), dq(sz(N * d.QD)), dk(sz(N * d.KD)), dv(sz(N * d.KD));
  for (std::int64_t l = d.L - 1; l >= 0; --l) {
    auto& A = a.layers[sz(l)];
    const LayerParams& lp = m.layers[sz(l)];
    const int base = static_cast<int>(l * kSlots);
    // MLP block: x_next = x_mid + down(silu(gate(n2)) * up(n2)).
    dy = dx;
    linear_backward(ctx, p, base + kDown, dy.data(), casts(p) ? A.a_c.data() : A.a.data(), N, d.I,
                    weight(m, a, p, lp.w_down), d.H, da.data(), false, G + lp.w_down);
    swiglu_backward(sz(N * d.I), A.g.data(), A.u.data(), da.data(), dg.data(), du.data());
    linear_backward(ctx, p, base + kGate, dg.data(), casts(p) ? A.xg_c.data() : A.xn2.data(), N, d.H,
                    weight(m, a, p, lp.w_gate), d.I, dn.data(), false, G + lp.w_gate);
    linear_backward(ctx, p, base + kUp, du.data(), casts(p) ? A.xu_c.data() : A.xn2.data(), N, d.H,
                    weight(m, a, p, lp.w_up), d.I, dn.data(), true, G + lp.w_up);
    rmsnorm_backward(N, d.H, A.x_mid.data(), m.at(lp.mlp_norm), A.rstd2.data(), dn.data(), dx.data(),
                     G + lp.mlp_norm, true);
    // Attention block: x_mid = x_in + o(attention(rope(q(n1)), rope(k(n1)), v(n1))).
    dy = dx;
    linear_backward(ctx, p, base + kO, dy.data(), casts(p) ? A.att_c.data() : A.att.data(), N, d.QD,
                    weight(m, a, p, lp.wo), d.H, datt.data(), false, G + lp.wo);
    attention_backward(as, A.q.data(), A.k.data(), A.v.data(), A.P.data(), datt.data(), dq.data(), dk.data(),
                       dv.data());
    rope_apply(a.rope, N, a.T, c.num_attention_heads, dq.data(), true);
    rope_apply(a.rope, N, a.T, c.num_key_value_heads, dk.data(), true);
    linear_backward(ctx, p, base + kQ, dq.data(), casts(p) ? A.xq_c.data() : A.xn1.data(), N, d.H,
                    weight(m, a, p, lp.wq), d.QD, dn.data(), false, G + lp.wq);
    linear_backward(ctx, p, base + kK, dk.data(), casts(p) ? A.xk_c.data() : A.xn1.data(), N, d.H,
                    weight(m, a, p, lp.wk), d.KD, dn.data(), true, G + lp.wk);
    linear_backward(ctx, p, base + kV, dv.data(), casts(p) ? A.xv_c.data() : A.xn1.data(), N, d.H,
                    weight(m, a, p, lp.wv), d.KD, dn.data(), true, G + lp.wv);
    rmsnorm_backward(N, d.H, A.x_in.data(), m.at(lp.attn_norm), A.rstd1.data(), dn.data(), dx.data(),
                     G + lp.attn_norm, true);
  }

  // Token embedding (rows of the same token add up; one thread keeps it deterministic).
  for (std::int64_t n = 0; n < N; ++n) {
    float* ge = G + m.embed + static_cast<std::size_t>(a.tokens[sz(n)]) * sz(d.H);
    const float* g = dx.data() + n * d.H;
    for (std::int64_t i = 0; i < d.H; ++i) ge[i] += g[i];
  }
}

}  // namespace qlab::train
