// Group-wise integer formats intB-gG and intB-gG-sym (block-formats.md section 4, number-formats.md 9):
// the rules are written out in block_params.h, whose int_group_* functions are the reference path
// here. The fast paths (four- and eight-lane kernels for int4) are tested bit for bit against them.
//   The scale is rounded to float16 first and the codes are computed with that stored value (as
//   GPTQ's packer does), so w^ = scale * (q - zero) is exactly what a checkpoint loader computes.
#include <algorithm>
#include <cmath>

#include "engine/core/error.h"
#include "engine/formats/block_kernels.h"
#include "engine/formats/block_params.h"
#include "engine/formats/block_simd.h"
#include "engine/formats/scalar.h"

namespace qlab::formats {

namespace {

using GroupParams = IntGroupParams;

// nearbyint for v >= 0 (or -0.0, kept) in the default rounding mode: below 2^23, adding 2^23 leaves
// the integer part rounded to nearest even; from 2^23 up every float is an integer. (std::nearbyint
// is a library call on baseline x86-64, and this runs once per group; the reference path keeps it.)
inline float round_nonnegative(float v) {
  return v > 0.0f && v < 8388608.0f ? (v + 8388608.0f) - 8388608.0f : v;
}

// The parameter rule of block_params.h; `fast` only swaps nearbyint for round_nonnegative (same value).
GroupParams params_from_range(int bits, bool symmetric, float xmin, float xmax, float amax, bool fast) {
  const float maxq = static_cast<float>((1 << bits) - 1);
  float scale32;
  if (symmetric) {
    scale32 = amax > 0.0f ? amax / static_cast<float>((1 << (bits - 1)) - 1) : 1.0f;
    xmax = amax;
  } else {
    if (xmin == 0.0f && xmax == 0.0f) {
      xmin = -1.0f;
      xmax = 1.0f;
    }
    scale32 = (xmax - xmin) / maxq;
  }
  GroupParams p;
  p.scale_f16 = f32_to_f16(scale32);
  p.scale = f16_to_f32(p.scale_f16);
  p.overflow = std::isinf(p.scale);  // reported by the caller (no throwing inside the SIMD kernels)
  p.group_max = xmax;
  if (symmetric) {
    const float half = static_cast<float>(1 << (bits - 1));
    p.zero = half;
    p.lo = -half;
    p.hi = half - 1.0f;
  } else {
    const float z = -xmin / p.scale;
    p.zero = p.scale == 0.0f ? 0.0f : std::clamp(fast ? round_nonnegative(z) : std::nearbyint(z), 0.0f, maxq);
    p.lo = -p.zero;
    p.hi = maxq - p.zero;
  }
  if (p.scale == 0.0f) p.lo = p.hi = 0.0f;
  return p;
}

GroupParams params_of_values(int bits, bool symmetric, const float* w, std::int64_t n, bool fast) {
  float xmin = 0.0f, xmax = 0.0f, amax = 0.0f;
  for (std::int64_t i = 0; i < n; ++i) {
    xmin = w[i] < xmin ? w[i] : xmin;
    xmax = w[i] > xmax ? w[i] : xmax;
    amax = std::max(amax, std::fabs(w[i]));
  }
  return params_from_range(bits, symmetric, xmin, xmax, amax, fast);
}

}  // namespace

IntGroupParams int_group_params_from_range(int bits, bool symmetric, float xmin, float xmax, float amax) {
  return params_from_range(bits, symmetric, xmin, xmax, amax, false);
}

IntGroupParams int_group_params(int bits, bool symmetric, std::span<const float> values) {
  return params_of_values(bits, symmetric, values.data(), static_cast<std::int64_t>(values.size()), false);
}

std::uint8_t int_group_encode(float x, const IntGroupParams& p) {
  float q = p.scale == 0.0f ? 0.0f : std::nearbyint(x / p.scale);
  q = std::clamp(q + p.zero, p.lo + p.zero, p.hi + p.zero);
  return static_cast<std::uint8_t>(q);
}

}  // namespace qlab::formats

