// The GGUF side of `qlab info`: container facts, the model the runtime would build from it, the
// tokenizer, every tensor with its ggml type, and the metadata keys.
#include "app/gguf_info.h"

#include <map>
#include <optional>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "app/cli.h"
#include "engine/core/error.h"
#include "engine/gguf/gguf_file.h"
#include "engine/gguf/gguf_metadata.h"
#include "engine/gguf/gguf_model.h"
#include "engine/gguf/type_mix.h"
#include "engine/io/model_config.h"

namespace qlab::app {

namespace {

using nlohmann::json;

// A metadata value as short text: scalars in full (strings cut at 60 bytes), arrays by type and count.
std::string value_text(const gguf::MetaValue& v) {
  if (v.is_array()) return fmt::format("[{} x {}]", v.size(), gguf::value_type_name(v.element_type()));
  return std::visit(
      [&](const auto& vec) -> std::string {
        using T = typename std::decay_t<decltype(vec)>::value_type;
        if constexpr (std::is_same_v<T, std::string>) {
          std::string s = vec.front().substr(0, 60);
          for (char& c : s)
            if (static_cast<unsigned char>(c) < 0x20) c = ' ';
          return fmt::format("\"{}\"{}", s, vec.front().size() > 60 ? "..." : "");
        } else if constexpr (std::is_same_v<T, std::uint8_t>) {
          return v.element_type() == gguf::ValueType::Bool ? (vec.front() ? "true" : "false") : fmt::format("{}", vec.front());
        } else {
          return fmt::format("{}", vec.front());
        }
      },
      v.storage());
}

json value_json(const gguf::MetaValue& v) {
  if (v.is_array()) return {{"type", gguf::value_type_name(v.element_type())}, {"count", v.size()}};
  return value_text(v);
}

}  // namespace

bool is_gguf_info_arg(const std::filesystem::path& p) {
  std::error_code ec;
  return std::filesystem::is_regular_file(p, ec) && (p.extension() == ".gguf" || gguf::is_gguf_file(p));
}

int print_gguf_info(const std::filesystem::path& path, bool as_json) {
  const gguf::GgufFile f = gguf::GgufFile::open(path);
  // A file qlab does not run (another architecture) is still described; the reason is shown.
  std::optional<io::ModelConfig> cfg;
  std::string not_run;
  try {
    cfg = gguf::model_config_from_gguf(f);
  } catch (const Error& e) {
    not_run = e.what();
  }
  std::map<std::string, std::pair<std::int64_t, std::uint64_t>> by_type;  // elements, bytes
  std::int64_t params = 0;
  std::uint64_t tensor_bytes = 0;
  for (const auto& t : f.tensors()) {
    auto& e = by_type[std::string(gguf::type_name(t.type))];
    e.first += t.elements();
    e.second += t.size_bytes;
    params += t.elements();
    tensor_bytes += t.size_bytes;
  }
  const double bpw = params ? 8.0 * static_cast<double>(tensor_bytes) / static_cast<double>(params) : 0;
  std::string file_type = "(not given)";
  if (const auto* ft = f.find("general.file_type"); ft && !ft->is_array() && ft->element_type() == gguf::ValueType::U32) {
    const auto v = ft->as<std::uint32_t>();
    file_type = fmt::format("{}", v);
    for (const char* name : {"F32", "F16", "BF16", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q2_K", "Q3_K_S", "Q3_K_M",
                             "Q3_K_L", "Q4_K_S", "Q4_K_M", "Q5_K_S", "Q5_K_M", "Q6_K", "MXFP4_MOE"})
      if (auto x = gguf::file_type_from_name(name); x && static_cast<std::uint32_t>(*x) == v) file_type = name;
  }
  const std::string tok_model = f.find("tokenizer.ggml.model") ? f.get_string("tokenizer.ggml.model") : "(none)";
  const std::string tok_pre = f.find("tokenizer.ggml.pre") ? f.get_string("tokenizer.ggml.pre") : "";
  const std::size_t n_tokens = f.find("tokenizer.ggml.tokens") ? f.get_strings("tokenizer.ggml.tokens").size() : 0;

  if (as_json) {
    json j;
    j["model"] = path.string();
    j["format"] = "gguf";
    j["gguf_version"] = f.version();
    j["alignment"] = f.alignment();
    j["architecture"] = f.find("general.architecture") ? f.get_string("general.architecture") : "";
    if (cfg) j["config"] = io::model_config_to_json(*cfg);
    else j["runs"] = not_run;
    j["file_type"] = file_type;
    j["parameters"] = params;
    j["bytes"] = f.bytes().size();
    j["tensor_bytes"] = tensor_bytes;
    j["bits_per_weight"] = bpw;
    j["tokenizer"] = {{"model", tok_model}, {"pre", tok_pre}, {"tokens", n_tokens}};
    j["metadata"] = json::object();
    for (const auto& [k, v] : f.metadata()) j["metadata"][k] = value_json(v);
    j["tensors"] = json::array();
    for (const auto& t : f.tensors())
      j["tensors"].push_back({{"name", t.name}, {"type", gguf::type_name(t.type)}, {"shape", t.shape}, {"bytes", t.size_bytes}});
    print_json(j.dump(2));
    return 0;
  }
  fmt::print("model         {} (GGUF v{}, alignment {})\n", path.string(), f.version(), f.alignment());
  const std::string arch = f.find("general.architecture") ? f.get_string("general.architecture") : "(not given)";
  if (cfg) {
    const io::ModelConfig& c = *cfg;
    fmt::print("architecture  {} (runs as {}), file type {}\n", arch, c.architecture, file_type);
    fmt::print("shape         {} layers, hidden {}, {} heads ({} kv, head_dim {}), intermediate {}, vocab {}\n",
               c.num_hidden_layers, c.hidden_size, c.num_attention_heads, c.num_key_value_heads, c.head_dim,
               c.intermediate_size, c.vocab_size);
    fmt::print("rope          theta {}, {}{}\n", c.rope.theta, c.rope.freq_factors.empty() ? c.rope.type : "rope_freqs factors",
               c.rope.type == "linear" ? fmt::format(" (factor {})", c.rope.factor) : std::string());
    fmt::print("embeddings    {}; q/k/v bias {}\n", c.tie_word_embeddings ? "tied (no output.weight)" : "untied",
               c.attention_bias ? "yes" : "no");
  } else {
    fmt::print("architecture  {}, file type {}; qlab does not run it: {}\n", arch, file_type, not_run);
  }
  fmt::print("tokenizer     {}{}, {} tokens\n", tok_model, tok_pre.empty() ? "" : fmt::format(" (pre-tokenizer {})", tok_pre),
             n_tokens);
  std::vector<std::string> types;
  for (const auto& [t, e] : by_type) types.push_back(fmt::format("{} {}", t, e.first));
  fmt::print("parameters    {} ({}); {:.3f} bits per weight; {} bytes of tensors in a {}-byte file\n", params,
             fmt::join(types, ", "), bpw, tensor_bytes, f.bytes().size());
  fmt::print("\ntensors ({}):\n", f.tensors().size());
  std::size_t w = 4;
  for (const auto& t : f.tensors()) w = std::max(w, t.name.size());
  for (const auto& t : f.tensors())
    fmt::print("  {:<{}}  {:<7} [{}]  {} bytes\n", t.name, w, gguf::type_name(t.type), fmt::join(t.shape, ", "), t.size_bytes);
  fmt::print("\nmetadata ({} keys):\n", f.metadata().size());
  w = 4;
  for (const auto& [k, v] : f.metadata()) w = std::max(w, k.size());
  for (const auto& [k, v] : f.metadata()) fmt::print("  {:<{}}  {}\n", k, w, value_text(v));
  return 0;
}

}  // namespace qlab::app
