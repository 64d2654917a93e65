#pragma once
// One decoder layer of a Llama-family model, and what calibration needs from it.
//   decoder_layer       the layer over the rows of a begun pass (forward_batch runs it per layer)
//   LayerHook           sees each Linear's input activations as the layer computes them: q/k/v share
//                       one input (the attention norm's output), o its own (attention's output),
//                       gate/up one (the MLP norm's output), down its own (SwiGLU's output). For GPTQ
//                       Hessians (X^T X), AWQ's per-channel mean |x|, amax for activation scales.
//   run_decoder_layer   one layer alone on given hidden states, with its own KV state: sequential
//                       (layer by layer) calibration runs layer l on the outputs of layers < l as
//                       already quantized, holding one layer's activations at a time
//   embed_tokens        the hidden states entering layer 0
#include <cstdint>
#include <functional>
#include <span>

#include "engine/model/backend.h"
#include "engine/model/kv_cache.h"
#include "engine/model/model.h"

namespace qlab::model {

// The input a group of Linears shares.
enum class LinearInput { QKV, O, GateUp, Down };
const char* linear_input_name(LinearInput which);  // "qkv", "o", "gate_up", "down"

// The activations stay where the pass computes them: a hook that reduces them on the backend (GPTQ's
// X^T X on a GPU, Backend::accumulate_gram) reads `data`; one that needs them on the host calls
// host(), which copies them there on a backend whose memory is not the host's (once per view).
struct LinearInputView {
  int layer = 0;
  LinearInput which = LinearInput::QKV;
  std::int64_t rows = 0;         // every row of the pass: B sequences x T tokens, sequence after sequence
  std::int64_t cols = 0;         // the Linears' in_features: H for QKV and GateUp, nh*hd for O, I for Down
  Backend* backend = nullptr;    // the backend running the pass
  const float* data = nullptr;   // [rows, cols] row-major, in the backend's memory (valid during the call)
  // data in host memory: data itself on a host-memory backend, else a copy (valid during the call).
  const float* host() const;

 private:
  mutable const float* host_ = nullptr;
};

// Called on the thread that runs the pass, layer by layer, in the order above, once per Linear input
// per layer. It may not change the activations, and may not run a pass itself (a pass's buffers are
// reused per thread): collect what it needs, and compute with it after the pass.
using LayerHook = std::function<void(const LinearInputView&)>;

// Decoder layer `layer` over the rows of pass p: p.x (the residual stream) in, p.x out; the new
// keys and values go to the layer's slot of each cache (advanced by the caller). Top to bottom:
//   h = RMSNorm(x); q, k, v = h Wq^T (+bq), ...; RoPE(q, k); cache k, v; att = attention(q, K, V);
//   x += att Wo^T; h = RMSNorm(x); x += (silu(h Wg^T) * h Wu^T) Wd^T
void decoder_layer(Backend& be, Pass& p, int layer, const LayerHook& hook);

// Runs decoder layer `layer` of m alone: x [B * T, H] holds B = caches.size() sequences of T hidden
// states each (sequence b's at positions caches[b]->size() ...) and is replaced by the layer's
// output. The keys and values go to each cache's slot for the layer (a cache made for one layer,
// KVCache(c, capacity, 1), holds them for whichever layer runs), and every cache advances by T.
// Same errors as forward() on a full cache or a sliding-window model run past its window.
void run_decoder_layer(const Model& m, int layer, std::span<KVCache* const> caches, float* x, std::int64_t T,
                       const LayerHook& hook = {});

// The embedding rows of `tokens`, [tokens.size(), H] into x: the input of layer 0.
void embed_tokens(const Model& m, std::span<const std::int32_t> tokens, float* x);

}  // namespace qlab::model
