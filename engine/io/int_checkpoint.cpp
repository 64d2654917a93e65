// GPTQ v1, AutoAWQ GEMM and compressed-tensors pack-quantized Linears (int_checkpoint.h has the
// conventions and the loader code that defines each).
#include "engine/io/int_checkpoint.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "engine/core/error.h"
#include "engine/formats/block_params.h"
#include "engine/formats/scalar_fast.h"
#include "engine/io/strict_json.h"

namespace qlab::io {

namespace {

using nlohmann::json;

constexpr int kAwqOrder[8] = {0, 2, 4, 6, 1, 3, 5, 7};  // AutoAWQ AWQ_ORDER: nibble k holds column 8w + order[k]

std::int64_t per_word(int bits) { return 32 / bits; }
std::int64_t words(std::int64_t n, int bits) { return (n + per_word(bits) - 1) / per_word(bits); }
std::int64_t groups_of(const IntScheme& s, std::int64_t in) {
  return s.group_size > 0 ? (in + s.group_size - 1) / s.group_size : 1;
}

template <class T>
std::vector<std::byte> as_bytes(const std::vector<T>& v) {
  std::vector<std::byte> b(v.size() * sizeof(T));
  if (!b.empty()) std::memcpy(b.data(), v.data(), b.size());
  return b;
}

std::vector<std::byte> scale_bytes(const std::vector<float>& v, DType dtype) {
  if (dtype == DType::F32) return as_bytes(v);
  std::vector<std::uint16_t> h(v.size());
  for (std::size_t i = 0; i < v.size(); ++i)
    h[i] = dtype == DType::F16 ? formats::f32_to_f16(v[i]) : formats::f32_to_bf16(v[i]);
  return as_bytes(h);
}

std::uint32_t word_at(const TensorRef& t, std::size_t i) {
  std::uint32_t w;
  std::memcpy(&w, t.bytes.data() + 4 * i, 4);
  return w;
}

float scale_at(const TensorRef& t, std::size_t i) {
  if (t.dtype == DType::F32) {
    float f;
    std::memcpy(&f, t.bytes.data() + 4 * i, 4);
    return f;
  }
  std::uint16_t h;
  std::memcpy(&h, t.bytes.data() + 2 * i, 2);
  return t.dtype == DType::F16 ? formats::f16_to_f32(h) : formats::bf16_to_f32(h);
}

const char* layout_title(IntLayout l) {
  return l == IntLayout::Gptq ? "GPTQ v1" : l == IntLayout::Awq ? "AWQ GEMM" : "compressed-tensors pack-quantized";
}

}  // namespace

const char* int_layout_name(IntLayout l) {
  return l == IntLayout::Gptq ? "gptq" : l == IntLayout::Awq ? "awq" : "compressed-tensors";
}

std::vector<float> IntLinear::dequantize() const {
  std::vector<float> out(static_cast<std::size_t>(rows * cols));
  formats::int_groups_decode(codes.data(), scales.data(), zeros.data(), g_idx.data(), rows, cols, groups(), out.data());
  return out;
}

void check_int_linear_shape(const IntScheme& s, const std::string& module, std::int64_t out, std::int64_t in) {
  const char* title = layout_title(s.layout);
  if (s.bits != 2 && s.bits != 4 && s.bits != 8)
    fail("{}: {} stores 2-, 4- and 8-bit codes here, not {}-bit (3-bit packing straddles words)", module, title, s.bits);
  if (s.group_size > 0 && in % s.group_size != 0)
    fail("{}: {} input columns are not a multiple of the group of {} (the loaders need whole groups)", module, in,
         s.group_size);
  if (s.layout == IntLayout::Gptq && (in % per_word(s.bits) != 0 || out % per_word(s.bits) != 0))
    fail("{}: GPTQ packs {} codes per int32 word along both dimensions; [{}, {}] is not a multiple of it", module,
         per_word(s.bits), out, in);
  if (s.layout == IntLayout::Awq) {
    if (s.bits != 4 || s.symmetric || s.act_order || s.group_size <= 0)
      fail("{}: AWQ's GEMM layout holds 4-bit codes with zero points in contiguous groups (not {}-bit{}{}{})", module,
           s.bits, s.symmetric ? ", symmetric" : "", s.act_order ? ", act-order" : "",
           s.group_size <= 0 ? ", per row" : "");
    if (out % 8 != 0)
      fail("{}: AWQ packs 8 output columns per int32 word; {} outputs are not a multiple of 8", module, out);
  }
}

std::vector<IntPart> int_part_shapes(const IntScheme& s, std::int64_t out, std::int64_t in) {
  const std::int64_t G = groups_of(s, in);
  switch (s.layout) {
    case IntLayout::Gptq:
      return {{"qweight", DType::I32, {in / per_word(s.bits), out}, {}},
              {"qzeros", DType::I32, {G, out / per_word(s.bits)}, {}},
              {"scales", DType::F16, {G, out}, {}},
              {"g_idx", DType::I32, {in}, {}}};
    case IntLayout::Awq:
      return {{"qweight", DType::I32, {in, out / 8}, {}},
              {"qzeros", DType::I32, {G, out / 8}, {}},
              {"scales", DType::F16, {G, out}, {}}};
    case IntLayout::CompressedTensors: {
      std::vector<IntPart> p = {{"weight_packed", DType::I32, {out, words(in, s.bits)}, {}},
                                {"weight_scale", s.scale_dtype, {out, G}, {}}};
      if (!s.symmetric) p.push_back({"weight_zero_point", DType::I32, {words(out, s.bits), G}, {}});
      if (s.act_order) p.push_back({"weight_g_idx", DType::I32, {in}, {}});
      p.push_back({"weight_shape", DType::I64, {2}, {}});
      return p;
    }
  }
  return {};
}

std::vector<IntPart> pack_int_linear(const IntScheme& s, const IntLinear& q, const std::string& module) {
  const std::int64_t out = q.rows, in = q.cols, G = groups_of(s, in), b = s.bits, n = per_word(s.bits);
  check_int_linear_shape(s, module, out, in);
  if (q.bits != s.bits || q.groups() != G || static_cast<std::int64_t>(q.codes.size()) != out * in ||
      static_cast<std::int64_t>(q.scales.size()) != out * G || static_cast<std::int64_t>(q.zeros.size()) != out * G ||
      static_cast<std::int64_t>(q.g_idx.size()) != in)
    fail("{}: its quantization ({}-bit, {} groups) does not match the scheme ({}-bit, {} groups)", module, q.bits,
         q.groups(), s.bits, G);
  bool contiguous = true;
  for (std::int64_t c = 0; c < in; ++c) contiguous = contiguous && q.g_idx[static_cast<std::size_t>(c)] == c / q.group_size;
  if (!contiguous && !s.act_order)
    fail("{}: its groups are in act-order, but the scheme stores contiguous groups", module);
  const auto code = [&](std::int64_t o, std::int64_t i) { return static_cast<std::uint32_t>(q.codes[o * in + i]); };
  const auto zero = [&](std::int64_t o, std::int64_t g) { return q.zeros[static_cast<std::size_t>(o * G + g)]; };
  const std::uint32_t mask = (1u << b) - 1;
  std::vector<IntPart> parts = int_part_shapes(s, out, in);
  // scales [groups, out] (GPTQ, AWQ) or [out, groups] (compressed-tensors)
  std::vector<float> scales_go(static_cast<std::size_t>(G * out));
  for (std::int64_t o = 0; o < out; ++o)
    for (std::int64_t g = 0; g < G; ++g) scales_go[g * out + o] = q.scales[o * G + g];
  switch (s.layout) {
    case IntLayout::Gptq: {
      std::vector<std::uint32_t> qw(static_cast<std::size_t>(in / n * out)), qz(static_cast<std::size_t>(G * out / n));
      for (std::int64_t w = 0; w < in / n; ++w)
        for (std::int64_t o = 0; o < out; ++o) {
          std::uint32_t v = 0;
          for (std::int64_t k = 0; k < n; ++k) v |= code(o, w * n + k) << (b * k);
          qw[w * out + o] = v;
        }
      for (std::int64_t g = 0; g < G; ++g)
        for (std::int64_t w = 0; w < out / n; ++w) {
          std::uint32_t v = 0;
          for (std::int64_t k = 0; k < n; ++k) {
            const std::int32_t z = zero(w * n + k, g);
            if (z < 1 || z > static_cast<std::int32_t>(mask) + 1)
              fail("{}: output {} group {} has zero point {}, which GPTQ v1 cannot store (it stores zero - 1 in {} "
                   "bits); use --export compressed-tensors, or a symmetric format", module, w * n + k, g, z, b);
            v |= (static_cast<std::uint32_t>(z - 1) & mask) << (b * k);
          }
          qz[g * (out / n) + w] = v;
        }
      parts[0].bytes = as_bytes(qw);
      parts[1].bytes = as_bytes(qz);
      parts[2].bytes = scale_bytes(scales_go, DType::F16);
      parts[3].bytes = as_bytes(q.g_idx);
      break;
    }
    case IntLayout::Awq: {
      std::vector<std::uint32_t> qw(static_cast<std::size_t>(in * out / 8)), qz(static_cast<std::size_t>(G * out / 8));
      for (std::int64_t i = 0; i < in; ++i)
        for (std::int64_t w = 0; w < out / 8; ++w) {
          std::uint32_t v = 0;
          for (int k = 0; k < 8; ++k) v |= code(w * 8 + kAwqOrder[k], i) << (4 * k);
          qw[i * (out / 8) + w] = v;
        }
      for (std::int64_t g = 0; g < G; ++g)
        for (std::int64_t w = 0; w < out / 8; ++w) {
          std::uint32_t v = 0;
          for (int k = 0; k < 8; ++k) {
            const std::int32_t z = zero(w * 8 + kAwqOrder[k], g);
            if (z < 0 || z > 15) fail("{}: zero point {} does not fit AWQ's 4 bits", module, z);
            v |= static_cast<std::uint32_t>(z) << (4 * k);
          }
          qz[g * (out / 8) + w] = v;
        }
      parts[0].bytes = as_bytes(qw);
      parts[1].bytes = as_bytes(qz);
      parts[2].bytes = scale_bytes(scales_go, DType::F16);
      break;
    }
    case IntLayout::CompressedTensors: {
      const std::int64_t wi = words(in, b), wo = words(out, b);
      std::vector<std::uint32_t> packed(static_cast<std::size_t>(out * wi), 0u);
      for (std::int64_t o = 0; o < out; ++o)
        for (std::int64_t i = 0; i < in; ++i) packed[o * wi + i / n] |= code(o, i) << (b * (i % n));
      std::vector<float> scales_og(q.scales);
      std::size_t p = 0;
      parts[p++].bytes = as_bytes(packed);
      parts[p++].bytes = scale_bytes(scales_og, s.scale_dtype);
      if (!s.symmetric) {
        std::vector<std::uint32_t> zp(static_cast<std::size_t>(wo * G), 0u);
        for (std::int64_t o = 0; o < out; ++o)
          for (std::int64_t g = 0; g < G; ++g) {
            const std::int32_t z = zero(o, g);
            if (z < 0 || z > static_cast<std::int32_t>(mask)) fail("{}: zero point {} does not fit {} bits", module, z, b);
            zp[(o / n) * G + g] |= static_cast<std::uint32_t>(z) << (b * (o % n));
          }
        parts[p++].bytes = as_bytes(zp);
      }
      if (s.act_order) parts[p++].bytes = as_bytes(q.g_idx);
      parts[p++].bytes = as_bytes(std::vector<std::int64_t>{out, in});
      break;
    }
  }
  return parts;
}

std::optional<IntLinear> read_int_linear(const TensorStore& store, const IntScheme& s, const std::string& module,
                                         std::int64_t out, std::int64_t in) {
  const TensorRef* plain = store.find(module + ".weight");
  if (plain && (plain->dtype == DType::F32 || plain->dtype == DType::F16 || plain->dtype == DType::BF16))
    return std::nullopt;  // left unquantized
  std::vector<IntPart> expect = int_part_shapes(s, out, in);
  std::vector<const TensorRef*> t;
  for (const IntPart& p : expect) {
    const TensorRef* r = store.find(module + "." + p.suffix);
    if (!r)
      fail("tensor '{}.{}' is missing: the checkpoint's quantization_config ({} {}-bit) needs it", module, p.suffix,
           layout_title(s.layout), s.bits);
    // compressed-tensors' scale is in whatever dtype the producer used
    const bool any_float = s.layout == IntLayout::CompressedTensors && p.suffix == "weight_scale" &&
                           (r->dtype == DType::F32 || r->dtype == DType::F16 || r->dtype == DType::BF16);
    if ((r->dtype != p.dtype && !any_float) || r->shape != p.shape)
      fail("{}: tensor '{}' is {} [{}], the checkpoint's {} layout needs {} [{}] for a [{}, {}] Linear", r->file,
           r->name, dtype_name(r->dtype), fmt::join(r->shape, ", "), layout_title(s.layout), dtype_name(p.dtype),
           fmt::join(p.shape, ", "), out, in);
    t.push_back(r);
  }
  check_int_linear_shape(s, module, out, in);
  const std::int64_t G = groups_of(s, in), b = s.bits, n = per_word(s.bits);
  const std::uint32_t mask = (1u << b) - 1;
  IntLinear q;
  q.rows = out;
  q.cols = in;
  q.bits = s.bits;
  q.group_size = s.group_size > 0 ? s.group_size : in;
  q.codes.resize(static_cast<std::size_t>(out * in));
  q.scales.resize(static_cast<std::size_t>(out * G));
  q.zeros.assign(static_cast<std::size_t>(out * G), s.symmetric ? (1 << (b - 1)) : 0);
  q.g_idx.resize(static_cast<std::size_t>(in));
  for (std::int64_t c = 0; c < in; ++c) q.g_idx[c] = static_cast<std::int32_t>(c / q.group_size);
  const TensorRef* g_idx = nullptr;
  switch (s.layout) {
    case IntLayout::Gptq:
      for (std::int64_t w = 0; w < in / n; ++w)
        for (std::int64_t o = 0; o < out; ++o) {
          const std::uint32_t v = word_at(*t[0], w * out + o);
          for (std::int64_t k = 0; k < n; ++k) q.codes[o * in + w * n + k] = static_cast<std::uint8_t>((v >> (b * k)) & mask);
        }
      for (std::int64_t g = 0; g < G; ++g)
        for (std::int64_t w = 0; w < out / n; ++w) {
          const std::uint32_t v = word_at(*t[1], g * (out / n) + w);
          for (std::int64_t k = 0; k < n; ++k)
            q.zeros[(w * n + k) * G + g] = static_cast<std::int32_t>((v >> (b * k)) & mask) + 1;
        }
      for (std::int64_t g = 0; g < G; ++g)
        for (std::int64_t o = 0; o < out; ++o) q.scales[o * G + g] = scale_at(*t[2], g * out + o);
      g_idx = t[3];
      break;
    case IntLayout::Awq:
      for (std::int64_t i = 0; i < in; ++i)
        for (std::int64_t w = 0; w < out / 8; ++w) {
          const std::uint32_t v = word_at(*t[0], i * (out / 8) + w);
          for (int k = 0; k < 8; ++k) q.codes[(w * 8 + kAwqOrder[k]) * in + i] = static_cast<std::uint8_t>((v >> (4 * k)) & 15u);
        }
      for (std::int64_t g = 0; g < G; ++g)
        for (std::int64_t w = 0; w < out / 8; ++w) {
          const std::uint32_t v = word_at(*t[1], g * (out / 8) + w);
          for (int k = 0; k < 8; ++k) q.zeros[(w * 8 + kAwqOrder[k]) * G + g] = static_cast<std::int32_t>((v >> (4 * k)) & 15u);
        }
      for (std::int64_t g = 0; g < G; ++g)
        for (std::int64_t o = 0; o < out; ++o) q.scales[o * G + g] = scale_at(*t[2], g * out + o);
      break;
    case IntLayout::CompressedTensors: {
      const std::int64_t wi = words(in, b);
      for (std::int64_t o = 0; o < out; ++o)
        for (std::int64_t i = 0; i < in; ++i)
          q.codes[o * in + i] = static_cast<std::uint8_t>((word_at(*t[0], o * wi + i / n) >> (b * (i % n))) & mask);
      for (std::size_t k = 0; k < q.scales.size(); ++k) q.scales[k] = scale_at(*t[1], k);
      std::size_t p = 2;
      if (!s.symmetric) {
        for (std::int64_t o = 0; o < out; ++o)
          for (std::int64_t g = 0; g < G; ++g)
            q.zeros[o * G + g] = static_cast<std::int32_t>((word_at(*t[p], (o / n) * G + g) >> (b * (o % n))) & mask);
        ++p;
      }
      if (s.act_order) g_idx = t[p++];
      const TensorRef& shape = *t[p];
      std::int64_t dims[2];
      std::memcpy(dims, shape.bytes.data(), sizeof dims);
      if (dims[0] != out || dims[1] != in)
        fail("{}: tensor '{}' says [{}, {}], the config implies [{}, {}]", shape.file, shape.name, dims[0], dims[1], out, in);
      break;
    }
  }
  if (g_idx) {
    for (std::int64_t c = 0; c < in; ++c) {
      std::int32_t v;
      std::memcpy(&v, g_idx->bytes.data() + 4 * c, 4);
      if (v < 0 || v >= G)
        fail("{}: tensor '{}' puts input column {} in group {}; there are {} groups", g_idx->file, g_idx->name, c, v, G);
      q.g_idx[c] = v;
    }
  }
  for (std::size_t k = 0; k < q.scales.size(); ++k)
    if (!std::isfinite(q.scales[k]))
      fail("tensor '{}' of '{}' holds a scale that is not finite (row {}, group {})",
           s.layout == IntLayout::CompressedTensors ? "weight_scale" : "scales", module, k / G, k % G);
  return q;
}

json int_quantization_config(const IntScheme& s) {
  switch (s.layout) {
    case IntLayout::Gptq: {
      json q = gptq_quantize_config(s);
      return q;
    }
    case IntLayout::Awq:
      // transformers' AwqConfig and vLLM's AWQConfig.from_config read these names.
      return {{"quant_method", "awq"}, {"bits", s.bits}, {"group_size", s.group_size}, {"zero_point", true},
              {"version", "gemm"}, {"modules_to_not_convert", s.ignore}};
    case IntLayout::CompressedTensors: {
      json w = {{"num_bits", s.bits}, {"type", "int"}, {"symmetric", s.symmetric}, {"dynamic", false},
                {"strategy", s.group_size > 0 ? "group" : "channel"},
                {"group_size", s.group_size > 0 ? json(s.group_size) : json(nullptr)},
                {"actorder", s.act_order ? json("group") : json(nullptr)}, {"block_structure", nullptr},
                {"observer", "minmax"}, {"observer_kwargs", json::object()}};
      json group = {{"targets", json::array({"Linear"})}, {"weights", w}, {"input_activations", nullptr},
                    {"output_activations", nullptr}, {"format", "pack-quantized"}};
      return {{"quant_method", "compressed-tensors"}, {"format", "pack-quantized"}, {"quantization_status", "compressed"},
              {"config_groups", {{"group_0", group}}}, {"ignore", s.ignore}, {"kv_cache_scheme", nullptr},
              {"global_compression_ratio", nullptr}, {"sparsity_config", json::object()}};
    }
  }
  return {};
}

json gptq_quantize_config(const IntScheme& s) {
  // AutoGPTQ BaseQuantizeConfig.to_dict; vLLM's GPTQConfig.from_config reads bits, group_size, desc_act
  // and lm_head.
  return {{"quant_method", "gptq"}, {"checkpoint_format", "gptq"}, {"bits", s.bits}, {"group_size", s.group_size},
          {"damp_percent", s.damp}, {"desc_act", s.act_order}, {"static_groups", s.static_groups},
          {"sym", s.symmetric}, {"true_sequential", s.true_sequential}, {"lm_head", false},
          {"model_name_or_path", nullptr}, {"model_file_base_name", "model"}};
}

bool is_ct_int_config(const json& q) {
  auto groups = q.find("config_groups");
  if (groups == q.end() || !groups->is_object() || groups->size() != 1) return false;
  const json& g = groups->begin().value();
  auto w = g.find("weights");
  return w != g.end() && w->is_object() && w->contains("type") && (*w)["type"] == "int";
}

IntScheme int_scheme_from_config(const json& q, const std::string& source) {
  IntScheme s;
  const auto int_field = [&](const json& j, const char* key, std::int64_t def) -> std::int64_t {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) return def;
    if (!it->is_number_integer()) fail("{}: quantization_config \"{}\" must be an integer", source, key);
    return it->get<std::int64_t>();
  };
  const auto bool_field = [&](const json& j, const char* key, bool def) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) return def;
    if (!it->is_boolean()) fail("{}: quantization_config \"{}\" must be true or false", source, key);
    return it->get<bool>();
  };
  const std::string qm = q.value("quant_method", std::string());
  if (qm == "gptq") {
    s.layout = IntLayout::Gptq;
    const std::string fmt_name = q.contains("checkpoint_format") && q["checkpoint_format"].is_string()
                                     ? q["checkpoint_format"].get<std::string>()
                                 : q.contains("format") && q["format"].is_string() ? q["format"].get<std::string>()
                                                                                    : "gptq";
    if (fmt_name != "gptq")
      fail("{}: GPTQ checkpoint_format '{}' is not read by qlab (it reads v1, \"gptq\")", source, fmt_name);
    s.bits = static_cast<int>(int_field(q, "bits", 4));
    s.group_size = int_field(q, "group_size", 128);
    s.act_order = bool_field(q, "desc_act", false);
    s.symmetric = bool_field(q, "sym", true);
    if (bool_field(q, "lm_head", false)) fail("{}: a GPTQ lm_head (\"lm_head\": true) is not read by qlab", source);
    s.ignore = {"lm_head"};
  } else if (qm == "awq") {
    s.layout = IntLayout::Awq;
    const std::string version = q.contains("version") && q["version"].is_string() ? q["version"].get<std::string>() : "gemm";
    if (version != "gemm" && version != "GEMM")
      fail("{}: AWQ version '{}' is not read by qlab (it reads the GEMM layout)", source, version);
    s.bits = static_cast<int>(q.contains("bits") ? int_field(q, "bits", 4) : int_field(q, "w_bit", 4));
    s.group_size = q.contains("group_size") ? int_field(q, "group_size", 128) : int_field(q, "q_group_size", 128);
    if (!bool_field(q, "zero_point", true)) fail("{}: AWQ without zero points is not read by qlab", source);
    s.ignore = module_list(q, "modules_to_not_convert", source);
    if (std::find(s.ignore.begin(), s.ignore.end(), "lm_head") == s.ignore.end()) s.ignore.push_back("lm_head");
  } else if (qm == "compressed-tensors" && is_ct_int_config(q)) {
    s.layout = IntLayout::CompressedTensors;
    const json& g = q["config_groups"].begin().value();
    const json& w = g["weights"];
    const std::string format = g.contains("format") && g["format"].is_string() ? g["format"].get<std::string>()
                                                                               : q.value("format", std::string());
    if (format != "pack-quantized")
      fail("{}: compressed-tensors int format '{}' is not read by qlab (it reads pack-quantized)", source, format);
    if (g.contains("input_activations") && !g["input_activations"].is_null())
      fail("{}: compressed-tensors int with quantized activations is not read by qlab (weight-only is)", source);
    s.bits = static_cast<int>(int_field(w, "num_bits", 4));
    s.symmetric = bool_field(w, "symmetric", true);
    const std::string strategy = w.value("strategy", std::string());
    if (strategy == "channel") s.group_size = -1;
    else if (strategy == "group") s.group_size = int_field(w, "group_size", 0);
    else fail("{}: compressed-tensors int strategy '{}' is not read by qlab (it reads group and channel)", source, strategy);
    const json actorder = w.contains("actorder") ? w["actorder"] : json(nullptr);
    if (actorder.is_boolean()) s.act_order = actorder.get<bool>();
    else if (actorder.is_string()) s.act_order = actorder.get<std::string>() == "group";
    s.scale_dtype = DType::F32;  // read in whatever float dtype the file holds
    s.ignore = module_list(q, "ignore", source);
  } else {
    fail("{}: quantization_config is not a GPTQ, AWQ or compressed-tensors int block", source);
  }
  if (s.bits != 2 && s.bits != 4 && s.bits != 8)
    fail("{}: {}-bit {} checkpoints are not read by qlab (2, 4 and 8 are)", source, s.bits, layout_title(s.layout));
  if (s.group_size == 0 || s.group_size < -1)
    fail("{}: group_size {} is not a group size (-1 for one group per row, else positive)", source, s.group_size);
  return s;
}

}  // namespace qlab::io
