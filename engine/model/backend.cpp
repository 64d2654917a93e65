// What every backend does the same way unless it overrides it (backend.h).
#include "engine/model/backend.h"

#include <algorithm>
#include <vector>

#include "engine/formats/activation_qdq.h"
#include "engine/tensor/gram.h"

namespace qlab::model {

namespace {

void qdq_host(float* x, std::int64_t rows, std::int64_t cols, const ActivationQuant& a) {
  const std::span<float> v(x, static_cast<std::size_t>(rows * cols));
  if (a.kind == ActivationQuant::Kind::Nvfp4)
    formats::nvfp4_activation_qdq(v, cols, a.scale);
  else
    formats::fp8_activation_qdq(v, a.scale);
}

}  // namespace

void Backend::quantize_activations(float* x, std::int64_t rows, std::int64_t cols, const ActivationQuant& a) {
  if (!a) return;
  if (host_memory()) return qdq_host(x, rows, cols, a);
  thread_local std::vector<float> host;
  host.resize(static_cast<std::size_t>(rows * cols));
  download(x, rows * cols, host.data());
  qdq_host(host.data(), rows, cols, a);
  upload(host.data(), rows * cols, x);
}

void Backend::accumulate_gram(const float* x, std::int64_t rows, std::int64_t cols, float* g, bool accumulate) {
  const auto n = static_cast<std::size_t>(cols * cols);
  if (host_memory()) {
    if (!accumulate) std::fill_n(g, n, 0.0f);
    tensor::accumulate_gram_upper(x, rows, cols, g);
    return;
  }
  std::vector<float> hx(static_cast<std::size_t>(rows * cols)), hg(n, 0.0f);
  download(x, rows * cols, hx.data());
  if (accumulate) download(g, cols * cols, hg.data());
  tensor::accumulate_gram_upper(hx.data(), rows, cols, hg.data());
  upload(hg.data(), cols * cols, g);
}

}  // namespace qlab::model
