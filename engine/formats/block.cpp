// The table of block formats (one traits row each, pointing at its family's codec), and the
// format-independent work around the codecs: shape and part-size checks, threading over rows.
#include "engine/formats/block.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "engine/core/error.h"
#include "engine/formats/block_kernels.h"
#include "engine/formats/format_lookup.h"

namespace qlab::formats {

namespace {

using detail::u64;

std::vector<BlockFormatSpec> make_table() {
  std::vector<BlockFormatSpec> t;
  auto add = [&](std::string name, std::string desc, int block, bool divisible, BlockKind kind, int bits,
                 const BlockCodec& codec, bool sym = false, bool e5m2 = false) {
    t.push_back({std::move(name), std::move(desc), block, divisible, kind, bits, sym, e5m2, &codec});
  };
  add("nvfp4", "NVIDIA NVFP4: E2M1 elements, E4M3 scale per 16, fp32 tensor scale (Model Optimizer)", 16,
      true, BlockKind::NVFP4, 4, detail::nvfp4_codec);
  add("mxfp4", "OCP MXFP4: E2M1 elements, E8M0 power-of-two scale per 32", 32, true, BlockKind::MXFP4, 4,
      detail::mxfp4_codec);
  add("nf4", "bitsandbytes NF4: 16 normal-quantile levels, fp32 absmax per 64 (flattened)", 64, false,
      BlockKind::NF4, 4, detail::nf4_codec);
  add("nf4-dq", "bitsandbytes NF4 with double quantization of the absmax (8-bit, blocks of 256)", 64, false,
      BlockKind::NF4DQ, 4, detail::nf4_dq_codec);
  for (int bits : {4, 3, 2, 8}) {
    for (int g : {32, 64, 128, 0}) {
      if (bits == 8 && g == 0) continue;  // int8 per row is int8-ch below (fp32 scale, two's complement)
      std::string gname = g ? fmt::format("g{}", g) : std::string("ch");
      std::string gdesc = g ? fmt::format("groups of {}", g) : std::string("one group per row");
      add(fmt::format("int{}-{}", bits, gname),
          fmt::format("int{} asymmetric (GPTQ rule, zero point), fp16 scale, {}", bits, gdesc), g, g != 0,
          BlockKind::IntGroup, bits, detail::int_group_codec, false);
      add(fmt::format("int{}-{}-sym", bits, gname),
          fmt::format("int{} symmetric absmax/{}, fp16 scale, {}", bits, (1 << (bits - 1)) - 1, gdesc), g,
          g != 0, BlockKind::IntGroup, bits, detail::int_group_codec, true);
    }
  }
  add("int8-ch", "int8 symmetric per output channel, fp32 scale absmax/127", 0, false, BlockKind::Int8Channel,
      8, detail::int8_channel_codec);
  add("fp8-tensor", "FP8 E4M3 with one fp32 scale amax/448 per tensor", -1, false, BlockKind::FP8Tensor, 8,
      detail::fp8_tensor_codec);
  add("fp8-channel", "FP8 E4M3 with an fp32 scale amax/448 per output channel", 0, false,
      BlockKind::FP8Channel, 8, detail::fp8_channel_codec);
  add("fp8-e5m2-tensor", "FP8 E5M2 with one fp32 scale amax/57344 per tensor", -1, false,
      BlockKind::FP8Tensor, 8, detail::fp8_tensor_codec, false, true);
  add("fp8-e5m2-channel", "FP8 E5M2 with an fp32 scale amax/57344 per output channel", 0, false,
      BlockKind::FP8Channel, 8, detail::fp8_channel_codec, false, true);
  return t;
}

const BlockCodec& codec_of(const BlockFormatSpec& spec) {
  if (!spec.codec) fail("block format '{}' has no codec", spec.name);
  return *spec.codec;
}

}  // namespace

const std::vector<BlockFormatSpec>& all_block_formats() {
  static const std::vector<BlockFormatSpec> t = make_table();
  return t;
}

std::optional<BlockFormatSpec> block_format_from_name(std::string_view name) {
  if (const BlockFormatSpec* s = find_block_format(name)) return *s;
  return std::nullopt;
}

std::uint64_t QuantizedTensor::storage_bytes() const {
  return data.size() + scales.size() + zeros.size() + aux.size() + tensor_scales.size() * sizeof(float);
}

double QuantizedTensor::bits_per_weight() const {
  if (rows <= 0 || cols <= 0) return 0.0;
  return 8.0 * static_cast<double>(storage_bytes()) / (static_cast<double>(rows) * static_cast<double>(cols));
}

QuantizedView QuantizedTensor::view() const { return view(block_format(format)); }

QuantizedView QuantizedTensor::view(const BlockFormatSpec& spec) const {
  return {&spec, rows, cols, data, scales, zeros, aux, tensor_scales};
}

std::uint64_t QuantizedView::storage_bytes() const {
  return data.size() + scales.size() + zeros.size() + aux.size() + tensor_scales.size() * sizeof(float);
}

void check_shape(const BlockFormatSpec& spec, std::int64_t rows, std::int64_t cols) {
  constexpr std::int64_t kMaxElements = std::int64_t{1} << 40;
  if (rows <= 0 || cols <= 0) fail("{}: tensor shape [{}, {}] is empty or negative", spec.name, rows, cols);
  if (rows > kMaxElements / cols) fail("{}: tensor shape [{}, {}] is too large", spec.name, rows, cols);
  if (spec.needs_divisible_cols && spec.block_size > 0 && cols % spec.block_size != 0)
    fail("{} needs the column count to be a multiple of its block size {}, got {} columns; pad each row "
         "with zeros to {} columns",
         spec.name, spec.block_size, cols, padded_cols(spec, cols));
}

StorageSizes storage_sizes(const BlockFormatSpec& spec, std::int64_t rows, std::int64_t cols) {
  check_shape(spec, rows, cols);
  return codec_of(spec).sizes(spec, rows, cols);
}

double bits_per_weight(const BlockFormatSpec& spec, std::int64_t rows, std::int64_t cols) {
  StorageSizes s = storage_sizes(spec, rows, cols);
  return 8.0 * static_cast<double>(s.total()) / (static_cast<double>(rows) * static_cast<double>(cols));
}

void check_parts(const QuantizedView& q) {
  if (!q.spec) fail("quantized tensor [{}, {}] has no format", q.rows, q.cols);
  const std::string& name = q.spec->name;
  const StorageSizes s = storage_sizes(*q.spec, q.rows, q.cols);
  auto check = [&](const char* part, std::uint64_t have, std::uint64_t want) {
    if (have != want)
      fail("{} tensor [{}, {}]: {} holds {} bytes, the format needs {}", name, q.rows, q.cols, part, have, want);
  };
  check("data", q.data.size(), s.data);
  check("scales", q.scales.size(), s.scales);
  check("zeros", q.zeros.size(), s.zeros);
  check("aux", q.aux.size(), s.aux);
  check("tensor scales", q.tensor_scales.size() * sizeof(float), s.tensor_scales);
}

std::int64_t padded_cols(const BlockFormatSpec& spec, std::int64_t cols) {
  if (!spec.needs_divisible_cols || spec.block_size <= 0) return cols;
  return (cols + spec.block_size - 1) / spec.block_size * spec.block_size;
}

std::vector<float> pad_columns(std::span<const float> x, std::int64_t rows, std::int64_t cols,
                               std::int64_t new_cols) {
  if (rows < 0 || cols < 0 || new_cols < cols || x.size() != u64(rows) * u64(cols))
    fail("cannot pad a [{}, {}] tensor of {} values to {} columns", rows, cols, x.size(), new_cols);
  std::vector<float> out(u64(rows) * u64(new_cols), 0.0f);
  for (std::int64_t r = 0; r < rows; ++r)
    std::copy_n(x.data() + r * cols, cols, out.data() + r * new_cols);
  return out;
}

QuantizedTensor quantize(const BlockFormatSpec& spec, std::span<const float> x, std::int64_t rows,
                         std::int64_t cols, KernelPath path) {
  check_shape(spec, rows, cols);
  if (x.size() != u64(rows) * u64(cols))
    fail("{}: tensor has {} values, but shape [{}, {}] needs {}", spec.name, x.size(), rows, cols,
         u64(rows) * u64(cols));
  QuantizedTensor q;
  q.format = spec.name;
  q.rows = rows;
  q.cols = cols;
  codec_of(spec).quantize(spec, x, q, path);
  return q;
}

void dequantize(const QuantizedView& q, std::span<float> out, KernelPath path) {
  check_parts(q);
  if (out.size() != u64(q.rows) * u64(q.cols))
    fail("{}: output holds {} values, the tensor [{}, {}] needs {}", q.spec->name, out.size(), q.rows, q.cols,
         u64(q.rows) * u64(q.cols));
  const BlockCodec& codec = codec_of(*q.spec);
  detail::for_rows(q.rows, q.cols, path, [&](std::int64_t r0, std::int64_t r1) {
    codec.dequantize_rows(*q.spec, q, r0, r1 - r0, out.data() + r0 * q.cols, path);
  });
}

void dequantize(const QuantizedTensor& q, std::span<float> out, KernelPath path) { dequantize(q.view(), out, path); }

void dequantize_rows(const QuantizedView& q, std::int64_t r0, std::int64_t n, float* out, KernelPath path) {
  check_parts(q);
  if (r0 < 0 || n < 0 || r0 + n > q.rows)
    fail("{}: rows [{}, {}) are outside the tensor's {} rows", q.spec->name, r0, r0 + n, q.rows);
  if (n > 0) codec_of(*q.spec).dequantize_rows(*q.spec, q, r0, n, out, path);
}

void fake_quantize(const BlockFormatSpec& spec, std::span<float> x, std::int64_t rows, std::int64_t cols) {
  QuantizedTensor q = quantize(spec, x, rows, cols);
  dequantize(q, x);
}

namespace detail {

void fail_non_finite(std::string_view format, std::span<const float> x, std::int64_t row, std::int64_t cols) {
  for (std::int64_t c = 0; c < cols; ++c) {
    float v = x[u64(row) * u64(cols) + u64(c)];
    if (!std::isfinite(v))
      fail("{}: input holds {} at row {}, column {}; quantization needs finite values", format, v, row, c);
  }
  fail("{}: input holds a non-finite value in row {}; quantization needs finite values", format, row);
}

void pack_bits(const std::uint8_t* codes, std::int64_t n, int bits, std::uint8_t* out) {
  std::int64_t nbytes = packed_row_bytes(n, bits);
  if (bits == 8) {
    std::copy_n(codes, n, out);
    return;
  }
  if (bits == 4) {
    for (std::int64_t k = 0; k < n / 2; ++k)
      out[k] = static_cast<std::uint8_t>((codes[2 * k] & 0xF) | (codes[2 * k + 1] << 4));
    if (n % 2) out[n / 2] = codes[n - 1] & 0xF;
    return;
  }
  std::fill_n(out, nbytes, std::uint8_t{0});
  const std::uint32_t mask = (1u << bits) - 1;
  for (std::int64_t i = 0; i < n; ++i) {
    std::int64_t bit = i * bits;
    std::uint32_t v = (codes[i] & mask) << (bit % 8);
    out[bit / 8] = static_cast<std::uint8_t>(out[bit / 8] | (v & 0xFF));
    if ((bit % 8) + bits > 8) out[bit / 8 + 1] = static_cast<std::uint8_t>(out[bit / 8 + 1] | (v >> 8));
  }
}

void unpack_bits(const std::uint8_t* in, std::int64_t n, int bits, std::uint8_t* codes) {
  if (bits == 8) {
    std::copy_n(in, n, codes);
    return;
  }
  if (bits == 4) {
    for (std::int64_t k = 0; k < n / 2; ++k) {
      codes[2 * k] = in[k] & 0xF;
      codes[2 * k + 1] = in[k] >> 4;
    }
    if (n % 2) codes[n - 1] = in[n / 2] & 0xF;
    return;
  }
  const std::uint32_t mask = (1u << bits) - 1;
  for (std::int64_t i = 0; i < n; ++i) {
    std::int64_t bit = i * bits;
    std::uint32_t v = in[bit / 8] >> (bit % 8);
    if ((bit % 8) + bits > 8) v |= static_cast<std::uint32_t>(in[bit / 8 + 1]) << (8 - bit % 8);
    codes[i] = static_cast<std::uint8_t>(v & mask);
  }
}

}  // namespace detail

}  // namespace qlab::formats
