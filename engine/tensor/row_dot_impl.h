// The row-dot kernels of row_dot.h written once over an instruction set's primitives. Included only
// by the instruction-set files, inside a namespace of their own and an unnamed one, after they
// define `Isa`:
//   V                      16 float32 lanes (one AVX-512 register, two AVX2 ones, four NEON ones)
//   B                      16 bytes
//   zero load splat add mul fma(a, b, c) = a * b + c, sum (horizontal)
//   load_b nib_lo nib_hi   16 bytes; their low / high nibbles as bytes
//   zip_lo zip_hi          bytes a0 b0 a1 b1 ... of the first / second eight of each
//   lut(table, idx)        byte table lookup, idx < 16; sub_b, splat_b
//   from_i8 from_u8        16 bytes as 16 floats (signed / unsigned)
//   from_bf16 from_f16     16 half-precision values (32 bytes) as floats, exactly
//   from_e4m3 from_e5m2    16 FP8 bytes as floats (E4M3: times 2^-8, see Fp8Format)
//   half                   one IEEE half (a block scale) as float
//   kRows                  weight rows dotted at once (bounded by the register file)
//   kTable16               a 16-entry float table lookup by register exists (AVX-512's VPERMPS), with
//     deinterleave(x0, x1)    the 32 activations of a chunk as even elements, then odd ones
//     nibble_lut(b, t, lo, hi)  lo[i] = t[b[i] & 15], hi[i] = t[b[i] >> 4] for 16 bytes
//     splat2(a, b)            lanes 0-7 a, 8-15 b;  iota()  0, 1, ..., 15
//   4-bit formats then look their codes up as floats (scaled tables where a scale covers a whole
//   chunk) against deinterleaved activations; elsewhere they zip the nibbles back into element order
//   and widen small integers.
// A kernel walks a row in chunks of 32 values (two V), the activations of a chunk loaded once for
// kRows rows; each row keeps two accumulators so consecutive chunks do not wait on one another.
// The including file includes <cstdint>, <cstring> and row_dot.h first (this file opens no namespace
// and includes nothing, so that it can be included inside one).

// ---- the driver -------------------------------------------------------------------------------------

#define QLAB_ROW_DOT_INLINE [[gnu::always_inline]] inline

inline std::uint16_t load_u16(const std::uint8_t* p) { return static_cast<std::uint16_t>(p[0] | (p[1] << 8)); }
inline float load_f32(const std::uint8_t* p) {
  float f;
  std::memcpy(&f, p, 4);
  return f;
}

using V = Isa::V;
using B = Isa::B;

// Fmt: Row row(args, r) (per-row pointers), float row_scale(args, r) (multiplies the row's sum),
// and chunk(args, row, c, x0, x1, acc0, acc1): adds chunk c's products to the accumulators.
// A format whose chunks share a scale over a group of them (integer groups) also declares a Group
// (what a group's scale and zero make: a scaled table, or the scale and zero as vectors), made once
// per group and row by group(args, row, g), and its chunk takes it: chunk(args, row, group, c, ...).
template <class Fmt>
concept Grouped = requires { typename Fmt::Group; };

template <bool Deinterleave>
QLAB_ROW_DOT_INLINE void load_chunk(const float* x, std::int64_t c, V& x0, V& x1) {
  x0 = Isa::load(x + 32 * c);
  x1 = Isa::load(x + 32 * c + 16);
  if constexpr (Deinterleave) Isa::deinterleave(x0, x1);
}

template <class Fmt, int R>
inline void dot_rows(const qlab::tensor::kernels::RowDotArgs& a, std::int64_t r, float* y) {
  V acc0[R], acc1[R];
  typename Fmt::Row row[R];
  for (int i = 0; i < R; ++i) {
    acc0[i] = Isa::zero();
    acc1[i] = Isa::zero();
    row[i] = Fmt::row(a, r + i);
  }
  const std::int64_t chunks = a.cols / 32;
  constexpr bool kDeinterleave = Fmt::kNibbles && Isa::kTable16;
  V x0, x1;
  if constexpr (Grouped<Fmt>) {
    const std::int64_t per_group = a.group / 32;
    for (std::int64_t c0 = 0, g = 0; c0 < chunks; c0 += per_group, ++g) {
      typename Fmt::Group grp[R];
      for (int i = 0; i < R; ++i) grp[i] = Fmt::group(a, row[i], g);
      for (std::int64_t c = c0; c < c0 + per_group; ++c) {
        load_chunk<kDeinterleave>(a.x, c, x0, x1);
        for (int i = 0; i < R; ++i) Fmt::chunk(a, row[i], grp[i], c, x0, x1, acc0[i], acc1[i]);
      }
    }
  } else {
    for (std::int64_t c = 0; c < chunks; ++c) {
      load_chunk<kDeinterleave>(a.x, c, x0, x1);
      for (int i = 0; i < R; ++i) Fmt::chunk(a, row[i], c, x0, x1, acc0[i], acc1[i]);
    }
  }
  for (int i = 0; i < R; ++i) y[i] = Isa::sum(Isa::add(acc0[i], acc1[i])) * Fmt::row_scale(a, r + i);
}

