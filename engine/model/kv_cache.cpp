#include "engine/model/kv_cache.h"

#include "engine/core/error.h"
#include "engine/model/backend.h"

namespace qlab::model {

KVCache::KVCache(const io::ModelConfig& c, std::int64_t capacity, int layers, Backend& backend)
    : backend_(&backend), capacity_(capacity), layers_(layers == 0 ? c.num_hidden_layers : layers) {
  if (capacity < 0) fail("KV cache: capacity {} is negative", capacity);
  if (layers < 0 || layers > c.num_hidden_layers)
    fail("KV cache: {} layers asked of a model with {}", layers, c.num_hidden_layers);
  storage_ = backend.new_kv_storage(c, layers_, capacity);
}

void check_caches(const io::ModelConfig& c, std::span<KVCache* const> caches, std::int64_t T, bool all_layers) {
  for (KVCache* cache : caches) {
    if (&cache->backend() != &caches[0]->backend())
      fail("forward: the sequences' KV caches live on different backends ({} and {})", caches[0]->backend().name(),
           cache->backend().name());
    if (all_layers && cache->layers() != c.num_hidden_layers)
      fail("forward: a KV cache of {} layer(s) cannot run the model's {} layers", cache->layers(), c.num_hidden_layers);
    const std::int64_t pos0 = cache->size();
    if (pos0 + T > cache->capacity())
      fail("context full: {} tokens do not fit after {} cached ones (capacity {})", T, pos0, cache->capacity());
    // Sliding-window attention (Mistral v0.1, Qwen2 with use_sliding_window) is not applied. Inside
    // the window it equals full causal attention; past it the logits would silently differ, so refuse.
    if (c.sliding_window > 0 && pos0 + T > c.sliding_window)
      fail("this model attends over a sliding window of {} tokens, which the runtime does not apply; "
           "use a context of at most {} tokens",
           c.sliding_window, c.sliding_window);
  }
}

}  // namespace qlab::model
