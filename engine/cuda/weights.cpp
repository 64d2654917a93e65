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

WeightPlacement WeightCache::placement_from_environment() {
  const char* v = std::getenv("QLAB_CUDA_WEIGHTS");
  const std::string_view s = v ? v : "auto";
  if (s == "copy") return WeightPlacement::Copy;
  if (s == "host") return WeightPlacement::Host;
  if (s != "auto" && !s.empty()) fail("QLAB_CUDA_WEIGHTS={}: expected auto, copy or host", s);
  return WeightPlacement::Auto;
}

// Whether a weight of `bytes` is read where it lies in host memory. Auto does so only where it costs
// nothing (the GPU reads the same memory through the host's page tables) and the copy would not fit
// beside what is already there: the host's available memory (free_bytes counts it there) less a
// margin for the passes' own buffers.
bool WeightCache::read_in_place(std::uint64_t bytes) const {
  const DeviceInfo& d = probe();
  switch (placement_) {
    case WeightPlacement::Copy: return false;
    case WeightPlacement::Host:
      if (!d.pageable_access)
        fail("QLAB_CUDA_WEIGHTS=host: {} cannot read pageable host memory (its pageable-memory access is off); "
             "use auto or copy",
             d.name);
      return true;
    case WeightPlacement::Auto: break;
  }
  constexpr std::uint64_t kMargin = 2ULL << 30;
  return d.shares_host_memory && d.pageable_access && bytes + kMargin > free_bytes();
}

WeightCache::Entry WeightCache::upload(const tensor::Matrix& w) {
  Entry e;
  e.dw.rows = w.rows;
  e.dw.cols = w.cols;
  cudaStream_t s = Context::get().stream();
  // Read in place: the kernels get the host addresses (valid on the device with pageable access).
  const bool in_place = w.type != tensor::ElemType::Packed || family_known(w) ? read_in_place(w.storage_bytes()) : false;
  auto put = [&](const void* host, std::uint64_t n, const char* what) -> const void* {
    if (n == 0) return nullptr;
    if (in_place) {
      e.in_place += n;
      return host;
    }
    e.parts.push_back(alloc(n, what));
    check(cudaMemcpyAsync(e.parts.back().get(), host, n, cudaMemcpyHostToDevice, s), what);
    e.bytes += n;
    return e.parts.back().get();
  };
  switch (w.type) {
    case tensor::ElemType::F32: e.dw.type = WeightType::F32; break;
    case tensor::ElemType::F16: e.dw.type = WeightType::F16; break;
    case tensor::ElemType::BF16: e.dw.type = WeightType::BF16; break;
    case tensor::ElemType::Packed: e.dw.type = WeightType::Packed; break;
  }
  if (w.type != tensor::ElemType::Packed) {
    e.dw.data = put(w.data, static_cast<std::uint64_t>(w.rows * w.cols) * elem_bytes(w.type), "a weight's copy");
    return e;
  }
  const formats::QuantizedView& q = w.packed;
  PackedFamily family{};
  if (!family_of(*q.spec, family)) {
    // No kernel for this codec: its own dequantize, once, into a float32 copy.
    const std::vector<float> f32 = w.to_f32();
    e.dw.type = WeightType::F32;
    e.dw.data = put(f32.data(), f32.size() * 4, "a weight's float32 copy");
    s = Context::get().stream();
    check(cudaStreamSynchronize(s), "copying a weight");  // f32 goes out of scope
    return e;
  }
  e.dw.family = family;
  e.dw.pcols = q.cols;
  e.dw.bits = q.spec->bits;
  e.dw.group = q.spec->block_size > 0 ? q.spec->block_size : static_cast<int>(q.cols);
  e.dw.symmetric = q.spec->symmetric;
  e.dw.e5m2 = q.spec->e5m2;
  e.dw.tensor_scale = q.tensor_scales.empty() ? 0.0f : q.tensor_scales[0];
  e.dw.data = put(q.data.data(), q.data.size(), "a packed weight's codes");
  e.dw.scales = static_cast<const std::uint8_t*>(put(q.scales.data(), q.scales.size(), "a packed weight's scales"));
  e.dw.zeros = static_cast<const std::uint8_t*>(put(q.zeros.data(), q.zeros.size(), "a packed weight's zero points"));
  e.dw.aux = static_cast<const std::uint8_t*>(put(q.aux.data(), q.aux.size(), "a packed weight's second-level scales"));
  return e;
}

const DeviceWeight& WeightCache::get(const tensor::Matrix& w) {
  const Fingerprint now = fingerprint(w);
  auto it = map_.find(w.data);
  if (it != map_.end() && !it->second.fp.matches(w, now)) {
    resident_ -= it->second.bytes;
    in_place_ -= it->second.in_place;
    check(cudaStreamSynchronize(Context::get().stream()), "replacing a stale weight copy");
    map_.erase(it);
    it = map_.end();
  }
  if (it == map_.end()) {
    Entry e = upload(w);
    e.fp = now;
    resident_ += e.bytes;
    in_place_ += e.in_place;
    ++uploads_;
    it = map_.emplace(w.data, std::move(e)).first;
  }
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
