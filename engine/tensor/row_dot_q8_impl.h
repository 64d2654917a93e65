// The integer row-dot kernels of row_dot.h (int8 activations) written once over an instruction set's
// integer primitives. Included only by the integer kernel files (row_dot_q8_*.cpp), inside a
// namespace of their own and an unnamed one, after they define `Isa`:
//   Q                   32 bytes;  S  8 int32 lanes, lane k the sum over bytes 4k .. 4k + 3;  F  8 floats
//   load_q              32 bytes
//   ggml_nibbles(p)     16 bytes -> their low nibbles, then their high nibbles (ggml's q4_0 order)
//   even_odd(q)         bytes 0, 2, ..., 30, then 1, 3, ..., 31
//   and_q or_q xor_q sub_q splat_q, shr_q(q, k) (each byte, logical), shl_q(q, k) (bytes below 2^(8-k))
//   kUnsigned8          dot_us takes unsigned bytes up to 255 (VNNI), not only up to 127
//   bits_q(u)           byte j = 0xFF where bit j of u is set
//   lut_q(t, idx)       t[idx] for a 16-byte table, idx < 16
//   dot_us(acc, u, s)   acc + the products of unsigned bytes u (at most 127; 128 with s > -128)
//                       and signed s
//   dot_ss(acc, a, b)   acc + the products of signed bytes (b not -128)
//   zero_s add_s mul_s splat_s splat2_s(lo, hi) (lanes 0-3 lo, 4-7 hi), lane0_s(v) (v, then zeros)
//   zero_f splat_f mul_f splat2_f splat22_f(lo, hi) (lanes 0-1 and 4-5 lo, 2-3 and 6-7 hi)
//   fma_f(a, b, c) = a * b + c, to_f (int32 to float), sum_f
//   half                one IEEE half as float; kHalfTable: read halves from args.half_table instead
//   kRows               weight rows dotted at once
// Every block's products are summed as int32, exactly (the largest sums are a Q6_K super-block's:
// 256 x 63 x 127 x 128 < 2^31), then the block's float scales multiply the sum: ggml's vec_dot.
// A weight format's integer offset (q4_0's 8, 2 x E2M1's 12 below, an int group's zero) is taken off
// each lane's own sum, so a block of codes equal to their offset sums to exactly zero: the lanes start
// from -offset times the lane's activations (X32::off, made once per block for all rows; an int
// group's per row) and the codes meet the activations unsigned. The k-quants' offsets (Q6_K's 32,
// Q3_K's 4) meet the activations' sums of 16 (xs) in the super-block's integer sum (lane0_s). Float
// minimums (q4_1's m, Q4_K's dmin m) meet those sums in the scalar `extra`.
// The including file includes <cstdint>, <cstring> and row_dot.h first.

#define QLAB_ROW_DOT_Q8_INLINE [[gnu::always_inline]] inline

using Q = Isa::Q;
using S = Isa::S;
using F = Isa::F;
using Args = qlab::tensor::kernels::RowDotArgs;

inline std::uint16_t load_u16(const std::uint8_t* p) { return static_cast<std::uint16_t>(p[0] | (p[1] << 8)); }
inline std::uint32_t load_u32(const std::uint8_t* p) {
  std::uint32_t u;
  std::memcpy(&u, p, 4);
  return u;
}
inline float load_f32(const std::uint8_t* p) {
  float f;
  std::memcpy(&f, p, 4);
  return f;
}
// A block's fp16 scale: on x86 from the 65536-entry table (args.half_table, ggml's way there: a load,
// where the conversion instruction needs the value moved into a vector register first).
QLAB_ROW_DOT_Q8_INLINE float half_at(const Args& a, const std::uint8_t* p) {
  if constexpr (Isa::kHalfTable) return a.half_table[load_u16(p)];
  else return Isa::half(load_u16(p));
}
// A weight scale times the activations' scale (dxv: every lane the block's), the weight scale
// broadcast from memory: no shuffle.
QLAB_ROW_DOT_Q8_INLINE F scale_f(float w, const F& dxv) { return Isa::mul_f(Isa::splat_f(w), dxv); }

