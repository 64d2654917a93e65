// The quantized checkpoint layouts (quant_checkpoint.h has the conventions and the loader functions
// that define them).
#include "engine/io/quant_checkpoint.h"

#include <fnmatch.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "engine/core/error.h"
#include "engine/formats/format_lookup.h"
#include "engine/io/strict_json.h"

namespace qlab::io {

namespace {

using nlohmann::json;
namespace fs = std::filesystem;

const json kProducer = {{"name", "qlab"}, {"version", QLAB_VERSION}};

// ModelOpt's quant_algo names (vLLM modelopt.py QUANT_ALGOS) of the methods that have one.
std::string modelopt_algo(const std::string& method) {
  if (method == "nvfp4-w4a16") return "W4A16_NVFP4";
  if (method == "nvfp4") return "NVFP4";
  if (method == "fp8-channel") return "FP8_PER_CHANNEL_PER_TOKEN";
  if (method == "fp8") return "FP8";
  return "";
}

std::string ct_format(const std::string& method) {
  if (method == "nvfp4-w4a16" || method == "nvfp4") return "nvfp4-pack-quantized";
  if (method == "mxfp4") return "mxfp4-pack-quantized";
  return "float-quantized";
}

std::string format_of(const std::string& method) {
  if (method == "nvfp4-w4a16" || method == "nvfp4") return "nvfp4";
  if (method == "mxfp4") return "mxfp4";
  if (method == "fp8") return "fp8-tensor";
  return "fp8-channel";
}

// compressed-tensors QuantizationArgs of the weights (quantization/quant_args.py field names).
json ct_weight_args(const std::string& method) {
  json w = {{"num_bits", 4}, {"type", "float"}, {"symmetric", true}, {"dynamic", false},
            {"actorder", nullptr}, {"block_structure", nullptr}, {"observer", "minmax"},
            {"observer_kwargs", json::object()}};
  if (method == "nvfp4-w4a16" || method == "nvfp4") {
    w["strategy"] = "tensor_group";
    w["group_size"] = 16;
  } else if (method == "mxfp4") {
    w["strategy"] = "group";
    w["group_size"] = 32;
  } else {
    w["num_bits"] = 8;
    w["strategy"] = method == "fp8" ? "tensor" : "channel";
    w["group_size"] = nullptr;
  }
  return w;
}

// Per-token dynamic FP8 activations (llm-compressor's FP8_DYNAMIC scheme), what fp8-channel serves with.
json ct_dynamic_token_fp8() {
  return {{"num_bits", 8}, {"type", "float"}, {"symmetric", true}, {"dynamic", true}, {"strategy", "token"},
          {"group_size", nullptr}, {"actorder", nullptr}, {"block_structure", nullptr}, {"observer", nullptr},
          {"observer_kwargs", json::object()}};
}

// NVFP4 activations: 16-element blocks scaled at run time under a static global scale (llm-compressor's
// NVFP4 preset: dynamic "local").
json ct_nvfp4_activations() {
  return {{"num_bits", 4}, {"type", "float"}, {"symmetric", true}, {"dynamic", "local"}, {"strategy", "tensor_group"},
          {"group_size", 16}, {"actorder", nullptr}, {"block_structure", nullptr}, {"observer", "minmax"},
          {"observer_kwargs", json::object()}};
}

json read_json_file(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  if (!f) fail("{}: cannot read the file", p.string());
  std::stringstream ss;
  ss << f.rdbuf();
  return parse_json_strict(ss.str(), p.string());
}

std::string get_string(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::string method_from_modelopt_algo(std::string algo, const std::string& source) {
  std::transform(algo.begin(), algo.end(), algo.begin(), [](unsigned char c) { return std::toupper(c); });
  if (algo == "W4A16_NVFP4") return "nvfp4-w4a16";
  if (algo == "NVFP4") return "nvfp4";
  if (algo == "FP8_PER_CHANNEL_PER_TOKEN") return "fp8-channel";
  if (algo == "FP8") return "fp8";
  fail("{}: ModelOpt quant_algo '{}' is not read by qlab (it reads W4A16_NVFP4, NVFP4, FP8 and "
       "FP8_PER_CHANNEL_PER_TOKEN)", source, algo);
}

// compressed-tensors: the method of the one config group (as vLLM's _is_nvfp4_format / _is_mxfp4 /
// float-quantized FP8 recognise them).
std::string method_from_ct(const json& q, const std::string& source) {
  auto groups = q.find("config_groups");
  if (groups == q.end() || !groups->is_object() || groups->size() != 1)
    fail("{}: compressed-tensors quantization_config needs exactly one config group (mixed schemes are not read)",
         source);
  const json& g = groups->begin().value();
  auto w = g.find("weights");
  if (w == g.end() || !w->is_object()) fail("{}: compressed-tensors config group has no \"weights\"", source);
  const std::string type = get_string(*w, "type"), strategy = get_string(*w, "strategy");
  const int bits = w->value("num_bits", 0);
  const bool sym = w->value("symmetric", false);
  const int group = w->contains("group_size") && (*w)["group_size"].is_number_integer() ? (*w)["group_size"].get<int>() : 0;
  const bool has_input = g.contains("input_activations") && !g["input_activations"].is_null();
  if (type == "float" && bits == 4 && sym && strategy == "tensor_group" && group == 16)
    return has_input ? "nvfp4" : "nvfp4-w4a16";
  if (type == "float" && bits == 4 && sym && strategy == "group" && group == 32) return "mxfp4";
  if (type == "float" && bits == 8 && strategy == "tensor") return "fp8";
  if (type == "float" && bits == 8 && strategy == "channel") return "fp8-channel";
  fail("{}: compressed-tensors weights {} {}-bit strategy '{}' group {} are not read by qlab (it reads NVFP4, "
       "MXFP4 and FP8 per tensor or per channel)", source, type.empty() ? "?" : type, bits, strategy, group);
}

void check_part(const TensorRef& t, const LinearPart& p, const std::string& method) {
  if (t.dtype != p.dtype || t.shape != p.shape)
    fail("{}: tensor '{}' is {} [{}], the checkpoint's {} layout needs {} [{}]", t.file, t.name,
         dtype_name(t.dtype), fmt::join(t.shape, ", "), method, dtype_name(p.dtype), fmt::join(p.shape, ", "));
}

}  // namespace

const char* layout_name(QuantLayout l) { return l == QuantLayout::ModelOpt ? "modelopt" : "compressed-tensors"; }

const formats::BlockFormatSpec& QuantScheme::spec() const { return formats::block_format(format); }

const std::vector<std::string>& quant_method_names() {
  static const std::vector<std::string> names = {"nvfp4", "nvfp4-w4a16", "mxfp4", "fp8", "fp8-channel"};
  return names;
}

QuantLayout default_layout(std::string_view method) {
  return method == "mxfp4" || method == "fp8" ? QuantLayout::CompressedTensors : QuantLayout::ModelOpt;
}

QuantScheme quant_scheme(std::string_view method_in, QuantLayout layout) {
  const std::string method(method_in);
  const bool known = std::find(quant_method_names().begin(), quant_method_names().end(), method) !=
                     quant_method_names().end();
  if (!known) fail("unknown quantization method '{}' (methods: nvfp4, nvfp4-w4a16, mxfp4, fp8, fp8-channel)", method);
  if (layout == QuantLayout::ModelOpt && method == "mxfp4")
    fail("mxfp4 has no ModelOpt layout that vLLM loads for Linear layers (modelopt.py QUANT_ALGOS); "
         "use --export compressed-tensors");
  return QuantScheme{method, format_of(method), layout, {}, std::nullopt};
}

std::vector<LinearPart> linear_parts(const QuantScheme& s, std::int64_t out, std::int64_t in) {
  std::vector<LinearPart> p = weight_parts(s, out, in);
  if (s.input_scale()) {
    if (s.layout == QuantLayout::CompressedTensors)
      p.push_back({"input_global_scale", DType::F32, {1}, PartSource::InputScaleReciprocal});
    else
      p.push_back({"input_scale", DType::F32, {}, PartSource::InputScale});
  }
  return p;
}

std::vector<LinearPart> weight_parts(const QuantScheme& s, std::int64_t out, std::int64_t in) {
  if (s.ints) {
    std::vector<LinearPart> p;
    for (const IntPart& ip : int_part_shapes(*s.ints, out, in)) p.push_back({ip.suffix, ip.dtype, ip.shape, PartSource::Data});
    return p;
  }
  const bool ct = s.layout == QuantLayout::CompressedTensors;
  if (s.format == "nvfp4") {
    std::vector<LinearPart> p = {{ct ? "weight_packed" : "weight", DType::U8, {out, in / 2}, PartSource::Data},
                                 {"weight_scale", DType::F8_E4M3, {out, in / 16}, PartSource::Scales}};
    if (ct)
      p.push_back({"weight_global_scale", DType::F32, {1}, PartSource::TensorScaleReciprocal});
    else
      p.push_back({"weight_scale_2", DType::F32, {}, PartSource::TensorScale});
    return p;
  }
  if (s.format == "mxfp4")
    return {{"weight_packed", DType::U8, {out, in / 2}, PartSource::Data},
            {"weight_scale", DType::U8, {out, in / 32}, PartSource::Scales}};
  if (s.format == "fp8-tensor")
    return {{"weight", DType::F8_E4M3, {out, in}, PartSource::Data},
            {"weight_scale", DType::F32, ct ? std::vector<std::int64_t>{1} : std::vector<std::int64_t>{},
             PartSource::TensorScale}};
  // fp8-channel
  return {{"weight", DType::F8_E4M3, {out, in}, PartSource::Data},
          {"weight_scale", DType::F32, ct ? std::vector<std::int64_t>{out, 1} : std::vector<std::int64_t>{out},
           PartSource::Scales}};
}

json quantization_config(const QuantScheme& s) {
  if (s.layout == QuantLayout::ModelOpt) {
    // The block ModelOpt's convert_hf_quant_config_format writes; vLLM reads quant_algo, ignore and
    // group_size from its top level (ModelOptQuantConfigBase.from_config).
    json weights = {{"dynamic", false}, {"num_bits", s.format == "nvfp4" ? 4 : 8}, {"type", "float"}};
    json group = {{"targets", json::array({"Linear"})}};
    if (s.format == "nvfp4") weights["group_size"] = 16;
    if (s.input_scale()) group["input_activations"] = weights;  // static per tensor, as the weights
    if (s.format == "fp8-channel") {
      weights["strategy"] = "channel";
      group["input_activations"] = {{"dynamic", true}, {"num_bits", 8}, {"type", "float"}, {"strategy", "token"}};
    }
    group["weights"] = weights;
    json q = {{"quant_method", "modelopt"}, {"quant_algo", modelopt_algo(s.method)}, {"producer", kProducer},
              {"ignore", s.ignore}, {"kv_cache_scheme", nullptr}, {"config_groups", {{"group_0", group}}}};
    if (s.format == "nvfp4") q["group_size"] = 16;
    return q;
  }
  const std::string format = ct_format(s.method);
  json group = {{"targets", json::array({"Linear"})}, {"weights", ct_weight_args(s.method)},
                {"input_activations", s.method == "fp8-channel" ? ct_dynamic_token_fp8()
                                      : s.method == "nvfp4" ? ct_nvfp4_activations() : json(nullptr)},
                {"output_activations", nullptr}, {"format", format}};
  return {{"quant_method", "compressed-tensors"}, {"format", format}, {"quantization_status", "compressed"},
          {"config_groups", {{"group_0", group}}}, {"ignore", s.ignore}, {"kv_cache_scheme", nullptr},
          {"global_compression_ratio", nullptr}, {"sparsity_config", json::object()}};
}

json hf_quant_config_json(const QuantScheme& s) {
  // vLLM's ModelOptNvFp4Config._from_config requires group_size, kv_cache_quant_algo and exclude_modules.
  json q = {{"quant_algo", modelopt_algo(s.method)}, {"kv_cache_quant_algo", nullptr}, {"exclude_modules", s.ignore}};
  if (s.format == "nvfp4") q["group_size"] = 16;
  return {{"producer", kProducer}, {"quantization", q}};
}

std::optional<QuantScheme> read_checkpoint_scheme(const fs::path& dir) {
  const fs::path config_path = dir / "config.json", hf_path = dir / "hf_quant_config.json";
  std::optional<QuantScheme> from_config, from_hf;
  std::error_code ec;
  if (fs::is_regular_file(config_path, ec)) {
    const json c = read_json_file(config_path);
    auto it = c.find("quantization_config");
    if (it != c.end() && !it->is_null()) {
      const std::string source = config_path.string();
      if (!it->is_object()) fail("{}: \"quantization_config\" is not an object", source);
      const std::string qm = get_string(*it, "quant_method");
      QuantScheme s;
      if (qm.rfind("modelopt", 0) == 0) {
        const json& algo_holder = it->contains("quantization") ? (*it)["quantization"] : *it;
        s.method = method_from_modelopt_algo(get_string(algo_holder, "quant_algo"), source);
        s.layout = QuantLayout::ModelOpt;
        s.ignore = it->contains("quantization") ? module_list((*it)["quantization"], "exclude_modules", source)
                                                : module_list(*it, "ignore", source);
      } else if (qm == "gptq" || qm == "awq" || (qm == "compressed-tensors" && is_ct_int_config(*it))) {
        s.ints = int_scheme_from_config(*it, source);
        s.method = qm == "compressed-tensors" ? "int" : qm;
        s.layout = QuantLayout::CompressedTensors;
        s.ignore = s.ints->ignore;
        s.format = fmt::format("int{}-{}{}", s.ints->bits,
                               s.ints->group_size > 0 ? fmt::format("g{}", s.ints->group_size) : std::string("ch"),
                               s.ints->symmetric ? "-sym" : "");
        from_config = s;
        if (fs::is_regular_file(hf_path, ec))
          fail("{}: a ModelOpt file beside a {} checkpoint; remove the stale file", hf_path.string(), qm);
        return from_config;
      } else if (qm == "compressed-tensors") {
        s.method = method_from_ct(*it, source);
        s.layout = QuantLayout::CompressedTensors;
        s.ignore = module_list(*it, "ignore", source);
      } else {
        fail("{}: quantization_config quant_method '{}' is not read by qlab (it reads modelopt, gptq, awq and "
             "compressed-tensors NVFP4, MXFP4, FP8 and int)", source, qm.empty() ? "?" : qm);
      }
      s.format = format_of(s.method);
      from_config = s;
    }
  }
  if (fs::is_regular_file(hf_path, ec)) {
    const json h = read_json_file(hf_path);
    auto q = h.find("quantization");
    if (q == h.end() || !q->is_object()) fail("{}: no \"quantization\" object", hf_path.string());
    QuantScheme s;
    s.method = method_from_modelopt_algo(get_string(*q, "quant_algo"), hf_path.string());
    s.format = format_of(s.method);
    s.layout = QuantLayout::ModelOpt;
    s.ignore = module_list(*q, "exclude_modules", hf_path.string());
    from_hf = s;
  }
  if (from_config && from_hf) {
    if (from_config->layout != QuantLayout::ModelOpt || from_config->method != from_hf->method)
      fail("{}: says {} ({}), but config.json's quantization_config says {} ({}); remove the stale file",
           hf_path.string(), from_hf->method, layout_name(from_hf->layout), from_config->method,
           layout_name(from_config->layout));
    return from_config;
  }
  return from_config ? from_config : from_hf;
}

bool scheme_ignores(const QuantScheme& s, std::string_view module) {
  const std::string m(module);
  for (const auto& pattern : s.ignore)
    if (pattern == m || ::fnmatch(pattern.c_str(), m.c_str(), 0) == 0) return true;
  return false;
}

std::shared_ptr<const PackedLinear> read_packed_linear(const TensorStore& store, const QuantScheme& s,
                                                       const std::string& module, std::int64_t out,
                                                       std::int64_t in) {
  if (s.ints) fail("'{}': {} Linears are read with read_int_linear", module, s.export_name());
  const std::vector<LinearPart> parts = weight_parts(s, out, in);
  const TensorRef* first = store.find(module + "." + parts[0].suffix);
  const TensorRef* plain = store.find(module + ".weight");
  const bool plain_float = plain && (plain->dtype == DType::F32 || plain->dtype == DType::F16 ||
                                     plain->dtype == DType::BF16);
  if (plain_float) return nullptr;  // left unquantized (ignored or excluded)
  if (!first)
    fail("tensor '{}.{}' is missing: the checkpoint's quantization_config ({} {}) needs it", module,
         parts[0].suffix, s.method, layout_name(s.layout));
  if (in % std::max(1, s.spec().block_size) != 0)
    fail("{}: '{}' has {} input columns, not a multiple of {}'s block of {}", first->file, module, in, s.format,
         s.spec().block_size);
  auto p = std::make_shared<PackedLinear>();
  p->view.spec = &s.spec();
  p->view.rows = out;
  p->view.cols = in;
  for (const LinearPart& part : parts) {
    const TensorRef& t = store.at(module + "." + part.suffix);
    check_part(t, part, s.method);
    const auto* bytes = reinterpret_cast<const std::uint8_t*>(t.bytes.data());
    switch (part.source) {
      case PartSource::Data: p->view.data = {bytes, t.bytes.size()}; break;
      case PartSource::Scales: p->view.scales = {bytes, t.bytes.size()}; break;
      case PartSource::TensorScale:
      case PartSource::TensorScaleReciprocal: {
        float v = 0;
        std::memcpy(&v, bytes, sizeof v);
        if (part.source == PartSource::TensorScaleReciprocal) v = 1.0f / v;
        if (!std::isfinite(v) || v < 0.0f)
          fail("{}: tensor '{}' holds {}, not a usable scale", t.file, t.name, v);
        p->tensor_scales.push_back(v);
        break;
      }
      case PartSource::InputScale:
      case PartSource::InputScaleReciprocal: break;  // not part of the weight
    }
  }
  p->view.tensor_scales = p->tensor_scales;
  formats::check_parts(p->view);
  return p;
}

std::optional<InputScale> read_input_scale(const TensorStore& store, const QuantScheme& s, const std::string& module,
                                           std::int64_t out, std::int64_t in) {
  if (s.ints || !s.input_scale()) return std::nullopt;
  if (const TensorRef* plain = store.find(module + ".weight");
      plain && (plain->dtype == DType::F32 || plain->dtype == DType::F16 || plain->dtype == DType::BF16))
    return std::nullopt;  // left unquantized
  for (const LinearPart& part : linear_parts(s, out, in)) {
    if (part.source != PartSource::InputScale && part.source != PartSource::InputScaleReciprocal) continue;
    const TensorRef* t = store.find(module + "." + part.suffix);
    if (!t)
      fail("tensor '{}.{}' is missing: the checkpoint's quantization_config ({} {}) quantizes its activations with it",
           module, part.suffix, s.method, layout_name(s.layout));
    check_part(*t, part, s.method);
    float v = 0;
    std::memcpy(&v, t->bytes.data(), sizeof v);
    if (!std::isfinite(v) || !(v > 0.0f)) fail("{}: tensor '{}' holds {}, not a usable activation scale", t->file, t->name, v);
    return InputScale{v, part.source == PartSource::InputScaleReciprocal};
  }
  return std::nullopt;
}

}  // namespace qlab::io