template <class Fmt>
void row_dot(const qlab::tensor::kernels::RowDotArgs& a, std::int64_t r0, std::int64_t n, float* y) {
  std::int64_t r = r0;
  for (; r + Isa::kRows <= r0 + n; r += Isa::kRows) dot_rows<Fmt, Isa::kRows>(a, r, y + (r - r0));
  for (; r < r0 + n; ++r) dot_rows<Fmt, 1>(a, r, y + (r - r0));
}

using Args = qlab::tensor::kernels::RowDotArgs;

struct Bytes {
  const std::uint8_t* p;
};
inline Bytes data_row(const Args& a, std::int64_t r) { return {a.data + r * a.row_bytes}; }

// ---- unscaled values --------------------------------------------------------------------------------

struct F32Format {
  using Row = Bytes;
  static constexpr bool kNibbles = false;
  static Row row(const Args& a, std::int64_t r) { return data_row(a, r); }
  static float row_scale(const Args&, std::int64_t) { return 1.0f; }
  static void chunk(const Args&, const Row& w, std::int64_t c, const V& x0, const V& x1, V& acc0, V& acc1) {
    const float* p = reinterpret_cast<const float*>(w.p) + 32 * c;
    acc0 = Isa::fma(x0, Isa::load(p), acc0);
    acc1 = Isa::fma(x1, Isa::load(p + 16), acc1);
  }
};

template <bool Brain>
struct HalfFormat {
  using Row = Bytes;
  static constexpr bool kNibbles = false;
  static Row row(const Args& a, std::int64_t r) { return data_row(a, r); }
  static float row_scale(const Args&, std::int64_t) { return 1.0f; }
  static void chunk(const Args&, const Row& w, std::int64_t c, const V& x0, const V& x1, V& acc0, V& acc1) {
    const std::uint8_t* p = w.p + 64 * c;
    // A cache line per chunk, 4 KiB ahead: the hardware prefetcher alone leaves the four rows' streams
    // short of the read ceiling (bench_row_dot, AVX-512, one thread: f16 11.4 -> 13.5 GB/s of ~14).
    __builtin_prefetch(p + 4096);
    acc0 = Isa::fma(x0, Brain ? Isa::from_bf16(p) : Isa::from_f16(p), acc0);
    acc1 = Isa::fma(x1, Brain ? Isa::from_bf16(p + 32) : Isa::from_f16(p + 32), acc1);
  }
};

// ---- E2M1 nibbles: nvfp4 (E4M3 scale per 16) and mxfp4 (E8M0 scale per 32) ----------------------------

// 2 x E2M1 by code: small integers, so a byte table holds them (the scale tables hold scale / 2).
alignas(16) inline constexpr std::int8_t kE2M1x2[16] = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};
alignas(64) inline constexpr float kE2M1x2f[16] = {0, 1, 2, 3, 4, 6, 8, 12, -0.0f, -1, -2, -3, -4, -6, -8, -12};

struct ScaledRow {
  const std::uint8_t* p;   // codes
  const std::uint8_t* sc;  // scale codes
};

// The 32 values of chunk c (16 bytes, element 2k in the low nibble of byte k) as 2 x E2M1, in
// element order (the zip path).
inline void e2m1_chunk(const std::uint8_t* p, V& w0, V& w1) {
  const B bytes = Isa::load_b(p), lo = Isa::nib_lo(bytes), hi = Isa::nib_hi(bytes);
  const B t = Isa::load_b(reinterpret_cast<const std::uint8_t*>(kE2M1x2));
  w0 = Isa::from_i8(Isa::lut(t, Isa::zip_lo(lo, hi)));
  w1 = Isa::from_i8(Isa::lut(t, Isa::zip_hi(lo, hi)));
}

