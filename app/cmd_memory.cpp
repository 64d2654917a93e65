// qlab memory: the capacity table — published model configs x weight formats against a memory budget.
#include <cmath>
#include <filesystem>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "app/cli.h"
#include "engine/capacity/memory_model.h"
#include "engine/core/atomic_file.h"
#include "engine/core/error.h"
#include "engine/io/model_config.h"

namespace qlab::app {
namespace {

using capacity::MemoryEstimate;
using capacity::ModelArch;

constexpr double GB = 1e9;

std::vector<ModelArch> chosen_models(const Args& a) {
  auto name = a.get("model");
  if (!name) return capacity::builtin_models();
  for (const auto& m : capacity::builtin_models())
    if (m.id == *name || m.name == *name) return {m};
  // a config.json, or a model folder holding one
  std::filesystem::path p(*name);
  if (std::filesystem::is_directory(p)) p /= "config.json";
  if (std::filesystem::is_regular_file(p)) {
    ModelArch m = capacity::arch_from_config(io::load_model_config(p, io::ConfigUse::Shapes));
    m.id = m.name = p.parent_path().filename().string().empty() ? p.string() : p.parent_path().filename().string();
    return {m};
  }
  std::string ids;
  for (const auto& m : capacity::builtin_models()) ids += (ids.empty() ? "" : ", ") + m.id;
  throw UsageError(fmt::format("--model '{}' is neither a known model ({}) nor a config.json or model folder", *name, ids));
}

std::vector<capacity::Scheme> chosen_schemes(const Args& a, const ModelArch& m) {
  auto list = a.get("formats");
  if (!list) return capacity::default_schemes(m);
  std::vector<capacity::Scheme> out;
  std::size_t i = 0;
  while (i <= list->size()) {
    auto j = list->find(',', i);
    if (j == std::string::npos) j = list->size();
    std::string f = list->substr(i, j - i);
    if (f.empty()) throw UsageError("--formats has an empty entry");
    try {
      if (f == "released" && m.config.released_format.empty()) {
        i = j + 1;
        continue;  // only models published quantized have a release row
      }
      out.push_back(capacity::scheme_from_name(f, m));
    } catch (const Error& e) {
      throw UsageError(e.what());
    }
    i = j + 1;
  }
  return out;
}

double kept_extra(const MemoryEstimate& e) {
  // what the tensors kept in BF16 cost beyond the naive rule's element bits
  const double kept_params = double(e.parameters - e.quantized_parameters);
  return e.kept_bytes - kept_params * e.element_bits / 8.0;
}

nlohmann::json estimate_json(const ModelArch& m, const capacity::Scheme& s, const MemoryEstimate& e) {
  const std::int64_t rows = 16;
  return {
      {"format", e.scheme},
      {"label", e.label},
      {"weight_format", s.linear_format},
      {"experts_only", s.experts_only},
      {"element_bits", e.element_bits},
      {"bits_per_weight", e.bits_per_weight},
      // the key's name is kept for readers of earlier output; the value is from storage sizes, as it
      // always equalled the bytes of a quantized tensor of this shape
      {"bits_per_weight_measured", capacity::tensor_bits_per_weight(s.linear_format, rows, m.config.hidden_size)},
      {"quantized_parameters", e.quantized_parameters},
      {"weight_bytes", e.weight_bytes},
      {"naive_bytes", e.naive_bytes},
      {"scale_bytes", e.quantized_scale_bytes},
      {"kept_16bit_bytes", e.kept_bytes},
      {"kept_extra_bytes", kept_extra(e)},
      {"embedding_head_bytes", e.embedding_head_bytes},
      {"padding_bytes", e.padding_bytes},
      {"kv_bytes", e.kv_bytes},
      {"overhead_bytes", e.overhead_bytes},
      {"total_bytes", e.total_bytes},
      {"fits", e.fits},
  };
}

// The assumption is one sentence (the tutor shows it in a text block); here it breaks before the sums.
std::string wrap_overhead(std::string s) {
  if (auto p = s.find(") + "); p != std::string::npos) s.replace(p + 1, 1, "\n ");
  return s;
}

int run(const Args& a) {
  capacity::MemoryOptions o;
  o.context = a.get_int("ctx", 8192, 1, 10'000'000);
  o.batch = a.get_int("batch", 1, 1, 65536);
  o.budget_gb = a.get_double("budget-gb", 128.0);
  if (!std::isfinite(o.budget_gb) || o.budget_gb <= 0 || o.budget_gb > 1e9)
    throw UsageError(fmt::format("--budget-gb must be a positive number of GB, got '{}'", a.get_or("budget-gb", "")));
  std::string kv = a.get_or("kv", "f16");
  if (kv == "f16" || kv == "fp16" || kv == "bf16") o.kv = capacity::KvDtype::F16;
  else if (kv == "fp8" || kv == "e4m3") o.kv = capacity::KvDtype::FP8;
  else throw UsageError(fmt::format("--kv must be f16 or fp8, got '{}'", kv));

  auto models = chosen_models(a);

  if (a.json()) {
    nlohmann::json out = {
        {"context", o.context},
        {"batch", o.batch},
        {"kv_dtype", capacity::kv_dtype_name(o.kv)},
        {"budget_gb", o.budget_gb},
        {"units", "bytes; GB in text output = 1e9 bytes"},
        {"assumptions",
         {{"kept_in_bf16", "token embeddings, lm_head, norms, biases and MoE routers stay in BF16, as Model "
                           "Optimizer exports NVFP4/FP8 checkpoints"},
          {"naive", "parameters x bits of one element / 8: the module's rule"},
          {"kv_cache", "2 x KV heads x head_dim per layer per token; sliding-window layers keep only the window"},
          {"overhead", capacity::overhead_assumption()}}},
    };
    nlohmann::json arr = nlohmann::json::array();
    for (const auto& m : models) {
      nlohmann::json jm = {{"id", m.id},
                           {"name", m.name},
                           {"repo", m.repo},
                           {"parameters", m.parameter_count()},
                           {"active_parameters", m.active_parameter_count()},
                           {"published_parameters", m.published_parameters},
                           {"published_source", m.published_source},
                           {"kv_cache_bytes", capacity::kv_cache_bytes(m, o)}};
      nlohmann::json es = nlohmann::json::array();
      for (const auto& s : chosen_schemes(a, m)) es.push_back(estimate_json(m, s, capacity::estimate_memory(m, s, o)));
      jm["estimates"] = std::move(es);
      arr.push_back(std::move(jm));
    }
    out["models"] = std::move(arr);
    print_json(out.dump(2));
    return 0;
  }

  fmt::print("Memory to serve each model: context {} tokens x batch {}, KV cache {}, budget {:g} GB (GB = 10^9 bytes)\n",
             o.context, o.batch, capacity::kv_dtype_name(o.kv), o.budget_gb);
  for (const auto& m : models) {
    fmt::print("\n{} — {:.2f} B parameters{}{}\n", m.name, m.parameter_count() / GB,
               m.config.num_experts ? fmt::format(" ({:.2f} B active per token)", m.active_parameter_count() / GB) : "",
               m.repo.empty() ? "" : fmt::format(", config.json of {}", m.repo));
    fmt::print("  {:<28} {:>6} {:>8} {:>8} {:>8} {:>8} {:>7} {:>8} {:>8}  {}\n", "format", "bits/w", "weights",
               "naive", "+scales", "+16-bit", "KV", "overhead", "total", "fits");
    for (const auto& s : chosen_schemes(a, m)) {
      auto e = capacity::estimate_memory(m, s, o);
      const double scales = e.weight_bytes - e.naive_bytes - kept_extra(e);
      fmt::print("  {:<28} {:>6.2f} {:>8.2f} {:>8.2f} {:>8.2f} {:>8.2f} {:>7.2f} {:>8.2f} {:>8.2f}  {}\n", e.label,
                 e.bits_per_weight, e.weight_bytes / GB, e.naive_bytes / GB, scales / GB, kept_extra(e) / GB,
                 e.kv_bytes / GB, e.overhead_bytes / GB, e.total_bytes / GB, e.fits ? "yes" : "no");
    }
  }
  fmt::print(
      "\nbits/w: bits per quantized weight from the format's real storage (codes + block scales).\n"
      "naive: parameters x bits of one element, the usual rule of thumb. Weights come out larger because of\n"
      "  +scales: the block scales and zero points each format stores (NVFP4: one E4M3 byte per 16 weights);\n"
      "  +16-bit: tensors exporters keep in BF16 (embeddings, lm_head, norms, routers), beyond the naive bits.\n"
      "KV and overhead come on top of the weights.\n{}.\n",
      wrap_overhead(capacity::overhead_assumption()));
  return 0;
}

const Registrar reg({
    "memory",
    "capacity table: published model configs x weight formats against a memory budget",
    "[--ctx N] [--batch N] [--budget-gb G] [--kv f16|fp8] [--model NAME] [--formats LIST]",
    {
        {"ctx", "N", "context length in tokens (default 8192)"},
        {"batch", "N", "sequences served at once (default 1)"},
        {"budget-gb", "G", "memory budget in GB, 10^9 bytes (default 128, the DGX Spark)"},
        {"kv", "DTYPE", "KV cache dtype: f16 or fp8 (default f16)"},
        {"model", "NAME", "one model: llama-3.1-8b, llama-3.1-70b, llama-3.1-405b, falcon-180b, gpt-oss-20b, "
                          "gpt-oss-120b, or a config.json / model folder"},
        {"formats", "LIST", "comma-separated weight formats (default bf16,fp8,int8,nvfp4,mxfp4,int4-g128,nf4 and "
                            "'released' for models published quantized)"},
    },
    "Weights are counted from each model's published config.json: Linear layers in the chosen format at the\n"
    "format's real bytes per block, embeddings, lm_head, norms and routers in BF16 (as Model Optimizer\n"
    "exports them). The KV cache and a runtime overhead are added, and the total is checked against the budget.",
    0,
    0,
    run,
});

}  // namespace
}  // namespace qlab::app
