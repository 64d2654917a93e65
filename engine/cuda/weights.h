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
//   streaming     a weight that does not fit (GPU memory, or the weight budget: backend.h) goes
//                 through a ring on the device (weight_ring.h) instead of evicting others: copies
//                 made once stay, and those that did not fit are copied each pass into the ring,
//                 ahead of their use on a stream of their own (the order of use is learnt from the
//                 passes before: each weight's successor), while the kernels of the layers before
//                 run. A weight larger than a quarter of the ring regrows it.
//   eviction      when activations need room the GPU does not have, the least recently used copies
//                 not needed by the current operation are freed (then the ring) and uploaded again
//                 when next used
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
#include "engine/cuda/weight_ring.h"
#include "engine/tensor/matrix.h"

namespace qlab::cuda {

class WeightCache {
 public:
  // Operations mark the start of their use of weights: copies used since are never evicted. With
  // the ring in use this also marks the previous operation's streamed weights done (in stream order)
  // and copies the next ones ahead.
  void begin_op();
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
  std::uint64_t ring_bytes() const { return ring_ ? ring_->bytes() : 0; }
  bool ring_pinned() const { return ring_ && ring_->pinned(); }
  std::uint64_t streamed_bytes() const { return streamed_before_ + (ring_ ? ring_->copied_bytes() : 0); }
  void set_placement(WeightPlacement p) { placement_ = p; }
  WeightPlacement placement() const { return placement_; }
  // Bytes of device memory the weights may take, copies and ring together (0: all the GPU has).
  // A new budget drops the ring (waiting for the device): weights not yet copied are placed afresh.
  void set_budget(std::uint64_t bytes);
  std::uint64_t budget() const { return budget_; }

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
    bool ring = false;           // its parts lie in the ring (weight_ring.h), until overwritten
    std::uint64_t ring_id = 0;   // the ring span's key (an entry replaced at the same address has another)
  };
  // One part of a weight's storage as uploaded: the host bytes and where the device address goes.
  struct Part {
    const void* host;
    std::uint64_t n;
    const void** slot;
    const char* what;
  };
  struct VecEntry {
    Buffer buf;
    std::vector<float> host;
  };
  static Fingerprint fingerprint(const tensor::Matrix& w);
  Entry upload(const tensor::Matrix& w, bool demand, bool& placed);
  bool copy_resident(Entry& e, std::vector<Part>& parts, std::uint64_t total);  // false: no room
  void copy_evicting(Entry& e, std::vector<Part>& parts, std::uint64_t total);  // least recently used make room
  bool copy_to_ring(Entry& e, std::vector<Part>& parts, bool demand);
  bool make_ring(std::uint64_t weight_bytes);
  void drop_ring_entries(const std::vector<std::uint64_t>& ids);
  void drop_ring();  // waits for the device, forgets the ring's weights, frees it
  void prefetch();
  bool read_in_place(std::uint64_t bytes) const;
  bool fits_budget(std::uint64_t bytes) const { return budget_ == 0 || resident_ + bytes <= budget_; }
  static WeightPlacement placement_from_environment();
  static std::uint64_t budget_from_environment();

  std::unordered_map<const void*, Entry> map_;
  std::unordered_map<const float*, VecEntry> vecs_;
  std::uint64_t clock_ = 0, op_start_ = 0, resident_ = 0, uploads_ = 0, in_place_ = 0;
  WeightPlacement placement_ = placement_from_environment();
  std::uint64_t budget_ = budget_from_environment();
  // Streaming: the ring (made when the first weight does not fit), the largest weight seen (the ring
  // holds at least four), each weight's successor in the last pass and its matrix (owner dropped:
  // the fingerprint's weak owner says whether the bytes still live) to copy it ahead.
  std::unique_ptr<WeightRing> ring_;
  std::uint64_t largest_ = 0, streamed_before_ = 0;
  const void* last_key_ = nullptr;
  std::unordered_map<const void*, const void*> next_;
  struct HostWeight {
    tensor::Matrix m;  // owner and interleaved copy dropped
    std::weak_ptr<const void> owner;
  };
  std::unordered_map<const void*, HostWeight> hosts_;
  std::unordered_map<std::uint64_t, const void*> ring_keys_;  // span key -> the weight's address
  std::uint64_t next_ring_id_ = 0;
};

}  // namespace qlab::cuda