// Sum of the activation codes of 32-block b.
QLAB_ROW_DOT_Q8_INLINE int xsum32(const Args& a, std::int64_t b) { return a.xs[2 * b] + a.xs[2 * b + 1]; }
QLAB_ROW_DOT_Q8_INLINE Q xq32(const Args& a, std::int64_t e) { return Isa::load_q(a.xq + e); }
QLAB_ROW_DOT_Q8_INLINE S dot_us(Q u, Q s) { return Isa::dot_us(Isa::zero_s(), u, s); }
QLAB_ROW_DOT_Q8_INLINE S dot_ss(Q u, Q s) { return Isa::dot_ss(Isa::zero_s(), u, s); }

// ---- the driver -------------------------------------------------------------------------------------

// Fmt: kBlock (values per block), Row row(args, r), float row_scale(args, r), X xblock(args, b) (what
// a block of activations gives every row: made once for the kRows rows), and
// block(args, row, b, x, acc, extra): adds block b's products to the float lanes acc, and any scalar
// term (float minimums against the activation sums) to extra. A format whose scale covers a group of
// blocks also has Group group(args, row, g), made once per group and row, which its block takes
// after the row.
template <class Fmt>
concept GroupedQ8 = requires { typename Fmt::Group; };

template <class Fmt, int R>
inline void q8_rows(const Args& a, std::int64_t r, float* y) {
  F acc[R];
  float extra[R];
  typename Fmt::Row row[R];
  for (int i = 0; i < R; ++i) {
    acc[i] = Isa::zero_f();
    extra[i] = 0.0f;
    row[i] = Fmt::row(a, r + i);
  }
  const std::int64_t blocks = a.cols / Fmt::kBlock;
  if constexpr (GroupedQ8<Fmt>) {
    const std::int64_t per_group = a.group / Fmt::kBlock;
    for (std::int64_t b = 0, g = 0; b < blocks; ++g) {
      typename Fmt::Group grp[R];
      for (int i = 0; i < R; ++i) grp[i] = Fmt::group(a, row[i], g);
      for (const std::int64_t end = b + per_group; b < end; ++b) {
        const typename Fmt::X x = Fmt::xblock(a, b);
        for (int i = 0; i < R; ++i) Fmt::block(a, row[i], grp[i], b, x, acc[i], extra[i]);
      }
    }
  } else {
    for (std::int64_t b = 0; b < blocks; ++b) {
      const typename Fmt::X x = Fmt::xblock(a, b);
      for (int i = 0; i < R; ++i) Fmt::block(a, row[i], b, x, acc[i], extra[i]);
    }
  }
  for (int i = 0; i < R; ++i) y[i] = (Isa::sum_f(acc[i]) + extra[i]) * Fmt::row_scale(a, r + i);
}

template <class Fmt>
void q8_row_dot(const Args& a, std::int64_t r0, std::int64_t n, float* y) {
  std::int64_t r = r0;
  for (; r + Isa::kRows <= r0 + n; r += Isa::kRows) q8_rows<Fmt, Isa::kRows>(a, r, y + (r - r0));
  for (; r < r0 + n; ++r) q8_rows<Fmt, 1>(a, r, y + (r - r0));
}

struct Bytes {
  const std::uint8_t* p;
};

// A 32-block of activations as every row's block takes it: the codes, their scale, and, for weight
// codes stored with a constant offset (q4_0's 8, 2 x E2M1 + 12, int8 - 128 ...), -Offset times each
// lane's sum of codes: the lanes' starting value, so the offset costs the rows nothing.
// qlab's 4-bit codes pack values 2k and 2k + 1 into byte k's low and high nibbles: ggml_nibbles then
// gives the even values and then the odd ones, and the activations are put in that order instead
// (EvenOdd: once per block, for every row).
template <int Offset, bool EvenOdd = false>
struct X32 {
  static constexpr int kOffset = Offset;
  Q x;
  S off;
  float dx;
  F dxv;  // dx in every lane
};
template <int Offset, bool EvenOdd = false>
QLAB_ROW_DOT_Q8_INLINE X32<Offset, EvenOdd> x32(const Args& a, std::int64_t b) {
  X32<Offset, EvenOdd> out;
  out.x = EvenOdd ? Isa::even_odd(xq32(a, 32 * b)) : xq32(a, 32 * b);
  out.dx = a.xd[b];
  out.dxv = Isa::splat_f(out.dx);
  out.off = Isa::zero_s();
  if constexpr (Offset != 0) out.off = Isa::dot_us(out.off, Isa::splat_q(Offset), Isa::sub_q(Isa::splat_q(0), out.x));
  return out;
}

