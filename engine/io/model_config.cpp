// config.json of the Llama family, as transformers 4.x and 5.x write it, and the entry point for the
// other families (model_config_families.cpp). Fields are read through config::Reader (config_reader.h).
#include <cmath>
#include <limits>

#include "engine/core/atomic_file.h"
#include "engine/core/error.h"
#include "engine/io/config_reader.h"
#include "engine/io/model_config.h"
#include "engine/io/strict_json.h"
#include "engine/io/tensor_map.h"

namespace qlab::io {

namespace {

using json = nlohmann::json;
using config::kMaxCount;
using config::kMaxDim;
using config::kMaxPositions;
using config::kMaxVocab;
using config::Reader;

struct Arch {
  const char* architecture;
  const char* model_type;
  bool runnable;  // the runtime runs it; the others are read for their shapes only
};
constexpr Arch kArchs[] = {{"LlamaForCausalLM", "llama", true},
                           {"MistralForCausalLM", "mistral", true},
                           {"Qwen2ForCausalLM", "qwen2", true},
                           {"FalconForCausalLM", "falcon", false},
                           {"GptOssForCausalLM", "gpt_oss", false}};

bool usable(const Arch& a, ConfigUse use) { return a.runnable || use == ConfigUse::Shapes; }

std::string pick_architecture(const Reader& r, const json& j, std::string& model_type, ConfigUse use) {
  const char* supported = use == ConfigUse::Run ? kSupportedArchitectures : kShapeArchitectures;
  std::string arch;
  if (r.has("architectures")) {
    const json& a = j["architectures"];
    if (!a.is_array() || a.empty() || !a[0].is_string())
      fail("{}: \"architectures\" must be a list of class names, got {}", r.source(), a.dump().substr(0, 80));
    arch = a[0].get<std::string>();
  }
  model_type = r.string("model_type", "");
  if (arch.empty()) {
    for (const auto& k : kArchs)
      if (usable(k, use) && model_type == k.model_type) arch = k.architecture;
    if (arch.empty())
      fail("{}: unsupported architecture {} (supported: {})", r.source(),
           model_type.empty() ? "(no architectures or model_type given)" : "model_type " + printable(model_type),
           supported);
  }
  for (const auto& k : kArchs)
    if (usable(k, use) && arch == k.architecture) {
      if (model_type.empty()) model_type = k.model_type;
      return arch;
    }
  fail("{}: unsupported architecture {} (supported: {})", r.source(), printable(arch), supported);
}

// rope_scaling (4.x) or rope_parameters (5.x): same keys, the 5.x one also holds rope_theta.
void read_rope(const Reader& r, const json& j, RopeConfig& rope) {
  const json* params = nullptr;
  std::string where;
  if (r.has("rope_parameters")) {
    params = &j["rope_parameters"];
    where = " in rope_parameters";
    if (!params->is_object())
      fail("{}: \"rope_parameters\" must be an object, got {}", r.source(), params->dump().substr(0, 60));
    // 5.x models with several attention kinds key rope_parameters by layer type; none of ours do.
    if (!params->contains("rope_type") && !params->contains("rope_theta"))
      fail("{}: \"rope_parameters\" has neither rope_type nor rope_theta (per-layer-type RoPE is not supported)",
           r.source());
    rope.theta = r.number(*params, "rope_theta", 1e-6, 1e12,
                          r.has("rope_theta") ? std::optional<double>(r.number(j, "rope_theta", 1e-6, 1e12, {}, ""))
                                              : std::optional<double>(10000.0),
                          where);
  } else {
    rope.theta = r.number(j, "rope_theta", 1e-6, 1e12, 10000.0, "");
    if (r.has("rope_scaling")) {
      params = &j["rope_scaling"];
      where = " in rope_scaling";
      if (!params->is_object())
        fail("{}: \"rope_scaling\" must be an object or null, got {}", r.source(), params->dump().substr(0, 60));
    }
  }
  if (!params) return;
  // Older files say "type"; transformers reads either.
  const char* type_key = params->contains("rope_type") ? "rope_type" : (params->contains("type") ? "type" : nullptr);
  std::string type = "default";
  if (type_key) {
    if (!(*params)[type_key].is_string())
      fail("{}: \"{}\"{} must be a string", r.source(), type_key, where);
    type = (*params)[type_key].get<std::string>();
  }
  if (type == "default") {
    rope.type = "default";
  } else if (type == "linear") {
    rope.type = "linear";
    rope.factor = r.number(*params, "factor", 1e-6, 1e6, {}, where);
  } else if (type == "llama3") {
    rope.type = "llama3";
    rope.factor = r.number(*params, "factor", 1e-6, 1e6, {}, where);
    rope.low_freq_factor = r.number(*params, "low_freq_factor", 1e-6, 1e6, {}, where);
    rope.high_freq_factor = r.number(*params, "high_freq_factor", 1e-6, 1e6, {}, where);
    if (rope.high_freq_factor <= rope.low_freq_factor)
      fail("{}: \"high_freq_factor\"{} ({}) must be greater than low_freq_factor ({})", r.source(), where,
           rope.high_freq_factor, rope.low_freq_factor);
    double omp = r.number(*params, "original_max_position_embeddings", 1, 1e12, {}, where);
    if (omp != std::floor(omp) || omp > kMaxPositions)
      fail("{}: \"original_max_position_embeddings\"{} must be a whole number, got {}", r.source(), where, omp);
    rope.original_max_position_embeddings = static_cast<int>(std::min<double>(omp, 2147483647.0));
  } else {
    fail("{}: unsupported RoPE type {}{} (supported: default, linear, llama3)", r.source(), printable(type), where);
  }
}

// The sizes every Llama-style decoder has (Llama, Mistral, Qwen2, GPT-OSS).
void read_decoder_sizes(const Reader& r, ModelConfig& c) {
  const std::string& source_name = r.source();
  c.hidden_size = static_cast<int>(r.integer("hidden_size", 1, kMaxDim, {}));
  c.num_hidden_layers = static_cast<int>(r.integer("num_hidden_layers", 1, kMaxCount, {}));
  c.num_attention_heads = static_cast<int>(r.integer("num_attention_heads", 1, kMaxCount, {}));
  c.num_key_value_heads =
      static_cast<int>(r.integer("num_key_value_heads", 1, kMaxCount, c.num_attention_heads));
  if (c.num_attention_heads % c.num_key_value_heads != 0)
    fail("{}: \"num_key_value_heads\" = {} does not divide num_attention_heads = {}", source_name,
         c.num_key_value_heads, c.num_attention_heads);
  if (r.has("head_dim")) {
    c.head_dim = static_cast<int>(r.integer("head_dim", 1, kMaxDim, {}));
  } else {
    if (c.hidden_size % c.num_attention_heads != 0)
      fail("{}: \"hidden_size\" = {} is not divisible by num_attention_heads = {} (and no head_dim is given)",
           source_name, c.hidden_size, c.num_attention_heads);
    c.head_dim = c.hidden_size / c.num_attention_heads;
  }
  // Bounding the projection widths too keeps every tensor's size far inside 64 bits.
  if (1LL * c.num_attention_heads * c.head_dim > kMaxDim)
    fail("{}: num_attention_heads x head_dim = {} x {} is out of range (at most {})", source_name,
         c.num_attention_heads, c.head_dim, kMaxDim);
  c.intermediate_size = static_cast<int>(r.integer("intermediate_size", 1, kMaxDim, {}));
  c.vocab_size = static_cast<int>(r.integer("vocab_size", 1, kMaxVocab, {}));
}

// Llama, Mistral and Qwen2 after their sizes: what running them needs (Run), biases, tying, windows.
void read_llama_family(const Reader& r, const json& j, ModelConfig& c, ConfigUse use) {
  const std::string& source_name = r.source();
  const bool qwen2 = c.architecture == "Qwen2ForCausalLM";
  const bool llama = c.architecture == "LlamaForCausalLM";
  if (use == ConfigUse::Run) {
    if (c.head_dim % 2 != 0)
      fail("{}: head dimension {} is odd; RoPE rotates pairs of dimensions", source_name, c.head_dim);
    const long long default_positions = qwen2 ? 32768 : (llama ? 2048 : 4096 * 32);
    c.max_position_embeddings = static_cast<int>(
        r.integer("max_position_embeddings", 1, std::numeric_limits<int>::max(), default_positions));
    c.rms_norm_eps = r.number(j, "rms_norm_eps", 1e-30, 1.0, 1e-6, "");
    read_rope(r, j, c.rope);
    const std::string act = r.string("hidden_act", "silu");
    if (act != "silu")
      fail("{}: \"hidden_act\" = {} is not supported (the Llama family uses silu)", source_name, printable(act));
  }
  c.tie_word_embeddings = r.boolean("tie_word_embeddings", false);
  if (qwen2) {
    c.attention_bias = true;  // Qwen2 always has q/k/v bias and never an o_proj bias
    c.o_proj_bias = false;
  } else if (llama) {
    c.attention_bias = c.o_proj_bias = r.boolean("attention_bias", false);
    c.mlp_bias = r.boolean("mlp_bias", false);
  }

  if (use == ConfigUse::Run) {
    if (r.has("bos_token_id")) c.bos_token_id = static_cast<int>(r.integer("bos_token_id", 0, kMaxVocab * 4, {}));
    if (r.has("eos_token_id")) {
      const json& e = j["eos_token_id"];
      if (e.is_array()) {
        for (std::size_t i = 0; i < e.size(); ++i)
          c.eos_token_ids.push_back(
              static_cast<int>(r.integer_value(e[i], fmt::format("eos_token_id[{}]", i), 0, kMaxVocab * 4)));
      } else {
        c.eos_token_ids.push_back(static_cast<int>(r.integer("eos_token_id", 0, kMaxVocab * 4, {})));
      }
      if (!c.eos_token_ids.empty()) c.eos_token_id = c.eos_token_ids.front();
    }
    std::string dtype = r.has("dtype") ? r.string("dtype", "") : r.string("torch_dtype", "float32");
    if (dtype.rfind("torch.", 0) == 0) dtype = dtype.substr(6);
    c.dtype = dtype;
  }

  if (qwen2) {
    if (r.boolean("use_sliding_window", false))
      c.sliding_window = static_cast<int>(r.integer("sliding_window", 1, std::numeric_limits<int>::max(), {}));
  } else if (!llama && r.has("sliding_window")) {
    c.sliding_window = static_cast<int>(r.integer("sliding_window", 1, std::numeric_limits<int>::max(), {}));
  }
  c.sliding_layers = c.sliding_window > 0 ? c.num_hidden_layers : 0;
}

// The model's size with checked arithmetic: the tensors outside the layers, plus num_hidden_layers times
// one layer's (every layer of these families has the same tensors), without listing every layer.
// nullopt past kMaxParameters.
std::optional<long long> bounded_parameter_count(const ModelConfig& c) {
  ModelConfig one = c;
  one.num_hidden_layers = 1;
  long long outside = 0, layer = 0, total = 0;
  for (const TensorEntry& t : tensor_map(one)) (t.layer < 0 ? outside : layer) += t.numel();  // each < 2^62
  if (__builtin_mul_overflow(layer, static_cast<long long>(c.num_hidden_layers), &total) ||
      __builtin_add_overflow(total, outside, &total) || total > kMaxParameters)
    return std::nullopt;
  return total;
}

void check_total_size(const ModelConfig& c) {
  if (!bounded_parameter_count(c))
    fail("{}: the shapes imply more than {} parameters ({} layers, hidden {}, intermediate {}, vocab {}{}); "
         "check those fields",
         c.name(), kMaxParameters, c.num_hidden_layers, c.hidden_size, c.intermediate_size, c.vocab_size,
         c.num_experts ? fmt::format(", {} experts", c.num_experts) : "");
}

}  // namespace

ModelConfig parse_model_config(const json& j, const std::string& source_name, ConfigUse use) {
  if (!j.is_object()) fail("{}: must be a JSON object, got {}", source_name, j.type_name());
  Reader r(j, source_name);
  ModelConfig c;
  c.source = source_name;
  c.architecture = pick_architecture(r, j, c.model_type, use);
  if (c.architecture == "FalconForCausalLM") {
    config::read_falcon(r, c);
  } else {
    read_decoder_sizes(r, c);
    if (c.architecture == "GptOssForCausalLM")
      config::read_gpt_oss(r, c);
    else
      read_llama_family(r, j, c, use);
  }
  check_total_size(c);
  return c;
}

ModelConfig load_model_config(const std::filesystem::path& path, ConfigUse use) {
  std::error_code ec;
  // A model folder, or the config file itself (which may be anything: read_file names what it is).
  std::filesystem::path file =
      std::filesystem::is_directory(path, ec) && path.filename() != "config.json" ? path / "config.json" : path;
  if (!std::filesystem::exists(file, ec)) {
    if (ec && ec != std::errc::no_such_file_or_directory)
      fail("{}: cannot be read: {}", file.string(), ec.message());  // an unreadable folder is not "no such file"
    fail("{}: no such file (a model folder needs a config.json)", file.string());
  }
  return parse_model_config(parse_json_strict(read_file(file), file.string()), file.string(), use);
}

bool ModelConfig::runnable() const {
  for (const auto& k : kArchs)
    if (k.runnable && architecture == k.architecture) return true;
  return false;
}

std::string ModelConfig::name() const { return source.empty() ? std::string("model config") : source; }

long long ModelConfig::parameter_count() const {
  const auto n = bounded_parameter_count(*this);
  if (!n) fail("{}: the shapes imply more than {} parameters", name(), kMaxParameters);
  return *n;
}

json model_config_to_json(const ModelConfig& c, ConfigStyle style) {
  if (!c.runnable())
    fail("{}: writing a {} config is not supported (only {})", c.name(), printable(c.architecture),
         kSupportedArchitectures);
  json j;
  j["architectures"] = json::array({c.architecture});
  j["model_type"] = c.model_type;
  j["vocab_size"] = c.vocab_size;
  j["hidden_size"] = c.hidden_size;
  j["intermediate_size"] = c.intermediate_size;
  j["num_hidden_layers"] = c.num_hidden_layers;
  j["num_attention_heads"] = c.num_attention_heads;
  j["num_key_value_heads"] = c.num_key_value_heads;
  j["head_dim"] = c.head_dim;
  j["max_position_embeddings"] = c.max_position_embeddings;
  j["rms_norm_eps"] = c.rms_norm_eps;
  j["hidden_act"] = "silu";
  j["initializer_range"] = 0.02;
  j["tie_word_embeddings"] = c.tie_word_embeddings;
  j["use_cache"] = true;
  if (c.architecture == "LlamaForCausalLM") {
    j["attention_bias"] = c.attention_bias;
    j["mlp_bias"] = c.mlp_bias;
  }
  if (c.architecture == "Qwen2ForCausalLM") {
    j["use_sliding_window"] = c.sliding_window > 0;
    j["sliding_window"] = c.sliding_window > 0 ? json(c.sliding_window) : json(nullptr);
  }
  if (c.architecture == "MistralForCausalLM")
    j["sliding_window"] = c.sliding_window > 0 ? json(c.sliding_window) : json(nullptr);
  if (c.bos_token_id >= 0) j["bos_token_id"] = c.bos_token_id;
  if (c.eos_token_ids.size() > 1)
    j["eos_token_id"] = c.eos_token_ids;
  else if (c.eos_token_id >= 0)
    j["eos_token_id"] = c.eos_token_id;

  json scaling = nullptr;
  if (c.rope.type == "linear") {
    scaling = {{"rope_type", "linear"}, {"factor", c.rope.factor}};
  } else if (c.rope.type == "llama3") {
    scaling = {{"rope_type", "llama3"},
               {"factor", c.rope.factor},
               {"low_freq_factor", c.rope.low_freq_factor},
               {"high_freq_factor", c.rope.high_freq_factor},
               {"original_max_position_embeddings", c.rope.original_max_position_embeddings}};
  }
  if (style == ConfigStyle::Transformers4) {
    j["rope_theta"] = c.rope.theta;
    j["rope_scaling"] = scaling;
    j["torch_dtype"] = c.dtype;
  } else {
    json p = scaling.is_null() ? json{{"rope_type", "default"}} : scaling;
    p["rope_theta"] = c.rope.theta;
    j["rope_parameters"] = p;
    j["dtype"] = c.dtype;
  }
  return j;
}

ModelConfig llama_config(int layers, int hidden, int heads, int kv_heads, int intermediate, int vocab) {
  ModelConfig c;
  c.architecture = "LlamaForCausalLM";
  c.model_type = "llama";
  c.num_hidden_layers = layers;
  c.hidden_size = hidden;
  c.num_attention_heads = heads;
  c.num_key_value_heads = kv_heads;
  c.head_dim = hidden / heads;
  c.intermediate_size = intermediate;
  c.vocab_size = vocab;
  c.rms_norm_eps = 1e-5;
  c.rope.theta = 10000.0;
  return c;
}

}  // namespace qlab::io
