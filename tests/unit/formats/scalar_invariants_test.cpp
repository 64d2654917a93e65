// Invariants of the scalar codecs, checked against independent references:
//   - every finite code survives encode(decode(c)) in both modes;
//   - the property table agrees with what the codecs decode (max, min normal, epsilon, counts);
//   - encoding agrees with a brute-force nearest-value search (ties to the even code) over every
//     midpoint between adjacent values, one float either side, and random inputs;
//   - the inline fast paths agree with the parameterised reference codec over a sweep of float bits;
//   - f16 agrees with the compiler's own _Float16 conversions where the compiler has them.
#include <algorithm>
#include <cmath>
#include <limits>
#include <random>

#include "engine/core/error.h"
#include "scalar_test_util.h"

namespace qlab::formats {
namespace {

using test::bits_of;
using test::float_of;
using test::hex;

std::uint32_t code_count(ScalarFormat f) {
  return f == ScalarFormat::F32 ? 0u : 1u << properties(f).bits;
}

bool finite_code(ScalarFormat f, std::uint32_t c) { return std::isfinite(decode(f, c)); }

// Codes that are expected to come back unchanged from encode(decode(c)).
bool canonical_code(ScalarFormat f, std::uint32_t c) {
  if (!finite_code(f, c)) return false;
  // UE4M3: bit 7 is unused, 0x7F reads as zero, and ggml's encoder sends [256, 448) to 0x7E
  if (f == ScalarFormat::UE4M3) return c <= 0x77 || c == 0x7E;
  return true;
}

TEST(ScalarInvariants, EveryFiniteCodeRoundTrips) {
  for (ScalarFormat f : all_scalar_formats()) {
    if (f == ScalarFormat::F32) continue;
    SCOPED_TRACE(properties(f).name);
    int bad = 0;
    for (std::uint32_t c = 0; c < code_count(f); ++c) {
      if (!canonical_code(f, c)) continue;
      const float x = decode(f, c);
      for (Saturation s : {Saturation::Saturate, Saturation::NoSaturate}) {
        const std::uint32_t back = encode(f, x, s);
        if (back != c && bad++ < 10) ADD_FAILURE() << "code " << hex(c) << " -> " << x << " -> " << hex(back);
        // and the value is a fixed point of decode . encode
        if (decode(f, back) != x) ADD_FAILURE() << "value " << x << " not reproduced";
      }
    }
  }
}

TEST(ScalarInvariants, PropertiesMatchTheCodecs) {
  for (ScalarFormat f : all_scalar_formats()) {
    const ScalarProperties& p = properties(f);
    SCOPED_TRACE(p.name);
    EXPECT_EQ(scalar_format_from_name(p.name), f);
    if (f == ScalarFormat::F32) {
      EXPECT_EQ(p.max_finite, std::numeric_limits<float>::max());
      EXPECT_EQ(p.min_normal, std::numeric_limits<float>::min());
      EXPECT_EQ(p.min_subnormal, std::numeric_limits<float>::denorm_min());
      EXPECT_EQ(p.epsilon, std::numeric_limits<float>::epsilon());
      EXPECT_EQ(p.finite_count, (1ull << 32) - (1ull << 24) - 1);
      EXPECT_THROW(representable_values(f), Error);
      continue;
    }
    const std::vector<double> v = representable_values(f);
    EXPECT_EQ(v.size(), p.finite_count);
    ASSERT_FALSE(v.empty());
    EXPECT_TRUE(std::is_sorted(v.begin(), v.end()));
    EXPECT_EQ(v.back(), p.max_finite);
    if (p.is_signed) {
      const bool twos = f == ScalarFormat::INT8 || f == ScalarFormat::INT4;
      EXPECT_EQ(v.front(), twos ? -p.max_finite - 1 : -p.max_finite);
    }
    const auto first_pos = std::upper_bound(v.begin(), v.end(), 0.0);
    ASSERT_NE(first_pos, v.end());
    EXPECT_EQ(*first_pos, p.min_subnormal);
    if (p.is_float) {
      // smallest normal: exponent field 1, mantissa 0 (e8m0 has no subnormals: its smallest value)
      const double mn = f == ScalarFormat::E8M0 ? v.front() : decode(f, 1u << p.mantissa_bits);
      EXPECT_EQ(p.min_normal, mn);
      const auto one = std::find(v.begin(), v.end(), 1.0);
      ASSERT_NE(one, v.end());
      EXPECT_EQ(p.epsilon, *(one + 1) - 1.0);
      EXPECT_EQ(p.bits, p.exponent_bits + p.mantissa_bits + (p.is_signed ? 1 : 0) +
                            (f == ScalarFormat::UE4M3 ? 1 : 0));  // UE4M3 leaves bit 7 unused
      // has_inf / has_nan agree with what some code decodes to
      bool inf = false, nan = false;
      for (std::uint32_t c = 0; c < code_count(f); ++c) {
        inf |= std::isinf(decode(f, c));
        nan |= is_nan_code(f, c);
        EXPECT_EQ(is_nan_code(f, c), std::isnan(decode(f, c))) << hex(c);
      }
      EXPECT_EQ(inf, p.has_inf);
      EXPECT_EQ(nan, p.has_nan);
    }
  }
  EXPECT_FALSE(scalar_format_from_name("fp9").has_value());
  EXPECT_EQ(scalar_format_names(), "f32 f16 bf16 e4m3 e5m2 e2m1 e8m0 ue4m3 int8 int4 nf4");
}

// Brute-force RNE over the decoded values: nearest value, ties to the even code, sign of x kept,
// saturating at +-max. Independent of the bit tricks in the encoders.
class Nearest {
 public:
  explicit Nearest(ScalarFormat f) {
    for (std::uint32_t c = 0; c < code_count(f); ++c) {
      const float v = decode(f, c);
      if (std::isfinite(v) && !std::signbit(v)) pos_.push_back({v, c});
    }
    std::sort(pos_.begin(), pos_.end());
    sign_bit_ = 1u << (properties(f).bits - 1);
  }
  std::uint32_t operator()(float x) const {
    const double a = std::fabs(static_cast<double>(x));
    auto it = std::lower_bound(pos_.begin(), pos_.end(), std::pair<double, std::uint32_t>{a, 0});
    std::uint32_t c;
    if (it == pos_.end()) {
      c = pos_.back().second;
    } else if (it == pos_.begin() || it->first == a) {
      c = it->second;
    } else {
      const auto lo = it - 1;
      const double dl = a - lo->first, dh = it->first - a;
      c = dl < dh ? lo->second : dh < dl ? it->second : ((lo->second & 1) == 0 ? lo->second : it->second);
    }
    return std::signbit(x) ? c | sign_bit_ : c;
  }
  // every value, every midpoint between neighbours, and one float either side of each
  std::vector<float> probes() const {
    std::vector<float> out;
    for (std::size_t i = 0; i < pos_.size(); ++i) {
      std::vector<float> base = {static_cast<float>(pos_[i].first)};
      if (i + 1 < pos_.size()) base.push_back(static_cast<float>((pos_[i].first + pos_[i + 1].first) / 2));
      for (float b : base)
        for (float y : {b, std::nextafter(b, 0.0f), std::nextafter(b, 1e30f)}) {
          out.push_back(y);
          out.push_back(-y);
        }
    }
    return out;
  }
  double max() const { return pos_.back().first; }