namespace qlab::formats::detail {

namespace {

[[noreturn]] void fail_overflow(const BlockFormatSpec& spec, const GroupParams& p, std::int64_t row,
                                std::int64_t group) {
  fail("{}: row {} group {} reaches {}; its scale does not fit float16 (max 65504)", spec.name, row, group,
       p.group_max);
}

// int4 with groups of a multiple of 16, on four-lane vectors: one pass for the range (and the
// non-finite check), one for the codes, packed straight into the row's nibbles. Returns false if
// the group holds a NaN or an infinity.
QLAB_SIMD_KERNEL
bool quantize_group4_simd(const BlockFormatSpec& spec, const float* w, std::int64_t g, std::uint8_t* out,
                          GroupParams& p) {
  using namespace simd;
  f4 mn = {0, 0, 0, 0}, mx = {0, 0, 0, 0};
  i4 am = {0, 0, 0, 0};
  for (std::int64_t c = 0; c < g; c += 16) {
    f4 v[4];
    load_pairs16(w + c, v);
    for (int j = 0; j < 4; ++j) {
      mn = v[j] < mn ? v[j] : mn;
      mx = v[j] > mx ? v[j] : mx;
      am = max4(am, abs_bits(v[j]));
    }
  }
  const std::uint32_t amax = hmax(am);
  if (!bits_finite(amax)) return false;
  float xmin = std::min(std::min(mn[0], mn[1]), std::min(mn[2], mn[3]));
  float xmax = std::max(std::max(mx[0], mx[1]), std::max(mx[2], mx[3]));
  p = params_from_range(spec.bits, spec.symmetric, xmin, xmax, bits_f32(amax), true);
  if (p.overflow) return true;
  const float sc = p.scale == 0.0f ? 1.0f : p.scale;
  const f4 s = {sc, sc, sc, sc}, lo = {p.lo, p.lo, p.lo, p.lo}, hi = {p.hi, p.hi, p.hi, p.hi};
  const f4 zero = {p.zero, p.zero, p.zero, p.zero};
  constexpr float kMagic = 12582912.0f;  // 1.5 * 2^23: (v + M) - M rounds to nearest even
  for (std::int64_t c = 0; c < g; c += 16) {
    f4 v[4];
    load_pairs16(w + c, v);
    i4 codes[4];
    for (int j = 0; j < 4; ++j) {
      f4 t = v[j] / s;
      t = t < lo ? lo : t;
      t = t > hi ? hi : t;
      t = ((t + kMagic) - kMagic) + zero;
      codes[j] = __builtin_convertvector(t, i4);
    }
    pack_pairs16(codes, out + c / 2);
  }
  return true;
}

// Groups of a multiple of 32, eight lanes wide, a row at a time in three sweeps: every group's
// range (plain contiguous loads), every group's parameters (scalar, independent of each other),
// then the codes (32 elements in pair order -> 16 bytes). The sweeps keep the range -> scale ->
// codes chain of one group from stalling the next; the row is still in cache for the last one.
// A row's groups, structure of arrays: ranges in, then parameters out (params_from_range's fields).
struct RowGroups {
  std::vector<float> xmin, xmax, amax, scale, zero, lo, hi;
  std::vector<std::uint16_t> scale16;
  explicit RowGroups(std::size_t n) : xmin(n), xmax(n), amax(n), scale(n), zero(n), lo(n), hi(n), scale16(n) {}
};

// Returns false if the row holds a NaN or an infinity.
QLAB_SIMD_KERNEL
bool group_ranges8(const float* row, std::int64_t g, std::int64_t groups, RowGroups& out) {
  using namespace simd;
  i8v all = {};
  for (std::int64_t k = 0; k < groups; ++k) {
    const float* w = row + k * g;
    f8 mn = {}, mx = {};
    i8v am = {};
    for (std::int64_t c = 0; c < g; c += 8) {
      f8 v;
      load8(w + c, v);
      mn = v < mn ? v : mn;
      mx = v > mx ? v : mx;
      am = max8(am, abs_bits8(v));
    }
    all = max8(all, am);
    // lanes hold values <= 0 (mn) and >= 0 (mx), so any order of reduction gives the same floats
    f8 a = __builtin_shufflevector(mn, mn, 4, 5, 6, 7, 0, 1, 2, 3), b = __builtin_shufflevector(mx, mx, 4, 5, 6, 7, 0, 1, 2, 3);
    mn = a < mn ? a : mn;
    mx = b > mx ? b : mx;
    a = __builtin_shufflevector(mn, mn, 2, 3, 0, 1, 2, 3, 0, 1);
    b = __builtin_shufflevector(mx, mx, 2, 3, 0, 1, 2, 3, 0, 1);
    mn = a < mn ? a : mn;
    mx = b > mx ? b : mx;
    const auto i = static_cast<std::size_t>(k);
    out.xmin[i] = mn[1] < mn[0] ? mn[1] : mn[0];
    out.xmax[i] = mx[1] > mx[0] ? mx[1] : mx[0];
    out.amax[i] = bits_f32(hmax8(am));
  }
  return bits_finite(hmax8(all));
}

// params_from_range (fast path) for all of a row's groups, in a loop of its own so the scalar
// chains of neighbouring groups overlap. Throws for a group whose float16 scale overflows.
void group_params_row(const BlockFormatSpec& spec, std::int64_t row, std::int64_t groups, RowGroups& rg) {
  for (std::int64_t k = 0; k < groups; ++k) {
    const auto i = static_cast<std::size_t>(k);
    const GroupParams p = params_from_range(spec.bits, spec.symmetric, rg.xmin[i], rg.xmax[i], rg.amax[i], true);
    if (p.overflow) fail_overflow(spec, p, row, k);
    rg.scale16[i] = p.scale_f16;
    rg.scale[i] = p.scale;
    rg.zero[i] = p.zero;
    rg.lo[i] = p.lo;
    rg.hi[i] = p.hi;
  }
}

QLAB_SIMD_KERNEL
void group_codes8(const float* row, std::int64_t g, std::int64_t groups, const RowGroups& rg, std::uint8_t* out) {
  using namespace simd;
  for (std::int64_t k = 0; k < groups; ++k) {
    const auto i = static_cast<std::size_t>(k);
    const float* w = row + k * g;
    const f8 s = splat8(rg.scale[i] == 0.0f ? 1.0f : rg.scale[i]), lo = splat8(rg.lo[i]), hi = splat8(rg.hi[i]);
    // t + M (M = 1.5 * 2^23) rounds t in [-16, 16] to an integer, nearest even, and its bits are
    // bits(M) + that integer: one subtraction then gives the code, zero point included.
    const f8 magic = splat8(12582912.0f);
    const std::int32_t offset = 0x4B400000 - static_cast<std::int32_t>(rg.zero[i]);
    const i8v off = {offset, offset, offset, offset, offset, offset, offset, offset};
    for (std::int64_t c = 0; c < g; c += 32) {
      f8 v[4];
      load_pairs32(w + c, v);
      i8v codes[4];
      for (int j = 0; j < 4; ++j) {
        f8 t = v[j] / s;
        t = t < lo ? lo : t;
        t = t > hi ? hi : t;
        codes[j] = (i8v)(t + magic) - off;
      }
      pack_pairs32(codes, out + (k * g + c) / 2);
    }
  }
}

// RNE of a float already clamped to a small range: adding and removing 1.5 * 2^23 leaves the
// integer part rounded to nearest even (the FPU's default rounding), and vectorizes where
// nearbyint does not.
inline float round_small(float v) {
  constexpr float kMagic = 12582912.0f;
  return (v + kMagic) - kMagic;
}

void quantize_group_fast(const float* w, std::int64_t n, const GroupParams& p, std::uint8_t* codes) {
  const float s = p.scale == 0.0f ? 1.0f : p.scale;
  for (std::int64_t i = 0; i < n; ++i) {
    float v = w[i] / s;
    v = v < p.lo ? p.lo : v;
    v = v > p.hi ? p.hi : v;
    codes[i] = static_cast<std::uint8_t>(static_cast<std::int32_t>(round_small(v) + p.zero));
  }
}

}  // namespace

void quantize_int_group(const BlockFormatSpec& spec, std::span<const float> x, QuantizedTensor& q,
                        KernelPath path) {
  const std::int64_t rows = q.rows, cols = q.cols;
  const std::int64_t g = spec.block_size > 0 ? spec.block_size : cols;
  const std::int64_t groups = cols / g;
  const std::int64_t row_bytes = packed_row_bytes(cols, spec.bits);
  const std::int64_t zero_row_bytes = packed_row_bytes(groups, spec.bits);
  q.data.assign(static_cast<std::size_t>(rows * row_bytes), 0);
  q.scales.assign(static_cast<std::size_t>(rows * groups * 2), 0);
  if (!spec.symmetric) q.zeros.assign(static_cast<std::size_t>(rows * zero_row_bytes), 0);
  const bool simd4 = path == KernelPath::Fast && spec.bits == 4 && g % 16 == 0;
  const bool simd8 = simd4 && g % 32 == 0;
  for_rows(rows, cols, path, [&](std::int64_t r0, std::int64_t r1) {
    std::vector<std::uint8_t> codes(simd4 ? 0 : static_cast<std::size_t>(cols)), zeros(static_cast<std::size_t>(groups));
    RowGroups rg(simd8 ? static_cast<std::size_t>(groups) : 0);
    for (std::int64_t r = r0; r < r1; ++r) {
      const float* row = x.data() + r * cols;
      if (simd8) {
        if (!group_ranges8(row, g, groups, rg)) fail_non_finite(spec.name, x, r, cols);
        group_params_row(spec, r, groups, rg);
        for (std::int64_t k = 0; k < groups; ++k) {
          const auto i = static_cast<std::size_t>(k);
          store_u16(q.scales.data() + (r * groups + k) * 2, rg.scale16[i]);
          zeros[i] = static_cast<std::uint8_t>(rg.zero[i]);
        }
        group_codes8(row, g, groups, rg, q.data.data() + r * row_bytes);
        if (!spec.symmetric) pack_bits(zeros.data(), groups, spec.bits, q.zeros.data() + r * zero_row_bytes);
        continue;
      }
      if (simd4) {
        for (std::int64_t k = 0; k < groups; ++k) {
          GroupParams p;
          if (!quantize_group4_simd(spec, row + k * g, g, q.data.data() + r * row_bytes + k * g / 2, p))
            fail_non_finite(spec.name, x, r, cols);
          if (p.overflow) fail_overflow(spec, p, r, k);
          store_u16(q.scales.data() + (r * groups + k) * 2, p.scale_f16);
          zeros[static_cast<std::size_t>(k)] = static_cast<std::uint8_t>(p.zero);
        }
        if (!spec.symmetric) pack_bits(zeros.data(), groups, spec.bits, q.zeros.data() + r * zero_row_bytes);
        continue;
      }
      if (!bits_finite(amax_bits(row, cols))) fail_non_finite(spec.name, x, r, cols);
      const bool reference = path == KernelPath::Reference;
      for (std::int64_t k = 0; k < groups; ++k) {
        const GroupParams p = params_of_values(spec.bits, spec.symmetric, row + k * g, g, !reference);
        if (p.overflow) fail_overflow(spec, p, r, k);
        if (reference) {
          for (std::int64_t i = 0; i < g; ++i)
            codes[static_cast<std::size_t>(k * g + i)] = int_group_encode(row[k * g + i], p);
        } else {
          quantize_group_fast(row + k * g, g, p, codes.data() + k * g);
        }
        store_u16(q.scales.data() + (r * groups + k) * 2, p.scale_f16);
        zeros[static_cast<std::size_t>(k)] = static_cast<std::uint8_t>(p.zero);
      }
      pack_bits(codes.data(), cols, spec.bits, q.data.data() + r * row_bytes);
      if (!spec.symmetric) pack_bits(zeros.data(), groups, spec.bits, q.zeros.data() + r * zero_row_bytes);
    }
  });
}

static StorageSizes int_group_sizes(const BlockFormatSpec& spec, std::int64_t rows, std::int64_t cols) {
  const std::int64_t groups = spec.block_size > 0 ? cols / spec.block_size : 1;
  StorageSizes s;
  s.data = u64(rows) * u64(packed_row_bytes(cols, spec.bits));
  s.scales = u64(rows) * u64(groups) * 2;
  if (!spec.symmetric) s.zeros = u64(rows) * u64(packed_row_bytes(groups, spec.bits));
  return s;
}

static void dequantize_int_group_rows(const BlockFormatSpec& spec, const QuantizedView& q, std::int64_t r0,
                                      std::int64_t n, float* out, KernelPath) {
  const std::int64_t cols = q.cols;
  const std::int64_t g = spec.block_size > 0 ? spec.block_size : cols;
  const std::int64_t groups = cols / g;
  const std::int64_t row_bytes = packed_row_bytes(cols, spec.bits);
  const std::int64_t zero_row_bytes = packed_row_bytes(groups, spec.bits);
  const float sym_zero = static_cast<float>(1 << (spec.bits - 1));
  thread_local std::vector<std::uint8_t> codes, zeros;
  codes.resize(static_cast<std::size_t>(cols));
  zeros.resize(static_cast<std::size_t>(groups));
  for (std::int64_t r = r0; r < r0 + n; ++r) {
    unpack_bits(q.data.data() + r * row_bytes, cols, spec.bits, codes.data());
    if (!spec.symmetric) unpack_bits(q.zeros.data() + r * zero_row_bytes, groups, spec.bits, zeros.data());
    for (std::int64_t k = 0; k < groups; ++k) {
      const float scale = f16_to_f32(load_u16(q.scales.data() + (r * groups + k) * 2));
      const float zero = spec.symmetric ? sym_zero : static_cast<float>(zeros[static_cast<std::size_t>(k)]);
      const std::uint8_t* c = codes.data() + k * g;
      float* o = out + (r - r0) * cols + k * g;
      for (std::int64_t i = 0; i < g; ++i) o[i] = scale * (static_cast<float>(c[i]) - zero);
    }
  }
}

const BlockCodec int_group_codec = {int_group_sizes, quantize_int_group, dequantize_int_group_rows};

}  // namespace qlab::formats::detail
