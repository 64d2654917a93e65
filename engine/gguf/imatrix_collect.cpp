// Importance-matrix statistics through the layer hook (see imatrix_collect.h).
#include "engine/gguf/imatrix_collect.h"

#include <array>
#include <vector>

#include <fmt/format.h>

#include "engine/core/error.h"
#include "engine/model/decoder_layer.h"
#include "engine/model/forward.h"

namespace qlab::gguf {

namespace {

// The GGUF tensors that take each Linear input.
std::vector<std::string> tensors_of(model::LinearInput which) {
  switch (which) {
    case model::LinearInput::QKV: return {"attn_q", "attn_k", "attn_v"};
    case model::LinearInput::O: return {"attn_output"};
    case model::LinearInput::GateUp: return {"ffn_gate", "ffn_up"};
    case model::LinearInput::Down: return {"ffn_down"};
  }
  return {};
}

struct Sums {
  std::vector<double> sq;  // per input column
  std::int64_t rows = 0;
};

}  // namespace

Imatrix compute_imatrix(const model::Model& m, std::span<const std::int32_t> tokens, const ImatrixOptions& o,
                        Progress& progress, std::stop_token stop) {
  const std::int64_t n_ctx = o.n_ctx;
  if (n_ctx < 2) fail("imatrix: the context must hold at least 2 tokens, not {}", n_ctx);
  const auto n_tokens = static_cast<std::int64_t>(tokens.size());
  if (n_tokens < 2 * n_ctx)
    fail("imatrix: the calibration text is {} tokens; a context of {} needs at least {}", n_tokens, n_ctx, 2 * n_ctx);
  std::int64_t n_chunk = n_tokens / n_ctx;
  if (o.max_chunks > 0) n_chunk = std::min(n_chunk, o.max_chunks);
  const auto n_layer = static_cast<std::size_t>(m.config().num_hidden_layers);
  // [layer][input kind]: one accumulator per shared input
  std::vector<std::array<Sums, 4>> acc(n_layer);
  const model::LayerHook hook = [&](const model::LinearInputView& v) {
    Sums& s = acc[static_cast<std::size_t>(v.layer)][static_cast<std::size_t>(v.which)];
    if (s.sq.empty()) s.sq.assign(static_cast<std::size_t>(v.cols), 0.0);
    for (std::int64_t r = 0; r < v.rows; ++r) {
      const float* x = v.host() + r * v.cols;
      for (std::int64_t j = 0; j < v.cols; ++j) s.sq[static_cast<std::size_t>(j)] += static_cast<double>(x[j]) * x[j];
    }
    s.rows += v.rows;
  };
  model::KVCache cache(m.config(), n_ctx, 0, o.backend ? *o.backend : model::cpu_backend());
  model::KVCache* caches[] = {&cache};
  std::vector<std::int32_t> chunk(static_cast<std::size_t>(n_ctx));
  for (std::int64_t c = 0; c < n_chunk; ++c) {
    check_cancel(stop);
    std::copy_n(tokens.begin() + c * n_ctx, n_ctx, chunk.begin());
    if (o.bos) chunk[0] = *o.bos;
    cache.clear();
    model::forward_batch(m, caches, chunk, 0, nullptr, hook);
    progress.report(static_cast<double>(c + 1) / static_cast<double>(n_chunk), fmt::format("chunk {}/{}", c + 1, n_chunk));
  }

  Imatrix out;
  out.datasets = {o.dataset};
  out.chunk_count = static_cast<std::uint32_t>(n_chunk);
  out.chunk_size = static_cast<std::uint32_t>(n_ctx);
  for (std::size_t l = 0; l < n_layer; ++l) {
    for (int k = 0; k < 4; ++k) {
      const Sums& s = acc[l][static_cast<std::size_t>(k)];
      if (s.sq.empty()) continue;
      for (const std::string& t : tensors_of(static_cast<model::LinearInput>(k))) {
        ImatrixEntry e;
        e.columns = static_cast<std::int64_t>(s.sq.size());
        e.sums.assign(s.sq.begin(), s.sq.end());
        e.counts = {static_cast<float>(s.rows)};
        out.entries[fmt::format("blk.{}.{}.weight", l, t)] = std::move(e);
      }
    }
  }
  return out;
}

}  // namespace qlab::gguf
