#pragma once
// The device ring that streams weights which do not fit (a model larger than the GPU, or than the
// weight budget): one buffer, filled front to back and round again, each weight a span of it.
//   take      a span for a weight, overwriting the oldest spans; refused (nothing changes) when that
//             would overwrite a span the current operation uses, whose kernels are not queued yet,
//             or, copying ahead, one copied ahead and not used yet
//   copy      host bytes into a span on the ring's own stream, so the copy of a later layer's weights
//             runs while the compute stream works on this one's. Through two pinned staging buffers
//             taken in turn: the pool's threads copy a piece of the weight into one while the other's
//             piece crosses the bus (a copy straight from pageable memory is one CPU thread's memcpy
//             into the driver's own staging, several times slower than the bus); pageable copies
//             where pinned memory cannot be had
//   use       the compute stream waits for the span's copy; the span is in use until end_op
//   end_op    records, on the compute stream, that the operation's kernels are done with its spans:
//             the copy stream waits for that before it overwrites them
// Ordering is all by events, never by waiting for the device, so copies and kernels overlap.
#include <cstdint>
#include <vector>

#include <cuda_runtime.h>

#include "engine/cuda/context.h"

namespace qlab::cuda {

class WeightRing {
 public:
  explicit WeightRing(Buffer buf);  // the ring's memory (its size is the ring's)
  ~WeightRing();
  WeightRing(const WeightRing&) = delete;
  WeightRing& operator=(const WeightRing&) = delete;

  std::size_t bytes() const { return buf_.bytes(); }
  // Spans are aligned to this, and so is every part placed in one.
  static constexpr std::size_t kAlign = 256;
  static std::size_t aligned(std::size_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

  // A span of n bytes for `key`, or nullptr; `dropped` gets the keys of the spans it overwrote.
  // demand: the weight is needed now (it may overwrite a span copied ahead and never used).
  std::uint8_t* take(std::size_t n, std::uint64_t key, bool demand, std::vector<std::uint64_t>& dropped);
  // Copies into the span last taken, on the ring's stream (host bytes pageable or pinned).
  void copy(std::uint8_t* dst, const void* host, std::size_t n);
  // Marks the end of the last taken span's copies.
  void copied();
  // The compute stream waits for key's copy; the span counts as in use until end_op.
  void use(std::uint64_t key, cudaStream_t compute);
  void end_op(cudaStream_t compute);
  // Waits for both streams and forgets every span (their keys in `dropped`).
  void clear(std::vector<std::uint64_t>& dropped);
  std::uint64_t copied_bytes() const { return copied_bytes_; }
  bool pinned() const { return stage_[0] != nullptr; }
  bool in_use() const;  // some span is used by the operation under way

 private:
  struct Span {
    std::size_t off = 0, len = 0;
    std::uint64_t key = 0;
    cudaEvent_t copy_done = nullptr, use_done = nullptr;
    bool in_use = false;   // used by the current operation: no use_done recorded since
    bool used = false;     // use_done has been recorded at least once
  };
  void release(Span& s);
  Span* find(std::uint64_t key);

  Buffer buf_;
  cudaStream_t stream_ = nullptr;
  std::vector<Span> spans_;  // in the order taken
  std::size_t head_ = 0;    // where the next span starts (before wrapping)
  std::uint64_t copied_bytes_ = 0;
  // Pinned staging: two pieces of stage_bytes_, each free again when its event has passed.
  void* stage_[2] = {nullptr, nullptr};
  cudaEvent_t stage_done_[2] = {nullptr, nullptr};
  std::size_t stage_bytes_ = 0;
  int next_stage_ = 0;
};

}  // namespace qlab::cuda
