#include "engine/tensor/row_dot_table.h"

#include <array>
#include <cmath>
#include <string_view>

#include "engine/formats/scalar.h"
#include "engine/tensor/convert.h"
#include "engine/tensor/cpu_features.h"
#include "engine/tensor/row_interleave.h"

namespace qlab::tensor {

namespace {

namespace F = qlab::formats;
using kernels::ActivationBlocks;
using kernels::RowDotArgs;
using kernels::RowDotSet;
constexpr ActivationBlocks kFloat = ActivationBlocks::Float;

// A spec whose codec is the one the built-in table gives its kind: a checkpoint's own packing under
// the same kind name would have a codec of its own, and no row here.
bool table_codec(const F::BlockFormatSpec& s) {
  for (const auto& t : F::all_block_formats())
    if (t.kind == s.kind && t.codec == s.codec) return true;
  return false;
}

// Scale code -> value / 2 (the 4-bit table holds 2 x E2M1).
std::array<float, 256> half_scale_table(F::ScalarFormat f) {
  std::array<float, 256> t{};
  for (std::uint32_t c = 0; c < 256; ++c) t[c] = F::decode(f, c) * 0.5f;
  return t;
}
const float* e4m3_half() {
  static const std::array<float, 256> t = half_scale_table(F::ScalarFormat::E4M3);
  return t.data();
}
const float* e8m0_half() {
  static const std::array<float, 256> t = half_scale_table(F::ScalarFormat::E8M0);
  return t.data();
}

// ggml's MXFP4 exponent -> 2^(e - 128), its value / 2 (engine/gguf/quant_mxfp4.cpp's e8m0_half:
// e = 255 is 2^127, not a NaN as in OCP's E8M0).
const float* ggml_e8m0_half() {
  static const std::array<float, 256> t = [] {
    std::array<float, 256> v{};
    for (int e = 0; e < 256; ++e) v[static_cast<std::size_t>(e)] = std::ldexp(1.0f, e - 128);
    return v;
  }();
  return t.data();
}

const float* half_table() {
  static const std::vector<float> t = [] {
    std::vector<float> v(65536);
    for (std::uint32_t h = 0; h < 65536; ++h) v[h] = f16_bits_to_f32(static_cast<std::uint16_t>(h));
    return v;
  }();
  return t.data();
}

void bind_nvfp4(const F::QuantizedView& q, RowDotArgs& a) {
  a.row_bytes = q.cols / 2;
  a.scale_row_bytes = q.cols / 16;
  a.tensor_scale = q.tensor_scales[0];
  a.scale_table = e4m3_half();
}

void bind_mxfp4(const F::QuantizedView& q, RowDotArgs& a) {
  a.row_bytes = q.cols / 2;
  a.scale_row_bytes = q.cols / 32;
  a.scale_table = e8m0_half();
}

bool int_group_served(const F::BlockFormatSpec& s) {
  return s.kind == F::BlockKind::IntGroup && (s.bits == 4 || s.bits == 8) && s.block_size >= 0 &&
         s.block_size % 32 == 0 && table_codec(s);
}

void bind_int_group(const F::QuantizedView& q, RowDotArgs& a) {
  const int bits = q.spec->bits;
  const std::int64_t group = q.spec->block_size > 0 ? q.spec->block_size : q.cols;
  const std::int64_t groups = q.cols / group;
  a.row_bytes = q.cols * bits / 8;
  a.scale_row_bytes = groups * 2;
  a.group = static_cast<int>(group);
  if (!q.spec->symmetric) {
    a.zeros = q.zeros.data();
    a.zero_row_bytes = (groups * bits + 7) / 8;
  }
}

void bind_row_scaled(const F::QuantizedView& q, RowDotArgs& a) {
  a.row_bytes = q.cols;
  a.scale_row_bytes = 4;
}

void bind_fp8_tensor(const F::QuantizedView& q, RowDotArgs& a) {
  a.row_bytes = q.cols;
  a.tensor_scale = q.tensor_scales[0];
}

// ggml's types as GGUF stores them (engine/gguf/blocks.h): values per block and bytes per block.
struct GgmlBlocks {
  std::string_view name;  // the spec's name, "ggml-q4_0", as engine/gguf/ggml_codec.cpp makes it
  int values, bytes;
};
constexpr std::array kGgml = {GgmlBlocks{"ggml-q4_0", 32, 18},   GgmlBlocks{"ggml-q4_1", 32, 20},
                              GgmlBlocks{"ggml-q5_0", 32, 22},   GgmlBlocks{"ggml-q5_1", 32, 24},
                              GgmlBlocks{"ggml-q8_0", 32, 34},   GgmlBlocks{"ggml-mxfp4", 32, 17},
                              GgmlBlocks{"ggml-q2_K", 256, 84},  GgmlBlocks{"ggml-q3_K", 256, 110},
                              GgmlBlocks{"ggml-q4_K", 256, 144}, GgmlBlocks{"ggml-q5_K", 256, 176},
                              GgmlBlocks{"ggml-q6_K", 256, 210}};

template <std::size_t I>
bool ggml_serves(const F::BlockFormatSpec& s) {
  return s.kind == F::BlockKind::Ggml && s.name == kGgml[I].name && s.block_size == kGgml[I].values;
}
template <std::size_t I>
void bind_ggml(const F::QuantizedView& q, RowDotArgs& a) {
  a.row_bytes = q.cols / kGgml[I].values * kGgml[I].bytes;
  if (kGgml[I].name == "ggml-mxfp4") a.scale_table = ggml_e8m0_half();
}
template <std::size_t I>
RowDotKernel ggml_row(kernels::RowDot RowDotSet::*kernel) {
  return {kGgml[I].name.data(), ggml_serves<I>, kernel, I < 6 ? ActivationBlocks::Q8_0 : ActivationBlocks::Q8_K,
          nullptr, bind_ggml<I>};
}

const std::vector<RowDotKernel>& table() {
  static const std::vector<RowDotKernel> t = {
      {"nvfp4", [](const F::BlockFormatSpec& s) { return s.kind == F::BlockKind::NVFP4 && table_codec(s); },
       &RowDotSet::nvfp4, kFloat, &RowDotSet::nvfp4_q8, bind_nvfp4},
      {"mxfp4", [](const F::BlockFormatSpec& s) { return s.kind == F::BlockKind::MXFP4 && table_codec(s); },
       &RowDotSet::mxfp4, kFloat, &RowDotSet::mxfp4_q8, bind_mxfp4},
      {"int4 groups", [](const F::BlockFormatSpec& s) { return s.bits == 4 && int_group_served(s); }, &RowDotSet::int4,
       kFloat, &RowDotSet::int4_q8, bind_int_group},
      {"int8 groups", [](const F::BlockFormatSpec& s) { return s.bits == 8 && int_group_served(s); }, &RowDotSet::int8,
       kFloat, &RowDotSet::int8_q8, bind_int_group},
      {"int8-ch", [](const F::BlockFormatSpec& s) { return s.kind == F::BlockKind::Int8Channel && table_codec(s); },
       &RowDotSet::int8_row, kFloat, &RowDotSet::int8_row_q8, bind_row_scaled},
      {"fp8 e4m3 tensor",
       [](const F::BlockFormatSpec& s) { return s.kind == F::BlockKind::FP8Tensor && !s.e5m2 && table_codec(s); },
       &RowDotSet::fp8_e4m3, kFloat, nullptr, bind_fp8_tensor},
      {"fp8 e5m2 tensor",
       [](const F::BlockFormatSpec& s) { return s.kind == F::BlockKind::FP8Tensor && s.e5m2 && table_codec(s); },
       &RowDotSet::fp8_e5m2, kFloat, nullptr, bind_fp8_tensor},
      {"fp8 e4m3 channel",
       [](const F::BlockFormatSpec& s) { return s.kind == F::BlockKind::FP8Channel && !s.e5m2 && table_codec(s); },
       &RowDotSet::fp8_e4m3, kFloat, nullptr, bind_row_scaled},
      {"fp8 e5m2 channel",
       [](const F::BlockFormatSpec& s) { return s.kind == F::BlockKind::FP8Channel && s.e5m2 && table_codec(s); },
       &RowDotSet::fp8_e5m2, kFloat, nullptr, bind_row_scaled},
      ggml_row<0>(&RowDotSet::ggml_q4_0),
      ggml_row<1>(&RowDotSet::ggml_q4_1),
      ggml_row<2>(&RowDotSet::ggml_q5_0),
      ggml_row<3>(&RowDotSet::ggml_q5_1),
      ggml_row<4>(&RowDotSet::ggml_q8_0),
      ggml_row<5>(&RowDotSet::ggml_mxfp4),
      ggml_row<6>(&RowDotSet::ggml_q2_k),
      ggml_row<7>(&RowDotSet::ggml_q3_k),
      ggml_row<8>(&RowDotSet::ggml_q4_k),
      ggml_row<9>(&RowDotSet::ggml_q5_k),
      ggml_row<10>(&RowDotSet::ggml_q6_k),
  };
  return t;
}

}  // namespace

const std::vector<RowDotKernel>& row_dot_kernels() { return table(); }

const RowDotKernel* row_dot_kernel_for(const F::BlockFormatSpec& spec) {
  for (const auto& k : table())
    if (k.serves(spec)) return &k;
  return nullptr;
}

namespace {

// The integer kernels of `from` copied into `to` (the float set).
RowDotSet with_integer_kernels(RowDotSet to, const RowDotSet& from) {
  for (auto k : {&RowDotSet::ggml_q4_0, &RowDotSet::ggml_q4_1, &RowDotSet::ggml_q5_0, &RowDotSet::ggml_q5_1,
                 &RowDotSet::ggml_q8_0, &RowDotSet::ggml_mxfp4, &RowDotSet::ggml_q2_k, &RowDotSet::ggml_q3_k,
                 &RowDotSet::ggml_q4_k, &RowDotSet::ggml_q5_k, &RowDotSet::ggml_q6_k, &RowDotSet::nvfp4_q8,
                 &RowDotSet::mxfp4_q8, &RowDotSet::int4_q8, &RowDotSet::int8_q8, &RowDotSet::int8_row_q8,
                 &RowDotSet::ggml_q4_0_x8, &RowDotSet::ggml_q8_0_x8, &RowDotSet::ggml_q4_k_x8,
                 &RowDotSet::ggml_q6_k_x8, &RowDotSet::nvfp4_x8, &RowDotSet::mxfp4_x8, &RowDotSet::int4_x8,
                 &RowDotSet::int8_x8})
    to.*k = from.*k;
  return to;
}

std::vector<RowDotIsa> detect_sets() {
  namespace K = kernels;
  const CpuFeatures& f = cpu_features();
  std::vector<RowDotIsa> out;
  // An AVX-512 CPU without VNNI (Skylake-SP) takes AVX2's integer kernels beside its float ones.
  if (f.avx512 && K::avx512::kRowDots.f32) {
    const bool vnni = f.avx512_vnni && K::avx512::kIntRowDots.ggml_q8_0;
    out.push_back({"avx512", vnni ? "vnni" : "maddubs",
                   with_integer_kernels(K::avx512::kRowDots, vnni ? K::avx512::kIntRowDots : K::avx2::kIntRowDots)});
  }
  if (f.avx2 && K::avx2::kRowDots.f32)
    out.push_back({"avx2", "maddubs", with_integer_kernels(K::avx2::kRowDots, K::avx2::kIntRowDots)});
  if (f.neon && K::neon::kRowDots.f32) {
    const bool sdot = f.neon_dotprod && K::neon::kIntRowDots.ggml_q8_0;
    out.push_back({"neon", sdot ? "sdot" : "none", sdot ? with_integer_kernels(K::neon::kRowDots, K::neon::kIntRowDots)
                                                        : K::neon::kRowDots});
  }
  return out;
}

}  // namespace

const std::vector<RowDotIsa>& row_dot_sets() {
  static const std::vector<RowDotIsa> sets = detect_sets();
  return sets;
}

const RowDotSet* row_dot_set() { return row_dot_sets().empty() ? nullptr : &row_dot_sets().front().set; }

const char* row_dot_set_name() { return row_dot_sets().empty() ? "none" : row_dot_sets().front().name; }

std::optional<BoundRowDot> bind_row_dot(const Matrix& w, const RowDotSet& set) {
  BoundRowDot b;
  RowDotArgs& a = b.args;
  if (w.type == ElemType::Packed) {
    const F::QuantizedView& q = w.packed;
    const RowDotKernel* k = q.spec ? row_dot_kernel_for(*q.spec) : nullptr;
    if (!k || q.cols % kernels::kRowDotChunk != 0) return std::nullopt;
    // A row whose kernel takes int8 activations (ggml's types) serves only a matrix whose products
    // round them to those blocks anyway (round_input): elsewhere it would not be the float product.
    if (k->activations != kFloat && !w.round_input) return std::nullopt;
    b.fn = set.*(k->kernel);
    b.activations = k->activations;
    if (w.math == ProductMath::Native && k->native && set.*(k->native)) {
      b.fn = set.*(k->native);
      b.activations = ActivationBlocks::Q8_0;
      b.native = true;
    }
    a.data = q.data.data();
    a.scales = q.scales.data();
    a.cols = q.cols;
    if (b.activations != kFloat) a.half_table = half_table();
    k->bind(q, a);
    // The interleaved copy (row_interleave.h), made here at its first use, where the matrix has a slot
    // for one and this set has the kernel that reads it on these activations: float (Fast on qlab's
    // formats) or int8 (Native's, or a ggml type's own).
    const auto x8 = interleaved_kernel(*q.spec, b.activations);
    if (w.interleaved && x8 && set.*x8) {
      if (const std::uint8_t* copy = w.interleaved->rows(w)) {
        b.fn = set.*x8;
        a.data = copy;
        b.row_group = kInterleaveRows;
      }
    }
  } else {
    if (w.cols % kernels::kRowDotChunk != 0) return std::nullopt;
    const int elem = w.type == ElemType::F32 ? 4 : 2;
    b.fn = w.type == ElemType::F32 ? set.f32 : w.type == ElemType::BF16 ? set.bf16 : set.f16;
    a.data = static_cast<const std::uint8_t*>(w.data);
    a.row_bytes = w.cols * elem;
    a.cols = w.cols;
  }
  if (!b.fn) return std::nullopt;
  return b;
}

}  // namespace qlab::tensor
