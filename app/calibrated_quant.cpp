// qlab ppl --method gptq|awq: calibration text, windows and the layer-by-layer quantization of the
// model in memory (engine/quant/gptq_model.h, awq_model.h).
#include "app/calibrated_quant.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>

#include "app/model_arg.h"
#include "engine/core/error.h"
#include "engine/io/tokenizer.h"
#include "engine/quant/awq_model.h"
#include "engine/quant/gptq_model.h"

namespace qlab::app {

namespace {

std::string mib(std::uint64_t bytes) { return fmt::format("{:.1f} MiB", static_cast<double>(bytes) / (1 << 20)); }

}  // namespace

std::vector<Option> calibration_options() {
  return {{"method", "M", "with --quant: rtn (default, no data), gptq or awq (calibrated, layer by layer)"},
          {"calib", "FILE", "calibration text for gptq/awq: plain, or JSONL with a \"text\" field; .gz read too "
                            "(default: the model folder's calib.txt, else the built-in model's)"},
          {"samples", "N", "calibration windows (default 128; fewer with a warning if the text is short)"},
          {"seq-len", "L", "tokens per window (default 2048 for gptq, 512 for awq; capped by the model's context)"},
          {"seed", "S", "seed of the window draw (default 0)"},
          {"act-order", "", "gptq: quantize columns in order of decreasing Hessian diagonal (desc_act)"}};
}

Command with_calibration_options(Command c) {
  for (Option& o : calibration_options()) c.options.push_back(std::move(o));
  return c;
}

std::filesystem::path calibration_text(const Args& a, const std::filesystem::path& model_dir) {
  if (a.has("calib")) return a.require("calib");
  return std::filesystem::exists(model_dir / "calib.txt") ? model_dir / "calib.txt" : builtin_model_dir() / "calib.txt";
}

std::string quant_method(const Args& a) {
  const std::string method = a.get_or("method", "rtn");
  if (method != "rtn" && method != "gptq" && method != "awq")
    throw UsageError(fmt::format("--method must be rtn, gptq or awq, not '{}'", method));
  if (a.has("method") && !a.has("quant")) throw UsageError("--method needs --quant F (the format to quantize to)");
  if (method == "rtn")
    for (const char* f : {"calib", "samples", "seq-len", "seed", "act-order"})
      if (a.has(f)) throw UsageError(fmt::format("--{} needs --method gptq or awq", f));
  if (method == "awq" && a.has("act-order")) throw UsageError("--act-order is a gptq option");
  if (method != "rtn" && a.has("quant-all"))
    throw UsageError("--quant-all works with --method rtn (gptq and awq quantize the decoder layers' Linears)");
  return method;
}

void quantize_calibrated(const Args& a, const std::string& method, const std::filesystem::path& model_dir,
                         model::Model& m, const formats::BlockFormatSpec& spec, Progress& progress,
                         nlohmann::json& j, bool json, const quant::LinearSink& on_linear, std::stop_token stop,
                         quant::LayerJournal* journal, model::Backend* backend) {
  const bool tty = ::isatty(STDERR_FILENO);
  std::vector<std::string> warnings;
  const quant::Warn warn = [&](const std::string& s) {
    warnings.push_back(s);
    fmt::print(stderr, "{}warning: {}\n", tty ? "\r\x1b[K" : "", s);
  };
  // Options first: a wrong format is an error before any text is read.
  quant::GptqModelOptions gopt;
  quant::AwqOptions aopt;
  if (method == "gptq") {
    gopt.gptq = quant::gptq_options_for(spec);
    gopt.gptq.act_order = a.has("act-order");
  } else {
    aopt = quant::awq_options_for(spec);
  }
  gopt.backend = backend;
  aopt.backend = backend;
  const std::filesystem::path calib = calibration_text(a, model_dir);
  const std::int64_t samples = a.get_int("samples", quant::kCalibrationSamples, 1, 1 << 20);
  const std::int64_t seq_len = quant::calibration_seq_len(
      m.config(), a.get_int("seq-len", 0, 2, 1 << 20), method == "gptq" ? quant::kGptqSeqLen : quant::kAwqSeqLen);
  const auto seed = static_cast<std::uint64_t>(a.get_int("seed", 0, 0, (1LL << 62)));
  const io::Tokenizer tok = io::Tokenizer::load(model_dir);
  const quant::CalibrationSet set = quant::load_calibration(calib, tok, samples, seq_len, seed, warn);
  const quant::CalibrationMemory mem = method == "gptq"
                                           ? quant::gptq_memory(m.config(), set.samples, set.seq_len, gopt.true_sequential)
                                           : quant::awq_memory(m.config(), set.samples, set.seq_len);
  if (!json)
    fmt::print("calibration: {} windows of {} tokens from {} ({} tokens), seed {}; holds {} of activations "
               "({} hidden states, {} per batch, {} statistics)\n",
               set.samples, set.seq_len, calib.string(), set.stream_tokens, seed, mib(mem.total()),
               mib(mem.hidden_states), mib(mem.batch), mib(mem.statistics));
  const quant::ModelQuantReport r =
      method == "gptq" ? quant::quantize_model_gptq(m, set, gopt, progress, stop, warn, on_linear, journal)
                       : quant::quantize_model_awq(m, set, aopt, progress, stop, warn, on_linear, journal);
  double worst = 0, mean = 0;
  std::string worst_name;
  for (const auto& l : r.linears) {
    mean += l.output_error / static_cast<double>(r.linears.size());
    if (l.output_error > worst) {
      worst = l.output_error;
      worst_name = l.name;
    }
  }
  nlohmann::json layers = nlohmann::json::array();
  for (const auto& l : r.linears)
    layers.push_back({{"name", l.name}, {"rows", l.rows}, {"cols", l.cols}, {"output_error", l.output_error},
                      {"damp", l.damp}, {"damp_raises", l.damp_raises}, {"dead_columns", l.dead_columns},
                      {"seconds", l.seconds}});
  j["calibration"] = {{"method", method},
                      {"file", calib.string()},
                      {"samples", set.samples},
                      {"seq_len", set.seq_len},
                      {"seed", seed},
                      {"text_tokens", set.stream_tokens},
                      {"activation_bytes", mem.total()},
                      {"act_order", method == "gptq" && gopt.gptq.act_order},
                      {"mean_output_error", mean},
                      {"linears", layers},
                      {"warnings", warnings},
                      {"quantize_seconds", r.seconds},
                      {"pass_seconds", r.pass_seconds}};
  if (!json)
    fmt::print("{}: {} Linears quantized to {} in {:.1f} s ({:.1f} s of passes through the layers); output error ||(Q-W)X^T||^2/||WX^T||^2 mean {:.3e}, "
               "worst {:.3e} ({})\n",
               method, r.linears.size(), spec.name, r.seconds, r.pass_seconds, mean, worst, worst_name);
}

}  // namespace qlab::app