// 2 x E2M1 by code, plus 12 (MXFP4 / NVFP4 values doubled are integers in [-12, 12]; the scale
// tables hold scale / 2): unsigned bytes for the unsigned-by-signed dot products, the 12 taken off
// through X32<12>.
alignas(16) inline constexpr std::int8_t kE2M1x2Plus12[16] = {12, 13, 14, 15, 16, 18, 20, 24,
                                                              12, 11, 10, 9,  8,  6,  4,  0};

// Signed bytes (q8_0, int8-ch) against the activations: where the CPU's dot product takes unsigned
// bytes at full range (VNNI), as w + 128 with the 128 taken off through X32<128>; else by the sign
// trick (dot_ss).
QLAB_ROW_DOT_Q8_INLINE S dot_signed(Q w, const X32<Isa::kUnsigned8 ? 128 : 0>& x) {
  if constexpr (Isa::kUnsigned8) return Isa::dot_us(x.off, Isa::xor_q(w, Isa::splat_q(-128)), x.x);
  else return dot_ss(w, x.x);
}

// ---- ggml's 32-value blocks (engine/gguf/blocks.h; activations Q8_0, q4_1 / q5_1 with the sums) -------
// Byte offsets within a block: d (fp16) at 0; m (fp16) at 2 for q4_1 / q5_1; then qh (4 bytes, bit j
// the fifth bit of value j) for q5_*; then qs (16 nibble bytes: value j low, value j + 16 high).

template <int Bytes_, int Qs, int Qh, int Offset, bool Min>
struct GgmlLegacy {
  static constexpr int kBlock = 32;
  using Row = Bytes;
  using X = X32<Offset>;
  static Row row(const Args& a, std::int64_t r) { return {a.data + r * a.row_bytes}; }
  static float row_scale(const Args&, std::int64_t) { return 1.0f; }
  QLAB_ROW_DOT_Q8_INLINE static X xblock(const Args& a, std::int64_t b) { return x32<Offset>(a, b); }
  QLAB_ROW_DOT_Q8_INLINE static void block(const Args& a, const Row& w, std::int64_t b, const X& x, F& acc,
                                           float& extra) {
    const std::uint8_t* p = w.p + b * Bytes_;
    // 1 KiB ahead, every other block (a cache line every 36 to 48 bytes): the hardware prefetcher
    // alone leaves q4_0 and q5_0 some 5-15 % slower on one thread (bench_row_dot, AVX-512).
    if (b % 2 == 0) __builtin_prefetch(p + 1024);
    Q codes = Isa::ggml_nibbles(p + Qs);
    if constexpr (Qh >= 0) codes = Isa::or_q(codes, Isa::and_q(Isa::bits_q(load_u32(p + Qh)), Isa::splat_q(0x10)));
    // value = d * q + m (q4_1, q5_1), or d * (q - Offset) (q4_0, q5_0: the offset in x.off)
    const S s = Isa::dot_us(x.off, codes, x.x);
    if constexpr (Min) extra += half_at(a, p + 2) * x.dx * static_cast<float>(xsum32(a, b));
    acc = Isa::fma_f(Isa::to_f(s), scale_f(half_at(a, p), x.dxv), acc);
  }
};
using GgmlQ4_0 = GgmlLegacy<18, 2, -1, 8, false>;
using GgmlQ4_1 = GgmlLegacy<20, 4, -1, 0, true>;
using GgmlQ5_0 = GgmlLegacy<22, 6, 2, 16, false>;
using GgmlQ5_1 = GgmlLegacy<24, 8, 4, 0, true>;

