// `qlab synth-model`: a random-weight Hugging Face model of any size, written without holding it in memory.
#include <algorithm>
#include <chrono>
#include <cstdio>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "app/cli.h"
#include "app/model_arg.h"
#include "app/signal_stop.h"
#include "engine/core/error.h"
#include "engine/core/progress.h"
#include "engine/io/synth_model.h"

namespace qlab::app {

namespace {

io::DType parse_dtype(const std::string& s) {
  if (s == "bf16") return io::DType::BF16;
  if (s == "f16") return io::DType::F16;
  if (s == "f32") return io::DType::F32;
  throw UsageError(fmt::format("--dtype must be bf16, f16 or f32, got '{}'", s));
}

io::ModelConfig config_from_args(const Args& a) {
  static const char* shape_flags[] = {"layers", "hidden", "heads", "kv-heads", "intermediate", "vocab", "head-dim"};
  bool any_shape = false;
  for (const char* f : shape_flags) any_shape = any_shape || a.has(f);
  if (a.has("preset")) {
    if (any_shape) throw UsageError("give --preset or the shape flags (--layers, --hidden, ...), not both");
    const std::string name = a.require("preset");
    const auto& names = io::synth_preset_names();
    if (std::find(names.begin(), names.end(), name) == names.end())
      throw UsageError(fmt::format("unknown preset '{}' (presets: {})", name, fmt::join(names, ", ")));
    io::ModelConfig c = io::synth_preset(name);
    if (a.has("arch") || a.has("tie")) throw UsageError("--arch and --tie go with the shape flags, not --preset");
    return c;
  }
  for (const char* f : {"layers", "hidden", "heads", "intermediate", "vocab"})
    if (!a.has(f))
      throw UsageError(fmt::format("--{} is required without --preset (or choose a preset: {})", f,
                                   fmt::join(io::synth_preset_names(), ", ")));
  io::ModelConfig c = io::synth_preset("tiny");  // norms, eps, token ids; every shape field is replaced
  const std::string arch = a.get_or("arch", "llama");
  if (arch == "llama") {
    c.architecture = "LlamaForCausalLM";
  } else if (arch == "mistral") {
    c.architecture = "MistralForCausalLM";
  } else if (arch == "qwen2") {
    c.architecture = "Qwen2ForCausalLM";
    c.attention_bias = true;
  } else {
    throw UsageError(fmt::format("--arch must be llama, mistral or qwen2, got '{}'", arch));
  }
  c.model_type = arch;
  c.num_hidden_layers = static_cast<int>(a.get_int("layers", 0, 1, 16384));
  c.hidden_size = static_cast<int>(a.get_int("hidden", 0, 1, 1 << 20));
  c.num_attention_heads = static_cast<int>(a.get_int("heads", 0, 1, 16384));
  c.num_key_value_heads = static_cast<int>(a.get_int("kv-heads", c.num_attention_heads, 1, 16384));
  c.intermediate_size = static_cast<int>(a.get_int("intermediate", 0, 1, 1 << 20));
  c.vocab_size = static_cast<int>(a.get_int("vocab", 0, 1, 1 << 24));
  if (a.has("head-dim")) {
    c.head_dim = static_cast<int>(a.get_int("head-dim", 0, 2, 1 << 20));
  } else {
    if (c.hidden_size % c.num_attention_heads != 0)
      throw UsageError(fmt::format("--hidden {} is not divisible by --heads {} (or pass --head-dim)", c.hidden_size,
                                   c.num_attention_heads));
    c.head_dim = c.hidden_size / c.num_attention_heads;
  }
  if (c.num_attention_heads % c.num_key_value_heads != 0)
    throw UsageError(fmt::format("--kv-heads {} does not divide --heads {}", c.num_key_value_heads,
                                 c.num_attention_heads));
  c.tie_word_embeddings = a.has("tie");
  return c;
}

int run(const Args& a) {
  const std::string out = a.require("out");
  io::SynthSpec spec;
  spec.config = config_from_args(a);
  spec.dtype = parse_dtype(a.get_or("dtype", "bf16"));
  spec.seed = static_cast<std::uint64_t>(a.get_int("seed", 0, 0, (1LL << 62)));
  spec.max_shard_bytes = static_cast<std::uint64_t>(a.get_int("max-shard-mb", 5000, 1, 1 << 24)) * 1'000'000ull;

  StderrProgress progress;
  auto t0 = std::chrono::steady_clock::now();
  SignalStop signals;  // Ctrl-C, kill, a closed terminal: the staging folder is removed, then we exit
  io::SynthResult r;
  try {
    r = io::write_synth_model(out, spec, progress, signals.token());
  } catch (const Cancelled&) {
    if (signals.signal() == 0) throw;
    fmt::print(stderr, "\nqlab synth-model: interrupted; nothing was written\n");
    signals.end_as_signalled();
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  if (a.json()) {
    nlohmann::json j;
    j["out"] = out;
    j["architecture"] = spec.config.architecture;
    j["parameters"] = r.parameters;
    j["bytes"] = r.bytes;
    j["seconds"] = secs;
    j["files"] = nlohmann::json::array();
    for (const auto& f : r.files) j["files"].push_back(f.filename().string());
    print_json(j.dump(2));
    return 0;
  }
  fmt::print("wrote {} ({}, {} parameters, {:.2f} GB in {} files, {:.1f} s)\n", out, spec.config.architecture,
             r.parameters, r.bytes / 1e9, r.files.size(), secs);
  for (const auto& f : r.files) fmt::print("  {}\n", f.filename().string());
  return 0;
}

const Registrar reg({
    "synth-model",
    "write a random-weight Hugging Face model (config.json + safetensors) of any size",
    "--out DIR (--preset NAME | --layers L --hidden H --heads N [--kv-heads K] --intermediate I --vocab V) "
    "[--dtype bf16] [--seed S]",
    {
        {"out", "DIR", "folder to create (must not exist, or be empty)"},
        {"preset", "NAME", "tiny, tinyllama-1.1b or llama-3.1-8b (shapes of the published configs)"},
        {"layers", "L", "number of decoder layers"},
        {"hidden", "H", "hidden size"},
        {"heads", "N", "attention heads"},
        {"kv-heads", "K", "key/value heads (grouped-query attention; default: --heads)"},
        {"intermediate", "I", "MLP intermediate size"},
        {"vocab", "V", "vocabulary size"},
        {"head-dim", "D", "head dimension (default: hidden / heads)"},
        {"arch", "A", "llama (default), mistral or qwen2 (q/k/v biases)"},
        {"tie", "", "tie lm_head to the embedding"},
        {"dtype", "T", "bf16 (default), f16 or f32"},
        {"seed", "S", "random seed (default 0); the same seed gives the same bytes"},
        {"max-shard-mb", "M", "largest shard in MB before splitting (default 5000, as transformers)"},
    },
    "Weights are N(0, 0.02) like transformers' initialisation (RMSNorm weights 1, biases 0). The model is\n"
    "written a chunk at a time into a staging folder (DIR.partial-PID beside DIR) that is renamed into place\n"
    "when complete, so memory stays small for any size. Interrupted by Ctrl-C, kill or a closed terminal, the\n"
    "run removes its staging folder before it exits; one left by a run that could not (kill -9, a power loss)\n"
    "is removed by the next synth-model run into the same folder.",
    0,
    0,
    run,
});

}  // namespace

}  // namespace qlab::app
