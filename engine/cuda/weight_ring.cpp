#include "engine/cuda/weight_ring.h"

#include <algorithm>
#include <cstring>

#include "engine/core/threads.h"
#include "engine/cuda/check.h"

namespace qlab::cuda {

WeightRing::WeightRing(Buffer buf) : buf_(std::move(buf)) {
  check(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "creating the weight copy stream");
  // Pieces of 32 MiB (an eighth of a small ring: a weight then crosses in several, as large ones do).
  stage_bytes_ = std::min<std::size_t>(32u << 20, std::max<std::size_t>(kAlign, buf_.bytes() / 8 / kAlign * kAlign));
  for (int i = 0; i < 2; ++i) {
    if (cudaMallocHost(&stage_[i], stage_bytes_) != cudaSuccess ||
        cudaEventCreateWithFlags(&stage_done_[i], cudaEventDisableTiming) != cudaSuccess) {
      cudaGetLastError();  // no pinned memory to be had: copies go from pageable memory
      for (int j = 0; j <= i; ++j) {
        if (stage_[j]) cudaFreeHost(stage_[j]);
        if (stage_done_[j]) cudaEventDestroy(stage_done_[j]);
        stage_[j] = nullptr;
        stage_done_[j] = nullptr;
      }
      break;
    }
  }
}

WeightRing::~WeightRing() {
  if (stream_) cudaStreamSynchronize(stream_);
  for (Span& s : spans_) release(s);
  for (int i = 0; i < 2; ++i) {
    if (stage_[i]) cudaFreeHost(stage_[i]);
    if (stage_done_[i]) cudaEventDestroy(stage_done_[i]);
  }
  if (stream_) cudaStreamDestroy(stream_);
}

void WeightRing::release(Span& s) {
  // An event still pending is released by the runtime once it completes.
  if (s.copy_done) cudaEventDestroy(s.copy_done);
  if (s.use_done) cudaEventDestroy(s.use_done);
  s.copy_done = s.use_done = nullptr;
}

WeightRing::Span* WeightRing::find(std::uint64_t key) {
  for (Span& s : spans_)
    if (s.key == key) return &s;
  return nullptr;
}

std::uint8_t* WeightRing::take(std::size_t n, std::uint64_t key, bool demand, std::vector<std::uint64_t>& dropped) {
  n = aligned(n);
  if (n == 0 || n > buf_.bytes()) return nullptr;
  const std::size_t off = head_ + n <= buf_.bytes() ? head_ : 0;
  auto overlaps = [&](const Span& s) { return s.off < off + n && off < s.off + s.len; };
  // A span whose kernels are not queued yet cannot be overwritten; nor, by a copy ahead, one copied
  // ahead and not used yet (its weight is about to be needed). A weight needed now may take the place
  // of one copied ahead on a guess that did not come true.
  for (const Span& s : spans_)
    if (overlaps(s) && (s.in_use || (!s.used && !demand))) return nullptr;
  for (Span& s : spans_) {
    if (!overlaps(s)) continue;
    // The copy into this place waits for the last kernel that read the old weight there (a span
    // never used has no kernel to wait for; its copy is earlier on this same stream).
    if (s.used)
      check(cudaStreamWaitEvent(stream_, s.use_done, 0), "ordering a weight copy after its place's last use");
    dropped.push_back(s.key);
    release(s);
  }
  spans_.erase(std::remove_if(spans_.begin(), spans_.end(), [](const Span& s) { return !s.copy_done; }),
               spans_.end());
  Span s;
  s.off = off;
  s.len = n;
  s.key = key;
  check(cudaEventCreateWithFlags(&s.copy_done, cudaEventDisableTiming), "creating a weight copy event");
  check(cudaEventCreateWithFlags(&s.use_done, cudaEventDisableTiming), "creating a weight use event");
  spans_.push_back(s);
  head_ = off + n;
  return buf_.as<std::uint8_t>() + off;
}

void WeightRing::copy(std::uint8_t* dst, const void* host, std::size_t n) {
  copied_bytes_ += n;
  if (!pinned()) {
    check(cudaMemcpyAsync(dst, host, n, cudaMemcpyHostToDevice, stream_), "copying a streamed weight");
    return;
  }
  const auto* src = static_cast<const std::uint8_t*>(host);
  for (std::size_t off = 0; off < n; off += stage_bytes_) {
    const std::size_t piece = std::min(stage_bytes_, n - off);
    const int c = next_stage_;
    next_stage_ ^= 1;
    // The piece this buffer held before has crossed (the other one may still be crossing).
    check(cudaEventSynchronize(stage_done_[c]), "waiting for a staging buffer");
    auto* stage = static_cast<std::uint8_t*>(stage_[c]);
    constexpr std::size_t kGrain = 1u << 20;
    parallel_for((piece + kGrain - 1) / kGrain, [&](std::size_t b, std::size_t e) {
      const std::size_t lo = b * kGrain, hi = std::min(piece, e * kGrain);
      std::memcpy(stage + lo, src + off + lo, hi - lo);
    });
    check(cudaMemcpyAsync(dst + off, stage, piece, cudaMemcpyHostToDevice, stream_), "copying a streamed weight");
    check(cudaEventRecord(stage_done_[c], stream_), "recording a staging copy");
  }
}

void WeightRing::copied() {
  check(cudaEventRecord(spans_.back().copy_done, stream_), "recording a weight copy");
}

void WeightRing::use(std::uint64_t key, cudaStream_t compute) {
  Span* s = find(key);
  if (!s) return;
  check(cudaStreamWaitEvent(compute, s->copy_done, 0), "waiting for a streamed weight's copy");
  s->in_use = true;
}

bool WeightRing::in_use() const {
  return std::any_of(spans_.begin(), spans_.end(), [](const Span& s) { return s.in_use; });
}

void WeightRing::end_op(cudaStream_t compute) {
  for (Span& s : spans_) {
    if (!s.in_use) continue;
    check(cudaEventRecord(s.use_done, compute), "recording a streamed weight's use");
    s.in_use = false;
    s.used = true;
  }
}

void WeightRing::clear(std::vector<std::uint64_t>& dropped) {
  check(cudaDeviceSynchronize(), "waiting for the GPU before dropping the streamed weights");
  for (Span& s : spans_) {
    dropped.push_back(s.key);
    release(s);
  }
  spans_.clear();
  head_ = 0;
}

}  // namespace qlab::cuda