struct GgmlQ8_0 {  // d (fp16), 32 int8 values
  static constexpr int kBlock = 32;
  using Row = Bytes;
  using X = X32<Isa::kUnsigned8 ? 128 : 0>;
  static Row row(const Args& a, std::int64_t r) { return {a.data + r * a.row_bytes}; }
  static float row_scale(const Args&, std::int64_t) { return 1.0f; }
  QLAB_ROW_DOT_Q8_INLINE static X xblock(const Args& a, std::int64_t b) { return x32<X::kOffset>(a, b); }
  QLAB_ROW_DOT_Q8_INLINE static void block(const Args& a, const Row& w, std::int64_t b, const X& x, F& acc, float&) {
    const std::uint8_t* p = w.p + b * 34;
    acc = Isa::fma_f(Isa::to_f(dot_signed(Isa::load_q(p + 2), x)), scale_f(half_at(a, p), x.dxv), acc);
  }
};

struct GgmlMxfp4 {  // E8M0 exponent, 16 nibble bytes as q4_0's; a.scale_table: the exponent's value / 2
  static constexpr int kBlock = 32;
  using Row = Bytes;
  using X = X32<12>;
  static Row row(const Args& a, std::int64_t r) { return {a.data + r * a.row_bytes}; }
  static float row_scale(const Args&, std::int64_t) { return 1.0f; }
  QLAB_ROW_DOT_Q8_INLINE static X xblock(const Args& a, std::int64_t b) { return x32<12>(a, b); }
  QLAB_ROW_DOT_Q8_INLINE static void block(const Args& a, const Row& w, std::int64_t b, const X& x, F& acc, float&) {
    const std::uint8_t* p = w.p + b * 17;
    const Q v = Isa::lut_q(kE2M1x2Plus12, Isa::ggml_nibbles(p + 1));
    acc = Isa::fma_f(Isa::to_f(Isa::dot_us(x.off, v, x.x)), scale_f(a.scale_table[p[0]], x.dxv), acc);
  }
};

// ---- ggml's k-quants: 256-value super-blocks, activations Q8_K -----------------------------------------

struct KQuant {
  static constexpr int kBlock = 256;
  using Row = Bytes;
  struct X {};  // each run of 32 loads its own activations
  static Row row(const Args& a, std::int64_t r) { return {a.data + r * a.row_bytes}; }
  static float row_scale(const Args&, std::int64_t) { return 1.0f; }
  static X xblock(const Args&, std::int64_t) { return {}; }
};

// Q4_K / Q5_K's twelve bytes of 6-bit scales and minimums (ggml's get_scale_min_k4).
inline void scale_min_k4(const std::uint8_t* q, int* sc, int* m) {
  for (int j = 0; j < 4; ++j) {
    sc[j] = q[j] & 63;
    m[j] = q[j + 4] & 63;
  }
  for (int j = 4; j < 8; ++j) {
    sc[j] = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
    m[j] = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
  }
}

