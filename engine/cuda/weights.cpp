#include "engine/cuda/weights.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "engine/core/error.h"
#include "engine/cuda/check.h"
#include "engine/formats/block.h"

namespace qlab::cuda {

namespace {

constexpr int kSamples = 8;       // sampled windows of the host bytes per fingerprint
constexpr int kSampleBytes = 16;  // bytes per window

// The family of a packed format whose codec is the table's own (dequant.cu has its kernel); none
// for a format defined elsewhere.
bool family_of(const formats::BlockFormatSpec& spec, PackedFamily& f) {
  for (const auto& row : formats::all_block_formats()) {
    if (row.kind != spec.kind || row.codec != spec.codec) continue;
    switch (spec.kind) {
      case formats::BlockKind::NVFP4: f = PackedFamily::NVFP4; return true;
      case formats::BlockKind::MXFP4: f = PackedFamily::MXFP4; return true;
      case formats::BlockKind::NF4: f = PackedFamily::NF4; return true;
      case formats::BlockKind::NF4DQ: f = PackedFamily::NF4DQ; return true;
      case formats::BlockKind::IntGroup: f = PackedFamily::IntGroup; return spec.bits >= 2 && spec.bits <= 8;
      case formats::BlockKind::Int8Channel: f = PackedFamily::Int8Channel; return true;
      case formats::BlockKind::FP8Tensor: f = PackedFamily::FP8Tensor; return true;
      case formats::BlockKind::FP8Channel: f = PackedFamily::FP8Channel; return true;
      case formats::BlockKind::Ggml: return false;  // GGUF's ggml types: no kernel, dequantized once
    }
  }
  return false;
}

std::uint64_t elem_bytes(tensor::ElemType t) { return t == tensor::ElemType::F32 ? 4 : 2; }

// A packed weight with a kernel of its own: its parts can be read as they are stored.
bool family_known(const tensor::Matrix& w) {
  PackedFamily f{};
  return w.packed.spec && family_of(*w.packed.spec, f);
}

}  // namespace

WeightCache::Fingerprint WeightCache::fingerprint(const tensor::Matrix& w) {
  Fingerprint f;
  f.owner_ptr = w.owner.get();
  f.owner = w.owner;
  f.type = w.type;
  f.rows = w.rows;
  f.cols = w.cols;
  f.bytes = w.storage_bytes();
  // Samples of the element bytes (packed: of the codes, then of the scales).
  auto sample = [&](const std::uint8_t* p, std::uint64_t n) {
    if (n == 0 || !p) return;
    const std::uint64_t window = std::min<std::uint64_t>(kSampleBytes, n);
    for (int k = 0; k < kSamples; ++k) {
      const std::uint64_t at = (n - window) * static_cast<std::uint64_t>(k) / (kSamples - 1);
      f.samples.insert(f.samples.end(), p + at, p + at + window);
    }
  };
  if (w.type == tensor::ElemType::Packed) {
    sample(w.packed.data.data(), w.packed.data.size());
    sample(w.packed.scales.data(), w.packed.scales.size());
  } else {
    sample(static_cast<const std::uint8_t*>(w.data), static_cast<std::uint64_t>(w.rows * w.cols) * elem_bytes(w.type));
  }
  return f;
}

bool WeightCache::Fingerprint::matches(const tensor::Matrix& w, const Fingerprint& now) const {
  if (owner_ptr && owner.expired()) return false;  // the bytes it described are gone
  return owner_ptr == w.owner.get() && type == now.type && rows == now.rows && cols == now.cols &&
         bytes == now.bytes && samples == now.samples;
}

Buffer WeightCache::alloc(std::size_t bytes, const char* what) {
  Buffer b;
  while (!Buffer::try_make(bytes, what, b))
    if (!evict_for(bytes)) return Buffer(bytes, what);  // throws the out-of-memory error
  return b;
}

bool WeightCache::evict_for(std::size_t bytes) {
  std::size_t freed = 0;
  bool synced = false;
  while (freed < bytes) {
    auto victim = map_.end();
    for (auto it = map_.begin(); it != map_.end(); ++it)
      if (it->second.bytes > 0 && it->second.last_use < op_start_ &&
          (victim == map_.end() || it->second.last_use < victim->second.last_use))
        victim = it;
    if (victim == map_.end()) break;
    if (!synced) {
      // Kernels already queued may still read the copy.
      check(cudaDeviceSynchronize(), "waiting for the GPU before freeing weights");
      synced = true;
    }
    freed += victim->second.bytes;
    resident_ -= victim->second.bytes;
    map_.erase(victim);
  }
  return freed > 0;
}

std::uint64_t WeightCache::budget_from_environment() {
  const char* v = std::getenv("QLAB_CUDA_WEIGHT_BUDGET");
  if (!v || !*v) return 0;
  char* end = nullptr;
  const double gib = std::strtod(v, &end);
  if (end == v || *end != 0 || !(gib > 0) || gib > 1e6)
    fail("QLAB_CUDA_WEIGHT_BUDGET={}: expected the GiB of GPU memory the weights may take (a number > 0)", v);
  return static_cast<std::uint64_t>(gib * static_cast<double>(1ULL << 30));
}

WeightPlacement WeightCache::placement_from_environment() {
  const char* v = std::getenv("QLAB_CUDA_WEIGHTS");
  const std::string_view s = v ? v : "auto";
  if (s == "copy") return WeightPlacement::Copy;
  if (s == "host") return WeightPlacement::Host;
  if (s != "auto" && !s.empty()) fail("QLAB_CUDA_WEIGHTS={}: expected auto, copy or host", s);
  return WeightPlacement::Auto;
}

// Whether a weight of `bytes` is read where it lies in host memory: only when asked for (Host). Auto
// copies, and streams what does not fit, on every GPU for now: reading in place is meant to become
// auto's choice on a GPU that shares the host's memory (the GB10) once it has run on one.
bool WeightCache::read_in_place(std::uint64_t) const {
  if (placement_ != WeightPlacement::Host) return false;
  const DeviceInfo& d = probe();
  if (!d.pageable_access)
    fail("QLAB_CUDA_WEIGHTS=host: {} cannot read pageable host memory (its pageable-memory access is off); "
         "use auto or copy",
         d.name);
  return true;
}

WeightCache::Entry WeightCache::upload(const tensor::Matrix& w, bool demand, bool& placed) {
  Entry e;
  e.dw.rows = w.rows;
  e.dw.cols = w.cols;
  placed = false;
  std::vector<Part> parts;
  auto part = [&](const void* host, std::uint64_t n, const void** slot, const char* what) {
    if (n > 0) parts.push_back({host, n, slot, what});
  };
  switch (w.type) {
    case tensor::ElemType::F32: e.dw.type = WeightType::F32; break;
    case tensor::ElemType::F16: e.dw.type = WeightType::F16; break;
    case tensor::ElemType::BF16: e.dw.type = WeightType::BF16; break;
    case tensor::ElemType::Packed: e.dw.type = WeightType::Packed; break;
  }
  std::vector<float> f32;  // the float32 copy of a format without a kernel (uploaded from here)
  const void* scales = nullptr;
  const void* zeros = nullptr;
  const void* aux = nullptr;
  PackedFamily family{};
  if (w.type != tensor::ElemType::Packed) {
    part(w.data, static_cast<std::uint64_t>(w.rows * w.cols) * elem_bytes(w.type), &e.dw.data, "a weight's copy");
  } else if (!family_of(*w.packed.spec, family)) {
    // No kernel for this codec: its own dequantize, once, into a float32 copy.
    f32 = w.to_f32();
    e.dw.type = WeightType::F32;
    part(f32.data(), f32.size() * 4, &e.dw.data, "a weight's float32 copy");
  } else {
    const formats::QuantizedView& q = w.packed;
    e.dw.family = family;
    e.dw.pcols = q.cols;
    e.dw.bits = q.spec->bits;
    e.dw.group = q.spec->block_size > 0 ? q.spec->block_size : static_cast<int>(q.cols);
    e.dw.symmetric = q.spec->symmetric;
    e.dw.e5m2 = q.spec->e5m2;
    e.dw.tensor_scale = q.tensor_scales.empty() ? 0.0f : q.tensor_scales[0];
    part(q.data.data(), q.data.size(), &e.dw.data, "a packed weight's codes");
    part(q.scales.data(), q.scales.size(), &scales, "a packed weight's scales");
    part(q.zeros.data(), q.zeros.size(), &zeros, "a packed weight's zero points");
    part(q.aux.data(), q.aux.size(), &aux, "a packed weight's second-level scales");
  }
  std::uint64_t total = 0;
  for (const Part& p : parts) total += p.n;
  auto finish = [&] {
    e.dw.scales = static_cast<const std::uint8_t*>(scales);
    e.dw.zeros = static_cast<const std::uint8_t*>(zeros);
    e.dw.aux = static_cast<const std::uint8_t*>(aux);
    placed = true;
    return std::move(e);
  };
  // Read in place: the kernels get the host addresses (valid on the device with pageable access).
  if (f32.empty() && read_in_place(total)) {
    for (const Part& p : parts) *p.slot = p.host;
    e.in_place = total;
    return finish();
  }
  if (!f32.empty()) {
    // Uploaded from a vector about to go: copied (evicting others if need be), then waited for.
    copy_evicting(e, parts, total);
    check(cudaStreamSynchronize(Context::get().stream()), "copying a weight");
    return finish();
  }
  if (!ring_ && fits_budget(total) && copy_resident(e, parts, total)) return finish();
  // It does not fit: it streams through the ring (made, or regrown for a weight this large -- never
  // under an operation that already holds places in it, whose kernels would read a freed ring).
  if (ring_ && 4 * total > ring_->bytes() && ring_->in_use()) {
    if (!demand) return e;
    copy_evicting(e, parts, total);
    return finish();
  }
  if ((!ring_ || 4 * total > ring_->bytes()) && !make_ring(total) && !ring_) {
    if (!demand) return e;
    // No room even for a ring: as before streaming, least recently used copies make room.
    copy_evicting(e, parts, total);
    return finish();
  }
  if (copy_to_ring(e, parts, demand)) return finish();
  if (!demand) return e;
  // Every place in the ring is taken by the operation under way: this one weight gets a copy of its
  // own, evicting others if need be.
  copy_evicting(e, parts, total);
  return finish();
}

void WeightCache::copy_evicting(Entry& e, std::vector<Part>& parts, std::uint64_t total) {
  cudaStream_t s = Context::get().stream();
  for (const Part& p : parts) {
    e.parts.push_back(alloc(p.n, p.what));
    check(cudaMemcpyAsync(e.parts.back().get(), p.host, p.n, cudaMemcpyHostToDevice, s), p.what);
    *p.slot = e.parts.back().get();
  }
  e.bytes = total;
}

bool WeightCache::copy_resident(Entry& e, std::vector<Part>& parts, std::uint64_t total) {
  cudaStream_t s = Context::get().stream();
  for (const Part& p : parts) {
    Buffer b;
    if (!Buffer::try_make(p.n, p.what, b)) {
      e.parts.clear();  // nothing was queued that reads them: the copies are in stream order
      return false;
    }
    check(cudaMemcpyAsync(b.get(), p.host, p.n, cudaMemcpyHostToDevice, s), p.what);
    *p.slot = b.get();
    e.parts.push_back(std::move(b));
  }
  e.bytes = total;
  return true;
}

bool WeightCache::copy_to_ring(Entry& e, std::vector<Part>& parts, bool demand) {
  std::uint64_t span = 0;
  for (const Part& p : parts) span += WeightRing::aligned(p.n);
  std::vector<std::uint64_t> dropped;
  const std::uint64_t id = ++next_ring_id_;
  std::uint8_t* base = ring_->take(span, id, demand, dropped);
  drop_ring_entries(dropped);
  if (!base) return false;
  std::uint64_t off = 0;
  for (const Part& p : parts) {
    ring_->copy(base + off, p.host, p.n);
    *p.slot = base + off;
    off += WeightRing::aligned(p.n);
  }
  ring_->copied();
  e.ring = true;
  e.ring_id = id;
  return true;
}

bool WeightCache::make_ring(std::uint64_t weight_bytes) {
  // Four of the largest weight: two in use at once (gate and up), one copying ahead, and the room a
  // span lost at the ring's end costs. At least 512 MiB (several layers ahead), within the budget.
  constexpr std::uint64_t kMin = 512ULL << 20;
  const std::uint64_t floor = budget_ > 0 ? std::min(kMin, budget_ / 2) : kMin;
  const std::uint64_t want = WeightRing::aligned(std::max({4 * largest_, 4 * weight_bytes, floor}));
  drop_ring();
  for (;;) {
    Buffer b;
    // The ring alone may exceed a budget smaller than four weights: it is the least that streams.
    if ((fits_budget(want) || resident_ == 0) && Buffer::try_make(want, "the streamed weights' ring", b)) {
      ring_ = std::make_unique<WeightRing>(std::move(b));
      resident_ += want;
      return true;
    }
    if (!evict_for(want)) return false;
  }
}

void WeightCache::drop_ring_entries(const std::vector<std::uint64_t>& ids) {
  for (std::uint64_t id : ids) {
    auto k = ring_keys_.find(id);
    if (k == ring_keys_.end()) continue;
    auto it = map_.find(k->second);
    if (it != map_.end() && it->second.ring && it->second.ring_id == id) map_.erase(it);
    ring_keys_.erase(k);
  }
}

void WeightCache::drop_ring() {
  if (!ring_) return;
  std::vector<std::uint64_t> dropped;
  ring_->clear(dropped);
  drop_ring_entries(dropped);
  resident_ -= ring_->bytes();
  streamed_before_ += ring_->copied_bytes();
  ring_.reset();
}

void WeightCache::set_budget(std::uint64_t bytes) {
  budget_ = bytes;
  drop_ring();
  largest_ = 0;  // the ring is sized by the weights seen from now on
}

void WeightCache::begin_op() {
  if (ring_) {
    ring_->end_op(Context::get().stream());
    prefetch();
  }
  op_start_ = ++clock_;
}

// Copies into the ring, ahead of their use, the weights that came after the last one used the last
// time round, up to half the ring. Called as an operation starts, after the last one's kernels were
// queued: the host stages the copies while the GPU runs those.
void WeightCache::prefetch() {
  std::uint64_t ahead = 0;
  const void* k = last_key_;
  for (int i = 0; i < 64 && k; ++i) {
    auto nx = next_.find(k);
    if (nx == next_.end()) return;
    k = nx->second;
    if (k == last_key_) return;
    auto it = map_.find(k);
    if (it != map_.end()) continue;  // copied already (resident, or in the ring ahead)
    auto h = hosts_.find(k);
    if (h == hosts_.end()) return;
    std::shared_ptr<const void> alive = h->second.owner.lock();
    if (!alive) return;  // the model it belonged to is gone
    tensor::Matrix w = h->second.m;
    w.owner = std::move(alive);
    const std::uint64_t bytes = w.storage_bytes();
    ahead += bytes;
    if (ahead > ring_->bytes() / 2) return;
    bool placed = false;
    Entry e = upload(w, false, placed);
    if (!placed) return;
    e.fp = fingerprint(w);
    resident_ += e.bytes;
    in_place_ += e.in_place;
    ++uploads_;
    if (e.ring) ring_keys_[e.ring_id] = k;
    map_.emplace(k, std::move(e));
  }
}

const DeviceWeight& WeightCache::get(const tensor::Matrix& w) {
  const Fingerprint now = fingerprint(w);
  largest_ = std::max(largest_, now.bytes);
  if (ring_) {
    // The order of use, and the matrices, for copying ahead (weights owned by a model only).
    if (last_key_ && last_key_ != w.data) next_[last_key_] = w.data;
    if (w.owner) {
      HostWeight& h = hosts_[w.data];
      h.m = w;
      h.m.owner.reset();
      h.m.interleaved.reset();
      h.owner = w.owner;
    }
  }
  last_key_ = w.data;
  auto it = map_.find(w.data);
  if (it != map_.end() && !it->second.fp.matches(w, now)) {
    resident_ -= it->second.bytes;
    in_place_ -= it->second.in_place;
    // A copy of its own is freed: kernels queued may still read it. (A ring span is left to be
    // overwritten in its turn.)
    if (!it->second.parts.empty())
      check(cudaStreamSynchronize(Context::get().stream()), "replacing a stale weight copy");
    map_.erase(it);
    it = map_.end();
  }
  if (it == map_.end()) {
    bool placed = false;
    Entry e = upload(w, true, placed);
    e.fp = now;
    resident_ += e.bytes;
    in_place_ += e.in_place;
    ++uploads_;
    if (e.ring) ring_keys_[e.ring_id] = w.data;
    it = map_.emplace(w.data, std::move(e)).first;
  }
  if (it->second.ring) ring_->use(it->second.ring_id, Context::get().stream());
  it->second.last_use = ++clock_;
  return it->second.dw;
}

const float* WeightCache::vec(std::span<const float> v) {
  if (v.empty()) return nullptr;
  VecEntry& e = vecs_[v.data()];
  const std::size_t bytes = v.size() * 4;
  if (e.host.size() == v.size() && std::memcmp(e.host.data(), v.data(), bytes) == 0) return e.buf.as<float>();
  if (e.buf.bytes() != bytes) {
    check(cudaStreamSynchronize(Context::get().stream()), "replacing a vector's copy");
    e.buf = alloc(bytes, "a norm or bias vector");
  }
  e.host.assign(v.begin(), v.end());
  // From e.host (stable until the next change), in stream order after kernels that read the old values.
  check(cudaMemcpyAsync(e.buf.get(), e.host.data(), bytes, cudaMemcpyHostToDevice, Context::get().stream()),
        "copying a norm or bias vector");
  return e.buf.as<float>();
}

}  // namespace qlab::cuda