 private:
  std::vector<std::pair<double, std::uint32_t>> pos_;
  std::uint32_t sign_bit_ = 0;
};

TEST(ScalarInvariants, EncodeIsNearestValueTiesToEven) {
  std::mt19937 rng(42);
  for (ScalarFormat f : {ScalarFormat::F16, ScalarFormat::BF16, ScalarFormat::E4M3, ScalarFormat::E5M2,
                         ScalarFormat::E2M1}) {
    SCOPED_TRACE(properties(f).name);
    const Nearest nearest(f);
    std::vector<float> xs = nearest.probes();
    // random magnitudes log-uniform over the whole range, and beyond it
    std::uniform_real_distribution<double> ex(std::log2(properties(f).min_subnormal) - 4,
                                              std::min(std::log2(nearest.max()) + 2, 127.0));
    for (int i = 0; i < 20000; ++i) {
      const float x = static_cast<float>(std::exp2(ex(rng)) * (i % 2 ? -1 : 1));
      if (std::isfinite(x)) xs.push_back(x);
    }
    int bad = 0;
    for (float x : xs) {
      const std::uint32_t want = nearest(x);
      const std::uint32_t got = encode(f, x, Saturation::Saturate);
      if (got != want && bad++ < 10) ADD_FAILURE() << "x=" << x << " (" << hex(bits_of(x)) << ") got " << hex(got)
                                                   << " want " << hex(want);
      if (std::fabs(x) <= nearest.max()) {
        const std::uint32_t ns = encode(f, x, Saturation::NoSaturate);
        if (ns != want && bad++ < 10) ADD_FAILURE() << "nonsat x=" << x << " got " << hex(ns) << " want " << hex(want);
      }
    }
  }
}

TEST(ScalarInvariants, SaturatingEncodeIsMonotone) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(-500.0f, 500.0f);
  std::vector<float> xs(50000);
  for (auto& x : xs) x = u(rng) * (rng() % 3 == 0 ? 1e-3f : 1.0f);
  std::sort(xs.begin(), xs.end());
  for (ScalarFormat f : all_scalar_formats()) {
    if (f == ScalarFormat::E8M0 || f == ScalarFormat::UE4M3) continue;  // no negatives
    float prev = -std::numeric_limits<float>::infinity();
    for (float x : xs) {
      const float d = decode(f, encode(f, x));
      ASSERT_GE(d, prev) << properties(f).name << " x=" << x;
      prev = d;
    }
  }
}

TEST(ScalarInvariants, FastPathsMatchTheReferenceCodec) {
  using namespace detail;
  int bad = 0;
  auto report = [&](const char* what, float x, std::uint32_t got, std::uint32_t want) {
    if (got != want && bad++ < 20) ADD_FAILURE() << what << " x=" << hex(bits_of(x)) << " got " << hex(got)
                                                 << " want " << hex(want);
  };
  // a sweep of float bit patterns, plus every tie and its neighbours (where bit tricks go wrong)
  std::vector<float> xs;
  for (std::uint64_t u = 0; u < (1ull << 32); u += 997) xs.push_back(float_of(static_cast<std::uint32_t>(u)));
  for (ScalarFormat f : {ScalarFormat::F16, ScalarFormat::BF16, ScalarFormat::E4M3, ScalarFormat::E5M2,
                         ScalarFormat::E2M1}) {
    const auto p = Nearest(f).probes();
    xs.insert(xs.end(), p.begin(), p.end());
  }
  for (const float x : xs) {
    report("e4m3", x, f32_to_e4m3_sat(x), minifloat_encode_sat(kE4M3, x));
    report("e5m2", x, f32_to_e5m2_sat(x), minifloat_encode_sat(kE5M2, x));
    report("e2m1", x, f32_to_e2m1_sat(x), minifloat_encode_sat(kE2M1, x));
    report("bf16", x, f32_to_bf16(x), minifloat_encode(kBF16, x));
    if (!std::isnan(x)) {
      report("f16", x, f32_to_f16(x), minifloat_encode(kF16, x));
    } else {
      report("f16 nan", x, f32_to_f16(x) & 0xFE00u, minifloat_encode(kF16, x));
    }
  }
  // every code decodes the same through the fast path and the reference
  for (std::uint32_t c = 0; c < 65536; ++c) {
    const float a = f16_to_f32(static_cast<std::uint16_t>(c)), b = minifloat_decode(kF16, c);
    if (std::isnan(b)) {
      EXPECT_TRUE(std::isnan(a));
      EXPECT_EQ(std::signbit(a), std::signbit(b));
    } else {
      report("f16 decode", b, bits_of(a), bits_of(b));
    }
    const float p = bf16_to_f32(static_cast<std::uint16_t>(c)), q = minifloat_decode(kBF16, c);
    if (!std::isnan(q)) report("bf16 decode", q, bits_of(p), bits_of(q));
  }
  for (std::uint32_t c = 0; c < 256; ++c) {
    const float a = e8m0_to_f32(static_cast<std::uint8_t>(c)), b = minifloat_decode(kE8M0, c);
    if (std::isnan(b)) {
      EXPECT_TRUE(std::isnan(a));
    } else {
      report("e8m0 decode", b, bits_of(a), bits_of(b));
    }
  }
}

#if defined(__aarch64__)
using CompilerHalf = __fp16;
#define QLAB_HAVE_COMPILER_HALF 1
#elif defined(__FLT16_MAX__) && (defined(__x86_64__) || defined(__i386__))
using CompilerHalf = _Float16;
#define QLAB_HAVE_COMPILER_HALF 1
#endif

#if defined(QLAB_HAVE_COMPILER_HALF)
// The compiler's half-precision conversions (libgcc soft-float or the CPU's) are an independent
// implementation of IEEE binary16 rounding.
TEST(ScalarInvariants, F16MatchesCompilerFloat16) {
  int bad = 0;
  for (std::uint64_t u = 0; u < (1ull << 32); u += 641) {
    const float x = float_of(static_cast<std::uint32_t>(u));
    if (std::isnan(x)) continue;
    const CompilerHalf h = static_cast<CompilerHalf>(x);
    std::uint16_t hb;
    std::memcpy(&hb, &h, 2);
    if (f32_to_f16(x) != hb && bad++ < 10) ADD_FAILURE() << hex(bits_of(x)) << " -> " << hex(f32_to_f16(x))
                                                         << " compiler " << hex(hb);
  }
  for (std::uint32_t c = 0; c < 65536; ++c) {
    const std::uint16_t hb = static_cast<std::uint16_t>(c);
    CompilerHalf h;
    std::memcpy(&h, &hb, 2);
    const float want = static_cast<float>(h);
    if (std::isnan(want)) continue;
    EXPECT_EQ(bits_of(f16_to_f32(hb)), bits_of(want)) << hex(c);
  }
}
#endif

}  // namespace
}  // namespace qlab::formats