// Q4_K (144 bytes): d, dmin (fp16), 12 scale bytes, 128 nibble bytes; value = d sc_j q - dmin m_j over
// eight 32-blocks j; bytes 32i .. 32i + 31 hold block 2i in low nibbles, 2i + 1 in high ones.
// Q5_K (176 bytes) adds 32 bytes of fifth bits before the nibbles: bit j of byte l for block j.
template <bool Five>
struct GgmlQ45_K : KQuant {
  static constexpr int kBytes = Five ? 176 : 144, kQs = Five ? 48 : 16;
  QLAB_ROW_DOT_Q8_INLINE static void block(const Args& a, const Row& w, std::int64_t b, const X&, F& acc, float& extra) {
    const std::uint8_t* p = w.p + b * kBytes;
    int sc[8], m[8];
    scale_min_k4(p + 4, sc, m);
    const std::int64_t e = 256 * b;
    const Q low4 = Isa::splat_q(15), one = Isa::splat_q(1);
    Q qh{};
    if constexpr (Five) qh = Isa::load_q(p + 16);
    S isum = Isa::zero_s();
    for (int i = 0; i < 4; ++i) {
      const Q q = Isa::load_q(p + kQs + 32 * i);
      Q lo = Isa::and_q(q, low4), hi = Isa::shr_q(q, 4);
      if constexpr (Five) {
        lo = Isa::or_q(lo, Isa::shl_q(Isa::and_q(Isa::shr_q(qh, 2 * i), one), 4));
        hi = Isa::or_q(hi, Isa::shl_q(Isa::and_q(Isa::shr_q(qh, 2 * i + 1), one), 4));
      }
      isum = Isa::add_s(isum, Isa::mul_s(dot_us(lo, xq32(a, e + 64 * i)), Isa::splat_s(sc[2 * i])));
      isum = Isa::add_s(isum, Isa::mul_s(dot_us(hi, xq32(a, e + 64 * i + 32)), Isa::splat_s(sc[2 * i + 1])));
    }
    const std::int16_t* xs = a.xs + 16 * b;
    int msum = 0;
    for (int j = 0; j < 8; ++j) msum += m[j] * (xs[2 * j] + xs[2 * j + 1]);
    const float dx = a.xd[b];
    acc = Isa::fma_f(Isa::to_f(isum), Isa::splat_f(half_at(a, p) * dx), acc);
    extra -= half_at(a, p + 2) * dx * static_cast<float>(msum);
  }
};
using GgmlQ4_K = GgmlQ45_K<false>;
using GgmlQ5_K = GgmlQ45_K<true>;

// Q6_K (210 bytes): 128 bytes of low nibbles, 64 of high bit pairs, 16 int8 scales (one per 16
// values), d; value = d sc (q - 32). Each half of 128 values: ql[0..63], qh[0..31]; its four 32-value
// runs k take ql[32 (k & 1) ..] (low nibbles for k < 2, high ones after) and bits 2k of qh.
struct GgmlQ6_K : KQuant {
  QLAB_ROW_DOT_Q8_INLINE static void block(const Args& a, const Row& w, std::int64_t b, const X&, F& acc, float&) {
    const std::uint8_t* p = w.p + b * 210;
    const auto* sc = reinterpret_cast<const std::int8_t*>(p + 192);
    const Q low4 = Isa::splat_q(15), three = Isa::splat_q(3);
    S isum = Isa::zero_s();
    for (int h = 0; h < 2; ++h) {
      const Q l0 = Isa::load_q(p + 64 * h), l1 = Isa::load_q(p + 64 * h + 32), qh = Isa::load_q(p + 128 + 32 * h);
      const Q q[4] = {Isa::or_q(Isa::and_q(l0, low4), Isa::shl_q(Isa::and_q(qh, three), 4)),
                      Isa::or_q(Isa::and_q(l1, low4), Isa::shl_q(Isa::and_q(Isa::shr_q(qh, 2), three), 4)),
                      Isa::or_q(Isa::shr_q(l0, 4), Isa::shl_q(Isa::and_q(Isa::shr_q(qh, 4), three), 4)),
                      Isa::or_q(Isa::shr_q(l1, 4), Isa::shl_q(Isa::shr_q(qh, 6), 4))};
      for (int k = 0; k < 4; ++k) {
        const int s = 8 * h + 2 * k;
        isum = Isa::add_s(isum, Isa::mul_s(dot_us(q[k], xq32(a, 256 * b + 128 * h + 32 * k)), Isa::splat2_s(sc[s], sc[s + 1])));
      }
    }
    const std::int16_t* xs = a.xs + 16 * b;
    int offset = 0;
    for (int s = 0; s < 16; ++s) offset += sc[s] * xs[s];
    isum = Isa::add_s(isum, Isa::lane0_s(-32 * offset));
    acc = Isa::fma_f(Isa::to_f(isum), Isa::splat_f(half_at(a, p + 208) * a.xd[b]), acc);
  }
};

