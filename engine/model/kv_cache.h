#pragma once
// The keys and values a sequence has cached, in the memory of the backend that runs it.
//   KVStorage   the backend's own buffers and layout (the CPU's: keys transposed, see backend_cpu.cpp)
//   KVCache     one sequence's cache: every decoder layer of a model, or one layer (for running a
//               layer alone, layer by layer, as sequential calibration does); size() tokens so far
// A pass runs on the backend that holds its caches.
#include <cstdint>
#include <memory>
#include <span>

#include "engine/io/model_config.h"

namespace qlab::model {

class Backend;
Backend& cpu_backend();

struct KVStorage {
  virtual ~KVStorage() = default;
};

class KVCache {
 public:
  // layers = 0: one slot per decoder layer of the model; 1: a single slot, used by whichever layer
  // runs (run_decoder_layer). capacity: tokens it can hold.
  KVCache(const io::ModelConfig& c, std::int64_t capacity, int layers = 0, Backend& backend = cpu_backend());
  void clear() { size_ = 0; }
  std::int64_t size() const { return size_; }          // tokens cached so far = next position
  std::int64_t capacity() const { return capacity_; }
  int layers() const { return layers_; }
  // The slot that holds `layer`'s keys: the layer itself, or 0 in a one-layer cache.
  int slot(int layer) const { return layers_ == 1 ? 0 : layer; }
  void advance(std::int64_t n) { size_ += n; }
  Backend& backend() const { return *backend_; }
  KVStorage& storage() { return *storage_; }

 private:
  Backend* backend_;
  std::unique_ptr<KVStorage> storage_;
  std::int64_t capacity_ = 0, size_ = 0;
  int layers_ = 0;
};

// Throws the errors a pass of T new tokens per cache must give before it starts: a cache too full
// for them ("context full"), positions past a sliding window the runtime does not apply, caches on
// different backends, a one-layer cache asked to run a whole model.
void check_caches(const io::ModelConfig& c, std::span<KVCache* const> caches, std::int64_t T, bool all_layers);

}  // namespace qlab::model
