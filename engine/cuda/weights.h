#pragma once
// The device's copies of the weights a backend has been handed (tensor::Matrix in host memory), in
// their stored type: bf16 stays bf16, a packed block format stays packed (its parts as they are).
//   get(matrix)   the device copy, uploaded on first use. A copy is found by the host bytes' address
//                 and checked against the matrix: same type and shape, the owner (when the matrix
//                 owns its bytes) still alive, and the same bytes at a few sampled offsets -- so a
//                 model freed and another loaded at the same address is uploaded afresh, never
//                 served stale. (Weights are immutable while their storage lives: quantization
//                 makes new matrices.) A format whose codec has no kernel (a spec defined outside
//                 the table) is held as float32, dequantized once by its own codec.
//   vec(values)   small float vectors (norms, biases), checked by content on every use
//   eviction      when the GPU runs out of memory (a model larger than the GPU, or activations that
//                 need the room), the least recently used copies not needed by the current operation
//                 are freed and uploaded again when next used: a model of any size runs, streaming
//                 the weights that do not fit layer by layer (synchronously; see backend.h for the
//                 overlapped design)
//   placement     copied, or read in place from host memory where the GPU can read pageable
//                 memory (backend.h, WeightPlacement): an in-place entry points at the host bytes,
//                 takes no device memory and is never evicted for room
#include <cstdint>
#include <memory>
#include <span>
#include <unordered_map>
#include <vector>

#include "engine/cuda/backend.h"
#include "engine/cuda/context.h"
#include "engine/cuda/device_weight.h"
#include "engine/tensor/matrix.h"

namespace qlab::cuda {

class WeightCache {
 public:
  // Operations mark the start of their use of weights: copies used since are never evicted.
  void begin_op() { op_start_ = ++clock_; }
  const DeviceWeight& get(const tensor::Matrix& w);
  const float* vec(std::span<const float> v);
  // Frees least recently used copies (not used by the current operation) until `bytes` more would
  // fit, waiting for the device first. False when nothing could be freed.
  bool evict_for(std::size_t bytes);
  // A device buffer, evicting weights for room when the GPU is full; the out-of-memory Error when
  // even that does not make room.
  Buffer alloc(std::size_t bytes, const char* what);
  std::uint64_t resident_bytes() const { return resident_; }
  std::uint64_t uploads() const { return uploads_; }
  std::uint64_t in_place_bytes() const { return in_place_; }
  void set_placement(WeightPlacement p) { placement_ = p; }
  WeightPlacement placement() const { return placement_; }

 private:
  struct Fingerprint {
    const void* owner_ptr = nullptr;
    std::weak_ptr<const void> owner;
    tensor::ElemType type = tensor::ElemType::F32;
    std::int64_t rows = 0, cols = 0;
    std::uint64_t bytes = 0;
    std::vector<std::uint8_t> samples;
    bool matches(const tensor::Matrix& w, const Fingerprint& now) const;
  };
  struct Entry {
    DeviceWeight dw;
    std::vector<Buffer> parts;
    Fingerprint fp;
    std::uint64_t bytes = 0, last_use = 0;
    std::uint64_t in_place = 0;  // host bytes read where they lie (no device copy)
  };
  struct VecEntry {
    Buffer buf;
    std::vector<float> host;
  };
  static Fingerprint fingerprint(const tensor::Matrix& w);
  Entry upload(const tensor::Matrix& w);
  bool read_in_place(std::uint64_t bytes) const;
  static WeightPlacement placement_from_environment();

  std::unordered_map<const void*, Entry> map_;
  std::unordered_map<const float*, VecEntry> vecs_;
  std::uint64_t clock_ = 0, op_start_ = 0, resident_ = 0, uploads_ = 0, in_place_ = 0;
  WeightPlacement placement_ = placement_from_environment();
};

}  // namespace qlab::cuda