// Q2_K (84 bytes): 16 scale bytes (low nibble scale, high nibble minimum, per 16 values), 64 bytes of
// 2-bit codes, d, dmin; value = d sc q - dmin m. Each half of 128 values: 32 code bytes, run k (32
// values) in bits 2k.
struct GgmlQ2_K : KQuant {
  QLAB_ROW_DOT_Q8_INLINE static void block(const Args& a, const Row& w, std::int64_t b, const X&, F& acc, float& extra) {
    const std::uint8_t* p = w.p + b * 84;
    const Q three = Isa::splat_q(3);
    S isum = Isa::zero_s();
    for (int h = 0; h < 2; ++h) {
      const Q q = Isa::load_q(p + 16 + 32 * h);
      for (int k = 0; k < 4; ++k) {
        const int s = 8 * h + 2 * k;
        const Q codes = Isa::and_q(Isa::shr_q(q, 2 * k), three);
        isum = Isa::add_s(isum, Isa::mul_s(dot_us(codes, xq32(a, 256 * b + 128 * h + 32 * k)),
                                           Isa::splat2_s(p[s] & 15, p[s + 1] & 15)));
      }
    }
    const std::int16_t* xs = a.xs + 16 * b;
    int msum = 0;
    for (int s = 0; s < 16; ++s) msum += (p[s] >> 4) * xs[s];
    const float dx = a.xd[b];
    acc = Isa::fma_f(Isa::to_f(isum), Isa::splat_f(half_at(a, p + 80) * dx), acc);
    extra -= half_at(a, p + 82) * dx * static_cast<float>(msum);
  }
};

// Q3_K (110 bytes): 32 bytes of high bits, 64 bytes of 2-bit codes (as Q2_K), 12 bytes of sixteen
// 6-bit scales (stored + 32), d; value = d (sc - 32) (q - 4) with q = low 2 bits + 4 x high bit, the
// high bit of run k of half h in bit 4h + k of the high-bit bytes.
struct GgmlQ3_K : KQuant {
  static void scales(const std::uint8_t* p, int* sc) {
    std::uint32_t aux[4];
    std::memcpy(aux, p, 12);
    constexpr std::uint32_t kMask1 = 0x03030303u, kMask2 = 0x0f0f0f0fu;
    const std::uint32_t tmp = aux[2];
    aux[2] = ((aux[0] >> 4) & kMask2) | (((tmp >> 4) & kMask1) << 4);
    aux[3] = ((aux[1] >> 4) & kMask2) | (((tmp >> 6) & kMask1) << 4);
    aux[0] = (aux[0] & kMask2) | ((tmp & kMask1) << 4);
    aux[1] = (aux[1] & kMask2) | (((tmp >> 2) & kMask1) << 4);
    std::uint8_t bytes[16];
    std::memcpy(bytes, aux, 16);
    for (int s = 0; s < 16; ++s) sc[s] = bytes[s] - 32;
  }
  QLAB_ROW_DOT_Q8_INLINE static void block(const Args& a, const Row& w, std::int64_t b, const X&, F& acc, float&) {
    const std::uint8_t* p = w.p + b * 110;
    int sc[16];
    scales(p + 96, sc);
    const Q three = Isa::splat_q(3), one = Isa::splat_q(1), hm = Isa::load_q(p);
    S isum = Isa::zero_s();
    for (int h = 0; h < 2; ++h) {
      const Q q = Isa::load_q(p + 32 + 32 * h);
      for (int k = 0; k < 4; ++k) {
        const int s = 8 * h + 2 * k;
        const Q codes = Isa::or_q(Isa::and_q(Isa::shr_q(q, 2 * k), three),
                                  Isa::shl_q(Isa::and_q(Isa::shr_q(hm, 4 * h + k), one), 2));
        isum = Isa::add_s(isum, Isa::mul_s(dot_us(codes, xq32(a, 256 * b + 128 * h + 32 * k)), Isa::splat2_s(sc[s], sc[s + 1])));
      }
    }
    const std::int16_t* xs = a.xs + 16 * b;
    int offset = 0;
    for (int s = 0; s < 16; ++s) offset += sc[s] * xs[s];
    isum = Isa::add_s(isum, Isa::lane0_s(-4 * offset));
    acc = Isa::fma_f(Isa::to_f(isum), Isa::splat_f(half_at(a, p + 108) * a.xd[b]), acc);
  }
};

