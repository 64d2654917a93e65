// The plan of a quantize run (quantize_plan.h).
#include "engine/exporter/quantize_plan.h"

#include <fnmatch.h>

#include <algorithm>
#include <map>
#include <set>

#include <fmt/format.h>

#include "engine/core/error.h"
#include "engine/io/tensor_map.h"

namespace qlab::exporter {

namespace {

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The fused group a Linear module serves in (vLLM's packed_modules_mapping for Llama-family models:
// qkv_proj = q/k/v, gate_up_proj = gate/up); the module itself when it is not fused.
std::string fusion_key(const std::string& module) {
  const auto dot = module.rfind('.');
  const std::string parent = dot == std::string::npos ? "" : module.substr(0, dot);
  const std::string leaf = dot == std::string::npos ? module : module.substr(dot + 1);
  if (leaf == "q_proj" || leaf == "k_proj" || leaf == "v_proj") return parent + ".qkv_proj";
  if (leaf == "gate_proj" || leaf == "up_proj") return parent + ".gate_up_proj";
  return module;
}

bool is_float_dtype(io::DType d) { return d == io::DType::F32 || d == io::DType::F16 || d == io::DType::BF16; }

}  // namespace

std::string module_of(const std::string& tensor_name) {
  return ends_with(tensor_name, ".weight") ? tensor_name.substr(0, tensor_name.size() - 7) : tensor_name;
}

QuantizePlan plan_quantize(const io::TensorStore& store, const std::vector<std::string>& order,
                           io::QuantScheme scheme, const std::vector<std::string>& exclude) {
  QuantizePlan plan;
  std::vector<const io::TensorRef*> tensors;
  std::set<std::string> seen;
  for (const auto& name : order)
    if (const io::TensorRef* t = store.find(name); t && seen.insert(name).second) tensors.push_back(t);
  for (const auto& name : store.names())
    if (seen.insert(name).second) tensors.push_back(&store.at(name));

  const formats::BlockFormatSpec& spec = scheme.spec();
  std::vector<std::size_t> pattern_hits(exclude.size(), 0);
  std::map<std::string, std::size_t> group_item;  // fusion key -> index in plan.items
  std::map<std::string, bool> group_excluded;      // fusion key -> excluded (first member's call)
  for (const io::TensorRef* t : tensors) {
    plan.source_bytes += t->bytes.size();
    const bool linear = ends_with(t->name, ".weight") && io::is_linear_weight(io::role_of(t->name));
    if (!linear) {
      if (io::role_of(t->name) == io::TensorRole::LmHead) scheme.ignore.push_back(module_of(t->name));
      plan.items.push_back({{t}, false});
      ++plan.kept;
      continue;
    }
    const std::string module = module_of(t->name);
    bool excluded = false;
    for (std::size_t i = 0; i < exclude.size(); ++i) {
      if (exclude[i] == module || ::fnmatch(exclude[i].c_str(), module.c_str(), 0) == 0) {
        excluded = true;
        ++pattern_hits[i];
      }
    }
    const std::string key = fusion_key(module);
    if (auto g = group_excluded.find(key); g != group_excluded.end() && g->second != excluded)
      fail("--exclude covers part of the fused layer {} ('{}' is {}): vLLM loads q/k/v and gate/up as one "
           "layer, so exclude all of its members or none", key, module, excluded ? "excluded" : "not excluded");
    group_excluded[key] = excluded;
    if (excluded) {
      scheme.ignore.push_back(module);
      plan.items.push_back({{t}, false});
      ++plan.kept;
      continue;
    }
    if (!is_float_dtype(t->dtype))
      fail("{}: tensor '{}' is {}; quantize reads F32, F16 or BF16 weights (is the model already quantized?)",
           t->file, t->name, io::dtype_name(t->dtype));
    if (t->shape.size() != 2)
      fail("{}: tensor '{}' has {} dimensions; quantize takes 2-D Linear weights (MoE experts are not "
           "supported yet: --exclude them)", t->file, t->name, t->shape.size());
    if (spec.block_size > 0 && t->shape[1] % spec.block_size != 0)
      fail("{}: tensor '{}' has {} input columns, not a multiple of {}'s block of {} (the loaders do not pad; "
           "--exclude it)", t->file, t->name, t->shape[1], spec.name, spec.block_size);
    plan.linear_bytes += t->bytes.size();
    ++plan.quantized;
    if (auto g = group_item.find(key); g != group_item.end()) {
      plan.items[g->second].members.push_back(t);
    } else {
      group_item[key] = plan.items.size();
      plan.items.push_back({{t}, true});
    }
  }
  for (std::size_t i = 0; i < exclude.size(); ++i)
    if (pattern_hits[i] == 0) plan.unmatched.push_back(exclude[i]);
  std::sort(scheme.ignore.begin(), scheme.ignore.end());
  scheme.ignore.erase(std::unique(scheme.ignore.begin(), scheme.ignore.end()), scheme.ignore.end());
  plan.scheme = std::move(scheme);
  return plan;
}

}  // namespace qlab::exporter