struct Nvfp4Format {
  static constexpr bool kNibbles = true;
  using Row = ScaledRow;
  static Row row(const Args& a, std::int64_t r) { return {a.data + r * a.row_bytes, a.scales + r * a.scale_row_bytes}; }
  static float row_scale(const Args& a, std::int64_t) { return a.tensor_scale; }
  static void chunk(const Args& a, const Row& w, std::int64_t c, const V& x0, const V& x1, V& acc0, V& acc1) {
    const float s0 = a.scale_table[w.sc[2 * c]], s1 = a.scale_table[w.sc[2 * c + 1]];
    if constexpr (Isa::kTable16) {  // x0, x1: even, odd elements; lanes 0-7 block 2c, 8-15 block 2c + 1
      V lo, hi;
      Isa::nibble_lut(Isa::load_b(w.p + 16 * c), Isa::load(kE2M1x2f), lo, hi);
      const V t = Isa::fma(x0, lo, Isa::mul(x1, hi));
      if (c & 1) acc1 = Isa::fma(t, Isa::splat2(s0, s1), acc1);
      else acc0 = Isa::fma(t, Isa::splat2(s0, s1), acc0);
    } else {
      V w0, w1;
      e2m1_chunk(w.p + 16 * c, w0, w1);
      acc0 = Isa::fma(Isa::mul(x0, w0), Isa::splat(s0), acc0);
      acc1 = Isa::fma(Isa::mul(x1, w1), Isa::splat(s1), acc1);
    }
  }
};

struct Mxfp4Format {
  static constexpr bool kNibbles = true;
  using Row = ScaledRow;
  static Row row(const Args& a, std::int64_t r) { return {a.data + r * a.row_bytes, a.scales + r * a.scale_row_bytes}; }
  static float row_scale(const Args&, std::int64_t) { return 1.0f; }
  static void chunk(const Args& a, const Row& w, std::int64_t c, const V& x0, const V& x1, V& acc0, V& acc1) {
    const V s = Isa::splat(a.scale_table[w.sc[c]]);
    V w0, w1;
    if constexpr (Isa::kTable16) {  // the table scaled: 2 x E2M1 times a power of two / 2, exact
      Isa::nibble_lut(Isa::load_b(w.p + 16 * c), Isa::mul(Isa::load(kE2M1x2f), s), w0, w1);
      acc0 = Isa::fma(x0, w0, acc0);
      acc1 = Isa::fma(x1, w1, acc1);
    } else {
      e2m1_chunk(w.p + 16 * c, w0, w1);
      acc0 = Isa::fma(Isa::mul(x0, w0), s, acc0);
      acc1 = Isa::fma(Isa::mul(x1, w1), s, acc1);
    }
  }
};

// ---- integer groups: w = scale * (code - zero), f16 scale per group ------------------------------------

struct GroupRow {
  const std::uint8_t* p;
  const std::uint8_t* sc;
  const std::uint8_t* z;  // nullptr: symmetric
};