// ---- ProductMath::Native on qlab's formats: activations Q8_0, weights as the float kernels read them ---

struct ScaledRow {
  const std::uint8_t* p;   // codes
  const std::uint8_t* sc;  // scale codes
};

// nvfp4: 16 nibble bytes per 32 values (value 2k low nibble of byte k), an E4M3 scale per 16 (the
// table: value / 2), the tensor scale. In even-odd order, lanes 0-1 hold even values of the first
// 16, lanes 2-3 even values of the second, lanes 4-5 and 6-7 the odd ones likewise.
struct Nvfp4Q8 {
  static constexpr int kBlock = 32;
  using Row = ScaledRow;
  using X = X32<12, true>;
  static Row row(const Args& a, std::int64_t r) { return {a.data + r * a.row_bytes, a.scales + r * a.scale_row_bytes}; }
  static float row_scale(const Args& a, std::int64_t) { return a.tensor_scale; }
  QLAB_ROW_DOT_Q8_INLINE static X xblock(const Args& a, std::int64_t b) { return x32<12, true>(a, b); }
  QLAB_ROW_DOT_Q8_INLINE static void block(const Args& a, const Row& w, std::int64_t c, const X& x, F& acc, float&) {
    const Q v = Isa::lut_q(kE2M1x2Plus12, Isa::ggml_nibbles(w.p + 16 * c));
    const F s = Isa::splat22_f(a.scale_table[w.sc[2 * c]] * x.dx, a.scale_table[w.sc[2 * c + 1]] * x.dx);
    acc = Isa::fma_f(Isa::to_f(Isa::dot_us(x.off, v, x.x)), s, acc);
  }
};

// mxfp4: as nvfp4 with one E8M0 scale per 32 (the table: value / 2).
struct Mxfp4Q8 {
  static constexpr int kBlock = 32;
  using Row = ScaledRow;
  using X = X32<12, true>;
  static Row row(const Args& a, std::int64_t r) { return {a.data + r * a.row_bytes, a.scales + r * a.scale_row_bytes}; }
  static float row_scale(const Args&, std::int64_t) { return 1.0f; }
  QLAB_ROW_DOT_Q8_INLINE static X xblock(const Args& a, std::int64_t b) { return x32<12, true>(a, b); }
  QLAB_ROW_DOT_Q8_INLINE static void block(const Args& a, const Row& w, std::int64_t c, const X& x, F& acc, float&) {
    const Q v = Isa::lut_q(kE2M1x2Plus12, Isa::ggml_nibbles(w.p + 16 * c));
    acc = Isa::fma_f(Isa::to_f(Isa::dot_us(x.off, v, x.x)), scale_f(a.scale_table[w.sc[c]], x.dxv), acc);
  }
};

struct GroupRow {
  const std::uint8_t* p;
  const std::uint8_t* sc;
  const std::uint8_t* z;  // nullptr: symmetric
};

