#include "engine/tensor/row_dot_table.h"

#include <array>

#include "engine/formats/scalar.h"
#include "engine/tensor/cpu_features.h"

namespace qlab::tensor {

namespace {

namespace F = qlab::formats;
using kernels::RowDotArgs;
using kernels::RowDotSet;

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

const std::vector<RowDotKernel>& table() {
  static const std::vector<RowDotKernel> t = {
      {"nvfp4", [](const F::BlockFormatSpec& s) { return s.kind == F::BlockKind::NVFP4 && table_codec(s); },
       &RowDotSet::nvfp4, bind_nvfp4},
      {"mxfp4", [](const F::BlockFormatSpec& s) { return s.kind == F::BlockKind::MXFP4 && table_codec(s); },
       &RowDotSet::mxfp4, bind_mxfp4},
      {"int4 groups", [](const F::BlockFormatSpec& s) { return s.bits == 4 && int_group_served(s); }, &RowDotSet::int4,
       bind_int_group},
      {"int8 groups", [](const F::BlockFormatSpec& s) { return s.bits == 8 && int_group_served(s); }, &RowDotSet::int8,
       bind_int_group},
      {"int8-ch", [](const F::BlockFormatSpec& s) { return s.kind == F::BlockKind::Int8Channel && table_codec(s); },
       &RowDotSet::int8_row, bind_row_scaled},
      {"fp8 e4m3 tensor",
       [](const F::BlockFormatSpec& s) { return s.kind == F::BlockKind::FP8Tensor && !s.e5m2 && table_codec(s); },
       &RowDotSet::fp8_e4m3, bind_fp8_tensor},
      {"fp8 e5m2 tensor",
       [](const F::BlockFormatSpec& s) { return s.kind == F::BlockKind::FP8Tensor && s.e5m2 && table_codec(s); },
       &RowDotSet::fp8_e5m2, bind_fp8_tensor},
      {"fp8 e4m3 channel",
       [](const F::BlockFormatSpec& s) { return s.kind == F::BlockKind::FP8Channel && !s.e5m2 && table_codec(s); },
       &RowDotSet::fp8_e4m3, bind_row_scaled},
      {"fp8 e5m2 channel",
       [](const F::BlockFormatSpec& s) { return s.kind == F::BlockKind::FP8Channel && s.e5m2 && table_codec(s); },
       &RowDotSet::fp8_e5m2, bind_row_scaled},
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

const RowDotSet* row_dot_set() {
  const CpuFeatures& f = cpu_features();
  if (f.avx512 && kernels::avx512::kRowDots.f32) return &kernels::avx512::kRowDots;
  if (f.avx2 && kernels::avx2::kRowDots.f32) return &kernels::avx2::kRowDots;
  if (f.neon && kernels::neon::kRowDots.f32) return &kernels::neon::kRowDots;
  return nullptr;
}

const char* row_dot_set_name() {
  const RowDotSet* s = row_dot_set();
  if (s == &kernels::avx512::kRowDots) return "avx512";
  if (s == &kernels::avx2::kRowDots) return "avx2";
  if (s == &kernels::neon::kRowDots) return "neon";
  return "none";
}

std::optional<BoundRowDot> bind_row_dot(const Matrix& w, const RowDotSet& set) {
  BoundRowDot b;
  RowDotArgs& a = b.args;
  if (w.type == ElemType::Packed) {
    const F::QuantizedView& q = w.packed;
    const RowDotKernel* k = q.spec ? row_dot_kernel_for(*q.spec) : nullptr;
    if (!k || q.cols % kernels::kRowDotChunk != 0) return std::nullopt;
    b.fn = set.*(k->kernel);
    a.data = q.data.data();
    a.scales = q.scales.data();
    a.cols = q.cols;
    k->bind(q, a);
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
