// `qlab info MODEL`: what a model folder holds — architecture, parameter count, every tensor, and
// the memory its weights take in each storage format.
#include <algorithm>
#include <cstdio>
#include <map>
#include <optional>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "app/cli.h"
#include "app/gguf_info.h"
#include "app/model_arg.h"
#include "engine/core/error.h"
#include "engine/formats/block.h"
#include "engine/io/model_config.h"
#include "engine/io/quant_checkpoint.h"
#include "engine/io/safetensors.h"
#include "engine/io/tensor_map.h"

namespace qlab::app {

namespace {

// How the checkpoint's Linears read their inputs, as qlab runs it.
std::string activation_text(const io::QuantScheme& s) {
  if (s.ints || !s.input_scale()) return "kept in the compute precision (weight-only quantization)";
  return fmt::format("{} with the stored per-tensor input scale: quantized at run time, emulated in float32",
                     s.format == "nvfp4" ? "NVFP4 (blocks of 16, E4M3 block scales)" : "FP8 E4M3");
}

using nlohmann::json;

// The weights a --quant run replaces (the tensor map's Linear weights, by name). Embeddings, lm_head,
// norms and biases stay as stored.
bool quantized(const io::TensorRef& t) { return t.shape.size() == 2 && io::quantized(io::role_of(t.name)); }

struct FormatRow {
  std::string format;
  double linear_bpw = 0;   // bits per weight over the linear weights
  std::uint64_t bytes = 0;  // whole model
  bool padded = false;     // some rows had to be padded to the block size
};

std::vector<FormatRow> memory_by_format(const io::TensorStore& store) {
  std::uint64_t linear_n = 0, other_bytes = 0, all_n = 0;
  std::vector<const io::TensorRef*> linear;
  for (const auto& name : store.names()) {
    const io::TensorRef& t = store.at(name);
    all_n += static_cast<std::uint64_t>(t.numel());
    if (quantized(t)) {
      linear.push_back(&t);
      linear_n += static_cast<std::uint64_t>(t.numel());
    } else {
      other_bytes += t.bytes.size();
    }
  }
  std::vector<FormatRow> rows;
  for (auto [fmt_name, width] : {std::pair{"f32", 4}, std::pair{"f16", 2}, std::pair{"bf16", 2}})
    rows.push_back({fmt_name, 8.0 * width, all_n * static_cast<std::uint64_t>(width), false});
  for (const auto& spec : formats::all_block_formats()) {
    FormatRow r{spec.name, 0, other_bytes, false};
    std::uint64_t lin = 0;
    for (const auto* t : linear) {
      const std::int64_t cols = formats::padded_cols(spec, t->shape[1]);
      r.padded = r.padded || cols != t->shape[1];
      lin += formats::storage_sizes(spec, t->shape[0], cols).total();
    }
    r.bytes += lin;
    r.linear_bpw = linear_n ? 8.0 * static_cast<double>(lin) / static_cast<double>(linear_n) : 0.0;
    rows.push_back(r);
  }
  return rows;
}

// A quantized checkpoint's packed Linear weights (quant_checkpoint.h).
struct PackedSummary {
  std::size_t linear = 0;             // Linear weights stored packed
  std::uint64_t weights = 0, bytes = 0;  // their weights, and the bytes of every part
};

// Names the config implies that the files lack or hold with another shape, and names the files
// hold that the config does not imply. A quantized checkpoint's Linear weights are checked against
// its layout (every part's name, dtype and shape) and summarised in `packed`.
std::vector<std::string> check_against_config(const io::ModelConfig& c, const io::TensorStore& store,
                                              const std::optional<io::QuantScheme>& scheme, PackedSummary& packed) {
  std::vector<std::string> notes;
  std::set<std::string> expected;
  for (const auto& h : io::tensor_map(c)) {
    if (scheme && h.linear_weight() && h.shape.size() == 2) {
      const std::string module = h.name.substr(0, h.name.size() - 7);  // without ".weight"
      try {
        const bool stored_packed = scheme->ints
                                       ? io::read_int_linear(store, *scheme->ints, module, h.shape[0], h.shape[1]).has_value()
                                       : io::read_packed_linear(store, *scheme, module, h.shape[0], h.shape[1]) != nullptr;
        if (stored_packed) {
          for (const auto& part : io::linear_parts(*scheme, h.shape[0], h.shape[1])) {
            expected.insert(module + "." + part.suffix);
            packed.bytes += store.at(module + "." + part.suffix).bytes.size();
          }
          ++packed.linear;
          packed.weights += static_cast<std::uint64_t>(h.numel());
          // the activation scale of a W4A4 checkpoint, read and not used (activations are not quantized)
          if (store.find(module + ".input_scale")) expected.insert(module + ".input_scale");
          continue;
        }
      } catch (const Error& e) {
        notes.push_back(e.what());
        continue;
      }
    }
    expected.insert(h.name);
    const io::TensorRef* t = store.find(h.name);
    if (!t)
      notes.push_back(fmt::format("missing tensor {}", h.name));
    else if (t->shape != h.shape)
      notes.push_back(fmt::format("tensor {} has shape [{}], the config implies [{}]", h.name,
                                  fmt::join(t->shape, ", "), fmt::join(h.shape, ", ")));
  }
  for (const auto& name : store.names())
    if (!expected.count(name)) notes.push_back(fmt::format("unexpected tensor {}", name));
  return notes;
}

std::string human_bytes(std::uint64_t b) {
  if (b >= 1'000'000'000ull) return fmt::format("{:.2f} GB", b / 1e9);
  if (b >= 1'000'000ull) return fmt::format("{:.2f} MB", b / 1e6);
  if (b >= 1000ull) return fmt::format("{:.1f} kB", b / 1e3);
  return fmt::format("{} B", b);
}

std::string grouped(long long n) {
  std::string s = std::to_string(n), out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (i && (s.size() - i) % 3 == 0) out += ',';
    out += s[i];
  }
  return out;
}

int run(const Args& a) {
  const std::string arg = a.positional().at(0);
  if (is_gguf_info_arg(arg)) return print_gguf_info(arg, a.json());
  std::filesystem::path path;
  std::optional<io::ModelConfig> cfg;
  if (std::filesystem::is_regular_file(arg)) {
    path = arg;  // a single .safetensors file (or shard index): tensors only
  } else {
    path = resolve_model_arg(arg);
    cfg = io::load_model_config(path / "config.json");
  }
  const io::TensorStore store = io::TensorStore::open(path);
  const std::optional<io::QuantScheme> scheme =
      cfg ? io::read_checkpoint_scheme(path) : std::optional<io::QuantScheme>{};

  long long tensor_params = 0;
  std::map<std::string, long long> by_dtype;
  for (const auto& name : store.names()) {
    const auto& t = store.at(name);
    tensor_params += t.numel();
    by_dtype[std::string(io::dtype_name(t.dtype))] += t.numel();
  }
  PackedSummary packed;
  const std::vector<std::string> notes =
      cfg ? check_against_config(*cfg, store, scheme, packed) : std::vector<std::string>{};
  // The table re-quantizes stored Linear weights: meaningless for weights already packed.
  const std::vector<FormatRow> memory = scheme ? std::vector<FormatRow>{} : memory_by_format(store);
  const double packed_bpw = packed.weights ? 8.0 * static_cast<double>(packed.bytes) / packed.weights : 0.0;

  if (a.json()) {
    json j;
    j["model"] = path.string();
    if (cfg) {
      j["architecture"] = cfg->architecture;
      j["config"] = io::model_config_to_json(*cfg);
      j["parameters_from_config"] = cfg->parameter_count();
      j["config_check"] = notes;
    }
    j["parameters"] = tensor_params;
    if (scheme)
      j["quantization"] = {{"method", scheme->method}, {"export", scheme->export_name()},
                           {"format", scheme->format}, {"ignore", scheme->ignore},
                           {"packed_linear_weights", packed.linear}, {"packed_weights", packed.weights},
                           {"packed_bytes", packed.bytes}, {"packed_bits_per_weight", packed_bpw},
                           {"activations", activation_text(*scheme)}};
    j["bytes"] = store.total_bytes();
    j["files"] = json::array();
    for (const auto& f : store.files()) j["files"].push_back(f.filename().string());
    j["metadata"] = store.metadata();
    j["tensors"] = json::array();
    for (const auto& name : store.names()) {
      const auto& t = store.at(name);
      j["tensors"].push_back({{"name", name},
                              {"dtype", io::dtype_name(t.dtype)},
                              {"shape", t.shape},
                              {"bytes", t.bytes.size()},
                              {"file", std::filesystem::path(t.file).filename().string()}});
    }
    j["memory"] = json::array();
    for (const auto& r : memory)
      j["memory"].push_back(
          {{"format", r.format}, {"linear_bits_per_weight", r.linear_bpw}, {"bytes", r.bytes}, {"padded", r.padded}});
    print_json(j.dump(2));
    return 0;
  }

  fmt::print("model         {}\n", path.string());
  if (cfg) {
    const auto& c = *cfg;
    fmt::print("architecture  {} ({}), config dtype {}\n", c.architecture, c.model_type, c.dtype);
    fmt::print("shape         {} layers, hidden {}, {} heads ({} kv, head_dim {}), intermediate {}, vocab {}\n",
               c.num_hidden_layers, c.hidden_size, c.num_attention_heads, c.num_key_value_heads, c.head_dim,
               c.intermediate_size, c.vocab_size);
    fmt::print("rope          theta {}, {}{}\n", c.rope.theta, c.rope.type,
               c.rope.type == "default" ? "" : fmt::format(" (factor {})", c.rope.factor));
    fmt::print("embeddings    {}; q/k/v bias {}\n", c.tie_word_embeddings ? "tied to lm_head" : "untied",
               c.attention_bias ? "yes" : "no");
    fmt::print("parameters    {} (tensors), {} (implied by config)\n", grouped(tensor_params),
               grouped(c.parameter_count()));
  } else {
    fmt::print("parameters    {}\n", grouped(tensor_params));
  }
  std::vector<std::string> dt;
  for (const auto& [d, n] : by_dtype) dt.push_back(fmt::format("{} {}", d, grouped(n)));
  fmt::print("stored as     {} ({} in {} file{})\n", fmt::join(dt, ", "), human_bytes(store.total_bytes()),
             store.files().size(), store.files().size() == 1 ? "" : "s");
  if (scheme)
    fmt::print("quantization  {} ({}, format {}): {} Linear weights packed, {:.3f} bits per weight from the "
               "stored bytes; kept: {}\n", scheme->method, scheme->export_name(), scheme->format,
               packed.linear, packed_bpw, scheme->ignore.empty() ? "none" : fmt::format("{}", fmt::join(scheme->ignore, ", ")));
  if (scheme) fmt::print("activations   {}\n", activation_text(*scheme));
  if (cfg) {
    if (notes.empty())
      fmt::print("check         every tensor the config implies is present with its shape\n");
    for (const auto& n : notes) fmt::print("check         {}\n", n);
  }

  fmt::print("\ntensors ({}):\n", store.size());
  std::size_t w = 4;
  for (const auto& name : store.names()) w = std::max(w, name.size());
  for (const auto& name : store.names()) {
    const auto& t = store.at(name);
    fmt::print("  {:<{}}  {:<7} [{}]\n", name, w, io::dtype_name(t.dtype), fmt::join(t.shape, ", "));
  }

  if (scheme) return 0;  // already quantized: no table of what other formats would take
  fmt::print("\nmemory by format (f32/f16/bf16: every tensor in that type; block formats: the decoder layers' "
             "Linear weights in the format, embeddings, lm_head and norms as stored):\n");
  fmt::print("  {:<18} {:>8} {:>12}\n", "format", "bits/w", "total");
  for (const auto& r : memory)
    fmt::print("  {:<18} {:>8.3f} {:>12}{}\n", r.format, r.linear_bpw, human_bytes(r.bytes),
               r.padded ? "  (rows padded to the block size)" : "");
  return 0;
}

const Registrar reg({
    "info",
    "architecture, parameter count, tensors and memory by format of a model",
    "MODEL",
    {},
    "MODEL is a Hugging Face model folder (config.json + model.safetensors or a sharded index), 'builtin',\n"
    "a single .safetensors file, or a GGUF file (then: its tensors' ggml types, metadata and tokenizer).\n"
    "The f32/f16/bf16 rows store every tensor in that type; the block-format\n"
    "rows quantize the Linear weights of the decoder layers and keep everything else as stored.",
    1,
    1,
    run,
});

}  // namespace

}  // namespace qlab::app