// Integer groups, w = scale (code - zero), an f16 scale per group of a multiple of 32 values. The
// codes meet the activations unsigned and the zero through a second dot product, of the zero with the
// negated activations (X32::off's way, but per row: each row has its own zero). 8-bit codes (0..255)
// go that way only where the CPU multiplies unsigned bytes at full range (VNNI); elsewhere as
// code - 128, signed, plus (128 - zero) times each lane's activation sum.
template <int Bits>
struct IntGroupQ8 {
  static constexpr int kBlock = 32;
  static constexpr bool kUnsignedCodes = Bits == 4 || Isa::kUnsigned8;
  using Row = GroupRow;
  struct X {
    Q x, neg_x;
    F dxv;
  };
  struct Group {
    F scale;      // in every lane
    Q zero;       // the zero in every byte (kUnsignedCodes)
    int zero_i;   // the zero
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
  QLAB_ROW_DOT_Q8_INLINE static Group group(const Args& a, const Row& w, std::int64_t g) {
    const int z = zero(w, g);
    return {Isa::splat_f(half_at(a, w.sc + 2 * g)), Isa::splat_q(z), z};
  }
  QLAB_ROW_DOT_Q8_INLINE static X xblock(const Args& a, std::int64_t c) {
    const Q x = Bits == 4 ? Isa::even_odd(xq32(a, 32 * c)) : xq32(a, 32 * c);  // 4-bit: see X32
    return {x, Isa::sub_q(Isa::splat_q(0), x), Isa::splat_f(a.xd[c])};
  }
  QLAB_ROW_DOT_Q8_INLINE static void block(const Args&, const Row& w, const Group& grp, std::int64_t c, const X& x,
                                           F& acc, float&) {
    S s;
    if constexpr (kUnsignedCodes) {
      const Q codes = Bits == 4 ? Isa::ggml_nibbles(w.p + 16 * c) : Isa::load_q(w.p + 32 * c);
      s = Isa::dot_us(Isa::dot_us(Isa::zero_s(), grp.zero, x.neg_x), codes, x.x);
    } else {
      s = dot_ss(Isa::xor_q(Isa::load_q(w.p + 32 * c), Isa::splat_q(-128)), x.x);
      if (w.z) s = Isa::add_s(s, Isa::mul_s(dot_us(Isa::splat_q(1), x.x), Isa::splat_s(128 - grp.zero_i)));
    }
    acc = Isa::fma_f(Isa::to_f(s), Isa::mul_f(grp.scale, x.dxv), acc);
  }
};

// int8-ch: int8 values, a float32 scale per row.
struct Int8RowQ8 {
  static constexpr int kBlock = 32;
  using Row = Bytes;
  using X = X32<Isa::kUnsigned8 ? 128 : 0>;
  static Row row(const Args& a, std::int64_t r) { return {a.data + r * a.row_bytes}; }
  static float row_scale(const Args& a, std::int64_t r) { return load_f32(a.scales + r * 4); }
  QLAB_ROW_DOT_Q8_INLINE static X xblock(const Args& a, std::int64_t b) { return x32<X::kOffset>(a, b); }
  QLAB_ROW_DOT_Q8_INLINE static void block(const Args&, const Row& w, std::int64_t c, const X& x, F& acc, float&) {
    acc = Isa::fma_f(Isa::to_f(dot_signed(Isa::load_q(w.p + 32 * c), x)), x.dxv, acc);
  }
};

// ---- the set (integer kernels only) -------------------------------------------------------------------------

constexpr qlab::tensor::kernels::RowDotSet make_int_row_dots() {
  qlab::tensor::kernels::RowDotSet s{};
  s.ggml_q4_0 = q8_row_dot<GgmlQ4_0>;
  s.ggml_q4_1 = q8_row_dot<GgmlQ4_1>;
  s.ggml_q5_0 = q8_row_dot<GgmlQ5_0>;
  s.ggml_q5_1 = q8_row_dot<GgmlQ5_1>;
  s.ggml_q8_0 = q8_row_dot<GgmlQ8_0>;
  s.ggml_mxfp4 = q8_row_dot<GgmlMxfp4>;
  s.ggml_q2_k = q8_row_dot<GgmlQ2_K>;
  s.ggml_q3_k = q8_row_dot<GgmlQ3_K>;
  s.ggml_q4_k = q8_row_dot<GgmlQ4_K>;
  s.ggml_q5_k = q8_row_dot<GgmlQ5_K>;
  s.ggml_q6_k = q8_row_dot<GgmlQ6_K>;
  s.nvfp4_q8 = q8_row_dot<Nvfp4Q8>;
  s.mxfp4_q8 = q8_row_dot<Mxfp4Q8>;
  s.int4_q8 = q8_row_dot<IntGroupQ8<4>>;
  s.int8_q8 = q8_row_dot<IntGroupQ8<8>>;
  s.int8_row_q8 = q8_row_dot<Int8RowQ8>;
  return s;
}
