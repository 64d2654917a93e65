// The ggml types as runtime block formats: a codec over quantize_rows / dequantize_rows.
#include "engine/gguf/ggml_codec.h"

#include <array>
#include <cstring>
#include <span>

#include <fmt/format.h>

#include "engine/core/error.h"
#include "engine/gguf/quantize.h"

namespace qlab::gguf {

namespace {

GgmlType type_of(const formats::BlockFormatSpec& spec) {
  const auto t = type_from_name(spec.name.substr(5));  // "ggml-q4_K" -> q4_K
  if (!t) fail("{} is not a ggml block format", spec.name);
  return *t;
}

formats::StorageSizes sizes(const formats::BlockFormatSpec& spec, std::int64_t rows, std::int64_t cols) {
  formats::StorageSizes s;
  s.data = static_cast<std::uint64_t>(rows) * row_bytes(type_of(spec), cols, spec.name);
  return s;
}

void quantize(const formats::BlockFormatSpec& spec, std::span<const float> x, formats::QuantizedTensor& q,
              formats::KernelPath) {
  const GgmlType t = type_of(spec);
  q.data.resize(static_cast<std::size_t>(q.rows) * row_bytes(t, q.cols, spec.name));
  quantize_rows(t, x.data(), q.rows, q.cols, nullptr,
                std::as_writable_bytes(std::span<std::uint8_t>(q.data)), spec.name);
}

void dequantize_rows_codec(const formats::BlockFormatSpec& spec, const formats::QuantizedView& q, std::int64_t r0,
                           std::int64_t n, float* out, formats::KernelPath) {
  const GgmlType t = type_of(spec);
  const std::uint64_t rb = row_bytes(t, q.cols, spec.name);
  const auto bytes = std::as_bytes(q.data.subspan(static_cast<std::size_t>(r0) * rb, static_cast<std::size_t>(n) * rb));
  dequantize_rows(t, bytes, q.cols, std::span<float>(out, static_cast<std::size_t>(n * q.cols)), spec.name);
}

constexpr formats::BlockCodec kCodec{sizes, quantize, dequantize_rows_codec};

constexpr std::array kReadable = {GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q5_0, GgmlType::Q5_1, GgmlType::Q8_0,
                                  GgmlType::Q2_K, GgmlType::Q3_K, GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K,
                                  GgmlType::MXFP4};

std::vector<formats::BlockFormatSpec> make_specs() {
  std::vector<formats::BlockFormatSpec> v;
  for (GgmlType t : kReadable) {
    const GgmlTypeTraits& tr = type_traits(t);
    formats::BlockFormatSpec s;
    s.name = fmt::format("ggml-{}", tr.name);
    s.description = fmt::format("ggml {} as GGUF stores it: {}-element blocks of {} bytes ({:.4g} bits per weight)",
                                tr.name, tr.block_size, tr.bytes_per_block, tr.bits_per_weight());
    s.block_size = static_cast<int>(tr.block_size);
    s.needs_divisible_cols = true;
    s.kind = formats::BlockKind::Ggml;
    s.bits = static_cast<int>(tr.bits_per_weight());
    s.codec = &kCodec;
    v.push_back(std::move(s));
  }
  return v;
}

}  // namespace

const formats::BlockFormatSpec* ggml_block_spec(GgmlType t) {
  static const std::vector<formats::BlockFormatSpec> specs = make_specs();
  for (std::size_t i = 0; i < kReadable.size(); ++i)
    if (kReadable[i] == t) return &specs[i];
  return nullptr;
}

}  // namespace qlab::gguf