template <int Bits>
struct IntGroupFormat {
  static constexpr bool kNibbles = Bits == 4;
  static constexpr bool kTable = Bits == 4 && Isa::kTable16;
  using Row = GroupRow;
  // A group's scale and zero as vectors: table[q] = scale * (q - zero) (the very values the format
  // dequantizes to) where a 16-entry register table exists for 4-bit codes; else the scale, and the
  // zero as bytes (4-bit: codes - zero in [-15, 15], exact in a byte) or as a float (8-bit).
  struct Group {
    V table_or_scale;
    V zero_f;
    B zero_b;
  };
  static Row row(const Args& a, std::int64_t r) {
    return {a.data + r * a.row_bytes, a.scales + r * a.scale_row_bytes, a.zeros ? a.zeros + r * a.zero_row_bytes : nullptr};
  }
  static float row_scale(const Args&, std::int64_t) { return 1.0f; }
  static int zero(const Row& w, std::int64_t g) {
    if (!w.z) return 1 << (Bits - 1);
    if (Bits == 8) return w.z[g];
    return (w.z[g >> 1] >> ((g & 1) * 4)) & 15;
  }
  static Group group(const Args&, const Row& w, std::int64_t g) {
    const float scale = Isa::half(load_u16(w.sc + 2 * g));
    const int z = zero(w, g);
    Group out{};
    if constexpr (kTable) {
      out.table_or_scale = Isa::mul(Isa::splat(scale), Isa::add(Isa::iota(), Isa::splat(-static_cast<float>(z))));
    } else {
      out.table_or_scale = Isa::splat(scale);
      if (Bits == 4) out.zero_b = Isa::splat_b(z);
      else out.zero_f = Isa::splat(-static_cast<float>(z));
    }
    return out;
  }
  static void chunk(const Args&, const Row& w, const Group& grp, std::int64_t c, const V& x0, const V& x1, V& acc0,
                    V& acc1) {
    V w0, w1;
    if constexpr (kTable) {
      Isa::nibble_lut(Isa::load_b(w.p + 16 * c), grp.table_or_scale, w0, w1);
      acc0 = Isa::fma(x0, w0, acc0);
      acc1 = Isa::fma(x1, w1, acc1);
      return;
    }
    if (Bits == 4) {
      const B bytes = Isa::load_b(w.p + 16 * c), lo = Isa::nib_lo(bytes), hi = Isa::nib_hi(bytes);
      w0 = Isa::from_i8(Isa::sub_b(Isa::zip_lo(lo, hi), grp.zero_b));
      w1 = Isa::from_i8(Isa::sub_b(Isa::zip_hi(lo, hi), grp.zero_b));
    } else {
      w0 = Isa::add(Isa::from_u8(Isa::load_b(w.p + 32 * c)), grp.zero_f);
      w1 = Isa::add(Isa::from_u8(Isa::load_b(w.p + 32 * c + 16)), grp.zero_f);
    }
    acc0 = Isa::fma(Isa::mul(x0, w0), grp.table_or_scale, acc0);
    acc1 = Isa::fma(Isa::mul(x1, w1), grp.table_or_scale, acc1);
  }
};

// ---- one scale per row (or per tensor): int8-ch, fp8 ------------------------------------------------------

struct Int8RowFormat {
  using Row = Bytes;
  static constexpr bool kNibbles = false;
  static Row row(const Args& a, std::int64_t r) { return data_row(a, r); }
  static float row_scale(const Args& a, std::int64_t r) { return load_f32(a.scales + r * 4); }
  static void chunk(const Args&, const Row& w, std::int64_t c, const V& x0, const V& x1, V& acc0, V& acc1) {
    acc0 = Isa::fma(x0, Isa::from_i8(Isa::load_b(w.p + 32 * c)), acc0);
    acc1 = Isa::fma(x1, Isa::from_i8(Isa::load_b(w.p + 32 * c + 16)), acc1);
  }
};

// FP8 bytes become half-precision bits (E5M2 is a half's top byte; E4M3 with its 3 mantissa bits
// moved under a half's 10 and its bias 7 read as 15, which is 2^-8 of the value, subnormals
// included) and are widened exactly; the row's scale takes the 2^8 back.
template <bool E5M2>
struct Fp8Format {
  using Row = Bytes;
  static constexpr bool kNibbles = false;
  static Row row(const Args& a, std::int64_t r) { return data_row(a, r); }
  static float row_scale(const Args& a, std::int64_t r) {
    const float s = a.scale_row_bytes ? load_f32(a.scales + r * a.scale_row_bytes) : a.tensor_scale;
    return E5M2 ? s : s * 256.0f;
  }
  static V widen(B b) { return E5M2 ? Isa::from_e5m2(b) : Isa::from_e4m3(b); }
  static void chunk(const Args&, const Row& w, std::int64_t c, const V& x0, const V& x1, V& acc0, V& acc1) {
    acc0 = Isa::fma(x0, widen(Isa::load_b(w.p + 32 * c)), acc0);
    acc1 = Isa::fma(x1, widen(Isa::load_b(w.p + 32 * c + 16)), acc1);
  }
};

// ---- the set ------------------------------------------------------------------------------------------------

constexpr qlab::tensor::kernels::RowDotSet make_row_dots() {
  qlab::tensor::kernels::RowDotSet s{};
  s.f32 = row_dot<F32Format>;
  s.bf16 = row_dot<HalfFormat<true>>;
  s.f16 = row_dot<HalfFormat<false>>;
  s.nvfp4 = row_dot<Nvfp4Format>;
  s.mxfp4 = row_dot<Mxfp4Format>;
  s.int4 = row_dot<IntGroupFormat<4>>;
  s.int8 = row_dot<IntGroupFormat<8>>;
  s.int8_row = row_dot<Int8RowFormat>;
  s.fp8_e4m3 = row_dot<Fp8Format<false>>;
  s.fp8_e5m2 = row_dot<Fp8Format<true>>;
  return s;
}
