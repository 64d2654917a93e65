// A model's tensor groups from its config (the tensor map grouped by name), and the catalog of published configs.
#include "engine/capacity/model_arch.h"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "engine/core/error.h"

namespace qlab::capacity {

using nlohmann::json;

std::int64_t ModelArch::parameter_count() const {
  std::int64_t n = 0;
  for (const auto& t : tensors) n += t.parameters();
  return n;
}

std::int64_t ModelArch::active_parameter_count() const {
  const std::int64_t experts = config.num_experts;
  std::int64_t n = 0;
  for (const auto& t : tensors) {
    if (t.role == io::TensorRole::Embedding) continue;  // a table lookup, not a matmul
    if (t.role == io::TensorRole::Experts ||
        (experts > 0 && t.role == io::TensorRole::Bias && t.name.find("experts") != std::string::npos))
      n += t.parameters() / experts * config.num_experts_per_tok;
    else
      n += t.parameters();
  }
  return n;
}

namespace {

// "model.layers.12.mlp.up_proj.weight" -> "model.layers.*.mlp.up_proj.weight"
std::string group_name(const io::TensorEntry& t) {
  if (t.layer < 0) return t.name;
  const std::string idx = fmt::format(".{}.", t.layer);
  std::string n = t.name;
  if (auto p = n.find(idx); p != std::string::npos) n.replace(p, idx.size(), ".*.");
  return n;
}

std::string lower(std::string s) {
  for (auto& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return s;
}

}  // namespace

ModelArch arch_from_config(io::ModelConfig config) {
  ModelArch a;
  for (const io::TensorEntry& t : io::tensor_map(config)) {
    const std::string name = group_name(t);
    auto g = std::find_if(a.tensors.begin(), a.tensors.end(), [&](const TensorGroup& x) {
      return x.name == name && x.rows == t.rows && x.cols == t.cols;
    });
    if (g == a.tensors.end()) g = a.tensors.insert(a.tensors.end(), {name, t.role, t.rows, t.cols, 0});
    g->count += t.stack;
  }
  a.config = std::move(config);
  return a;
}

ModelArch arch_from_hf_config(const json& config, const std::string& source) {
  return arch_from_config(io::parse_model_config(config, source, io::ConfigUse::Shapes));
}

std::vector<ModelArch> load_model_catalog(const json& catalog, const std::string& source) {
  if (!catalog.is_object() || !catalog.contains("models") || !catalog["models"].is_array())
    fail("{}: expected an object with a 'models' array", source);
  auto text = [&](const json& obj, const char* key, const std::string& fallback, const std::string& where) {
    auto it = obj.find(key);
    if (it == obj.end()) return fallback;
    if (!it->is_string()) fail("{}: {}'{}' must be a string", source, where, key);
    return it->get<std::string>();
  };
  auto number = [&](const json& obj, const char* key, const std::string& where) {
    auto it = obj.find(key);
    if (it == obj.end()) return 0.0;
    if (!it->is_number()) fail("{}: {}'{}' must be a number", source, where, key);
    return it->get<double>();
  };
  std::vector<ModelArch> out;
  for (const auto& m : catalog["models"]) {
    if (!m.is_object()) fail("{}: every entry of 'models' must be an object", source);
    std::string id = text(m, "id", "", "");
    if (id.empty()) fail("{}: a model has no 'id'", source);
    const std::string where = "model '" + id + "': ";
    if (!m.contains("config")) fail("{}: model '{}' has no 'config'", source, id);
    ModelArch a = arch_from_hf_config(m["config"], source + ": " + id);
    a.id = id;
    a.name = text(m, "name", id, where);
    a.repo = text(m, "repo", "", where);
    a.note = text(m, "note", "", where);
    if (m.contains("published_parameters")) {
      const auto& p = m["published_parameters"];
      if (!p.is_object()) fail("{}: {}'published_parameters' must be an object", source, where);
      a.published_parameters = number(p, "value", where);
      a.published_rounded_to = number(p, "rounded_to", where);
      a.published_source = text(p, "source", "", where);
    }
    out.push_back(std::move(a));
  }
  return out;
}

}  // namespace qlab::capacity

extern const char qlab_model_configs_json[];
extern const unsigned long qlab_model_configs_json_size;

namespace qlab::capacity {

const std::vector<ModelArch>& builtin_models() {
  static const std::vector<ModelArch> models = [] {
    auto j = json::parse(qlab_model_configs_json, qlab_model_configs_json + qlab_model_configs_json_size);
    return load_model_catalog(j, "assets/model_configs.json");
  }();
  return models;
}

const ModelArch& builtin_model(const std::string& id_or_name) {
  std::string want = lower(id_or_name);
  std::string ids;
  for (const auto& m : builtin_models()) {
    if (lower(m.id) == want || lower(m.name) == want) return m;
    ids += (ids.empty() ? "" : ", ") + m.id;
  }
  fail("unknown model '{}' (known: {})", id_or_name, ids);
}

}  // namespace qlab::capacity
