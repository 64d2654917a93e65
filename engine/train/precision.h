#pragma once
// Low-precision training emulated on the CPU: the operands of each matrix product are rounded to
// the low-precision format (and back to float32), the product accumulates in float32, and master
// weights and optimizer state stay float32.
//   Precision      fp32 | bf16 | fp8 (TransformerEngine delayed scaling) | fp8-noscale
//   CastRole       weight / activation (forward, E4M3 in fp8) and gradient (backward, E5M2)
//   CastCounts     values cast, values that saturated (|x·scale| past the rounding boundary above
//                  the format's max, where only the clamp keeps them finite),
//                  values flushed to zero (x != 0 but the cast gives 0)
//   ScaleMeta      one FP8 tensor's delayed-scaling state: amax history and the scale in use
//   DelayedScaling the recipe's options: history length, margin, amax from "max" or "most_recent"
//   cast_into      out = decode(encode(x · scale)) / scale, counting; records amax for the meta
//   update_scale   after a step: TE's amax_and_scale_update (see the .cpp)
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace qlab::train {

enum class Precision { FP32, BF16, FP8, FP8NoScale };
std::string_view precision_name(Precision p);  // "fp32", "bf16", "fp8", "fp8-noscale"
std::optional<Precision> precision_from_name(std::string_view s);

enum class CastRole { Weight, Activation, Gradient };
inline constexpr int kCastRoles = 3;
std::string_view cast_role_name(CastRole r);  // "weights", "activations", "gradients"

struct CastCounts {
  std::uint64_t total = 0, saturated = 0, flushed = 0;
  CastCounts& operator+=(const CastCounts& o) {
    total += o.total;
    saturated += o.saturated;
    flushed += o.flushed;
    return *this;
  }
  double saturated_fraction() const { return total ? static_cast<double>(saturated) / static_cast<double>(total) : 0; }
  double flushed_fraction() const { return total ? static_cast<double>(flushed) / static_cast<double>(total) : 0; }
};
using CastStats = std::array<CastCounts, kCastRoles>;  // indexed by CastRole

struct DelayedScaling {
  int history_len = 16;     // TE's default is 1024; a short run needs a shorter window to follow the
                            // shrinking gradients (say which in reports)
  int margin = 0;           // scale = (fp8_max / 2^margin) / amax
  bool most_recent = false; // amax_compute_algo "most_recent" instead of "max"
};

struct ScaleMeta {
  float scale = 1.0f;             // multiplies x before the cast (TE convention); starts at 1
  float amax_now = 0.0f;          // max |x| of the tensor cast this step
  std::vector<float> history;     // past amaxes, newest last
};

// The format the role is cast to in this precision (nothing for fp32).
bool casts(Precision p);
// Casts n values of x into out (may alias). meta: FP8 scaling state (ignored for bf16); with
// fp8-noscale the scale is 1. Counts go to counts[role]. Multi-threaded over the array.
void cast_into(Precision p, CastRole role, const float* x, float* out, std::size_t n, ScaleMeta* meta,
               CastStats& counts);

// TE amax_and_scale_update: amax = max over the history with this step's amax (or that amax alone
// for most_recent); the history keeps the last history_len amaxes; new scale = (max/2^margin)/amax
// when amax is finite and > 0, else the previous scale; an infinite scale becomes FLT_MAX.
void update_scale(ScaleMeta& meta, CastRole role, const DelayedScaling& recipe);

}  // namespace qlab::train
