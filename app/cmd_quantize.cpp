// `qlab quantize MODEL --method M --out DIR [--export modelopt|compressed-tensors] [--exclude PATTERN ...]`:
// a model streamed from its shards into a quantized checkpoint vLLM loads (engine/exporter).
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <optional>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "app/calibrated_quant.h"
#include "app/cli.h"
#include "app/device_arg.h"
#include "app/model_arg.h"
#include "app/quantize_int.h"
#include "app/signal_stop.h"
#include "engine/core/error.h"
#include "engine/core/resident_memory.h"
#include "engine/exporter/quantize_checkpoint.h"

namespace qlab::app {

namespace {

io::QuantLayout parse_layout(const Args& a, const std::string& method) {
  if (!a.has("export")) return io::default_layout(method);
  const std::string e = a.require("export");
  if (e == "modelopt") return io::QuantLayout::ModelOpt;
  if (e == "compressed-tensors") return io::QuantLayout::CompressedTensors;
  throw UsageError(fmt::format("--export must be modelopt or compressed-tensors, got '{}'", e));
}

int run(const Args& a) {
  if (is_int_quantize_method(a.require("method"))) return run_int_quantize(a);
  for (const char* f : {"format", "act-order"})
    if (a.has(f)) throw UsageError(fmt::format("--{} goes with --method gptq, awq or rtn", f));
  const auto model = resolve_model_arg(a.positional().at(0));
  const std::string method = a.require("method"), out = a.require("out");
  const auto& methods = io::quant_method_names();
  if (std::find(methods.begin(), methods.end(), method) == methods.end())
    throw UsageError(fmt::format("--method must be one of {}, gptq, awq or rtn, got '{}'", fmt::join(methods, ", "),
                                 method));
  exporter::QuantizeOptions opt;
  opt.method = method;
  opt.layout = parse_layout(a, method);
  for (const auto& v : a.get_all("exclude")) {
    if (v.empty()) throw UsageError("--exclude needs a pattern");
    opt.exclude.push_back(v);
  }
  opt.max_shard_bytes = static_cast<std::uint64_t>(a.get_int("max-shard-mb", 5000, 1, 1 << 24)) * 1'000'000ull;
  opt.replace_existing = a.has("force");
  opt.resume = a.has("resume");
  opt.slab_bytes = static_cast<std::size_t>(a.get_int("slab-mb", 64, 1, 1 << 16)) << 20;
  const bool calibrates = io::quant_scheme(method, opt.layout).input_scale();
  if (!calibrates)
    for (const char* f : {"calib", "samples", "seq-len", "seed"})
      if (a.has(f))
        throw UsageError(fmt::format("--{} goes with methods that store activation scales (nvfp4, and fp8 with "
                                     "--export modelopt); {} has none", f, method));
  if (!calibrates)
    for (const char* f : {"device", "gpu-math"})
      if (a.has(f))
        throw UsageError(fmt::format("--{} goes with methods that calibrate (nvfp4, modelopt fp8, gptq, awq); {} "
                                     "runs no model", f, method));
  std::optional<DeviceArg> device;  // where the calibration passes run
  if (calibrates) {
    device = choose_device(a, "quantize");
    opt.calibration.backend = device->backend;
    if (device->report() && !a.json()) fmt::print("device: {}\n", device->where);
  }
  opt.calibration.text = calibration_text(a, model);
  opt.calibration.samples = a.get_int("samples", 64, 1, 1 << 20);
  opt.calibration.seq_len = a.get_int("seq-len", 512, 2, 1 << 20);
  opt.calibration.seed = static_cast<std::uint64_t>(a.get_int("seed", 0, 0, 1LL << 62));
  SignalStop signals;  // Ctrl-C, kill, a closed terminal: the staging folder is removed, then we exit
  opt.stop = signals.token();

  exporter::QuantizeResult r;
  try {
    StderrProgress progress;
    r = exporter::quantize_checkpoint(model, out, opt, progress,
                                      [](const std::string& w) { fmt::print(stderr, "warning: {}\n", w); });
  } catch (const exporter::Suspended& s) {
    if (signals.signal() == 0) throw;
    fmt::print(stderr, "\nqlab quantize: interrupted; {} complete shard{} kept in {}: the same command with --resume "
               "continues from there\n", s.shards, s.shards == 1 ? "" : "s", s.staging.string());
    signals.end_as_signalled();
  } catch (const Cancelled&) {
    if (signals.signal() == 0) throw;
    fmt::print(stderr, "\nqlab quantize: interrupted; nothing was written\n");
    signals.end_as_signalled();
  }
  const double gbps = (r.source_bytes - r.resumed_bytes) / 1e9 / std::max(r.seconds_write, 1e-9);
  const double linear_ratio = r.linear_written_bytes ? double(r.linear_source_bytes) / r.linear_written_bytes : 0;
  const double whole_ratio = r.files.tensor_bytes ? double(r.source_bytes) / r.files.tensor_bytes : 0;
  if (a.json()) {
    nlohmann::json j = {{"out", out},
                        {"method", r.scheme.method},
                        {"export", io::layout_name(r.scheme.layout)},
                        {"format", r.scheme.format},
                        {"quantized_tensors", r.quantized},
                        {"kept_tensors", r.kept},
                        {"ignore", r.scheme.ignore},
                        {"source_bytes", r.source_bytes},
                        {"written_tensor_bytes", r.files.tensor_bytes},
                        {"written_bytes", r.files.bytes},
                        {"linear_source_bytes", r.linear_source_bytes},
                        {"linear_written_bytes", r.linear_written_bytes},
                        {"shards", r.files.shards},
                        {"seconds_calibrate", r.seconds_calibrate},
                        {"seconds_write", r.seconds_write},
                        {"seconds_check", r.seconds_check},
                        {"gb_per_second", gbps},
                        {"peak_rss_bytes", static_cast<double>(peak_resident_bytes())},
                        {"reread_check", "passed"},
                        {"resumed_shards", r.resumed_shards},
                        {"resumed_source_bytes", r.resumed_bytes},
                        {"warnings", r.warnings}};
    if (calibrates)
      j["calibration"] = {{"file", r.activations.source}, {"samples", r.activations.samples},
                          {"seq_len", r.activations.seq_len}, {"activation_bytes", r.activations.hidden_bytes}};
    if (device) device->add_to(j);
    print_json(j.dump(2));
    return 0;
  }
  fmt::print("wrote {} ({} as {}, {} Linear weights quantized, {} tensors kept)\n", out, r.scheme.method,
             io::layout_name(r.scheme.layout), r.quantized, r.kept);
  if (opt.resume)
    fmt::print("  {}\n", r.resumed_shards > 0
                              ? fmt::format("resumed: {} shard{} ({:.3f} GB of source) kept from the interrupted run",
                                            r.resumed_shards, r.resumed_shards == 1 ? "" : "s", r.resumed_bytes / 1e9)
                              : std::string("--resume: no interrupted run of this folder was found; ran from the start"));
  if (calibrates)
    fmt::print("  activation scales from {} x {} tokens of {} ({:.1f} MB of activations held, {:.1f} s)\n",
               r.activations.samples, r.activations.seq_len, r.activations.source, r.activations.hidden_bytes / 1e6,
               r.seconds_calibrate);
  fmt::print("  Linear weights  {:.3f} GB -> {:.3f} GB ({:.2f}x)\n", r.linear_source_bytes / 1e9,
             r.linear_written_bytes / 1e9, linear_ratio);
  fmt::print("  whole model     {:.3f} GB -> {:.3f} GB ({:.2f}x; embeddings, lm_head and norms kept as stored)\n",
             r.source_bytes / 1e9, r.files.tensor_bytes / 1e9, whole_ratio);
  fmt::print("  {} shard(s), {:.1f} s writing ({:.2f} GB/s of source), {:.1f} s re-read check: passed\n",
             r.files.shards, r.seconds_write, gbps, r.seconds_check);
  fmt::print("  peak resident memory {:.2f} GB\n", peak_resident_bytes() / 1e9);
  return 0;
}

const Registrar reg({
    "quantize",
    "write a quantized checkpoint vLLM loads: NVFP4/MXFP4/FP8 streamed (ModelOpt, compressed-tensors) or "
    "GPTQ/AWQ/RTN integers (GPTQ, AWQ, compressed-tensors)",
    "MODEL --method M --out DIR [--force | --resume] [--export L] [--format intB-gG] [--act-order] [--exclude PATTERN ...] "
    "[--calib FILE --samples N --seq-len L] [--device D]",
    {
        {"method", "M", "nvfp4 (W4A4), nvfp4-w4a16, mxfp4, fp8 (per tensor) or fp8-channel (per output channel), "
                        "streamed; gptq, awq (calibrated) or rtn (no data), integers, in memory"},
        {"out", "DIR", "folder to create (must not exist, or be empty; not inside MODEL)"},
        {"force", "", "replace --out when it is a model folder (config.json): the old one stays until the new one "
                      "has passed its re-read check; also discards an interrupted run of --out"},
        {"resume", "", "continue an interrupted run (Ctrl-C, kill, power loss) of the same command: streamed methods "
                       "from the last complete shard, gptq/awq from the last finished decoder layer"},
        {"export", "L", "nvfp4/mxfp4/fp8: modelopt (default; no mxfp4; its fp8 is W8A8, calibrated) or "
                        "compressed-tensors (default for mxfp4 and fp8); gptq/awq/rtn: gptq (GPTQ v1, default for "
                        "gptq and rtn), awq (AutoAWQ GEMM, default for awq) or compressed-tensors (pack-quantized)"},
        {"format", "F", "gptq/awq/rtn: the integer format, int4-g128 (default), int4-g32/g64, int4-ch (per row), "
                        "int8-g128, int2-g64, ... with -sym for symmetric"},
        {"act-order", "", "gptq: quantize columns in order of decreasing Hessian diagonal (desc_act, g_idx stored)"},
        {"exclude", "PATTERN", "keep matching Linear modules unquantized (fnmatch, e.g. 'model.layers.0.*'); "
                               "repeat for more"},
        {"calib", "FILE", "calibration text (gptq, awq; activation scales of nvfp4 and modelopt fp8): plain or "
                          "JSONL (default: the model's calib.txt, else the built-in model's)"},
        {"samples", "N", "calibration windows (default 64; gptq/awq 128)"},
        {"seq-len", "L", "tokens per window (default 512; gptq 2048; capped by the model's context)"},
        {"seed", "S", "which windows of the text (default 0)"},
        {"max-shard-mb", "M", "largest shard in MB before splitting (default 5000, as transformers)"},
        {"device", "D", "where calibration runs (gptq, awq, nvfp4, modelopt fp8): auto (a CUDA GPU when one is "
                        "usable, else the CPU), cpu, cuda"},
        {"gpu-math", "M", "calibration on a GPU: f32 (default; equals the CPU to 1e-4) or bf16 (tensor cores)"},
        {"slab-mb", "M", "float32 working slab per tensor in MB (default 64): bounds memory"},
    },
    "Each Linear weight is read from the memory-mapped shards a slab of rows at a time, quantized, and its\n"
    "pages released, so memory stays near one quantized tensor whatever the model's size. q/k/v and\n"
    "gate/up share one per-tensor scale (vLLM fuses them). Embeddings, lm_head and norms keep their dtype.\n"
    "Layouts: ModelOpt's unified checkpoint (hf_quant_config.json; NVFP4, W4A16_NVFP4, FP8 (W8A8 static),\n"
    "FP8_PER_CHANNEL_PER_TOKEN) or compressed-tensors (nvfp4-pack-quantized, mxfp4-pack-quantized,\n"
    "float-quantized; its fp8 is weight-only). nvfp4 and ModelOpt fp8 store activation scales: the\n"
    "calibration text runs through the model layer by layer first (max calibration, as ModelOpt).\n"
    "Everything is written to a staging folder renamed into place at the end, then read back: the\n"
    "dequantized weights must equal the in-memory quantization bit for bit. Ctrl-C cancels; nothing appears\n"
    "at --out. Complete shards (and gptq/awq's finished layers) of an interrupted run are kept beside --out\n"
    "for --resume, which writes the folder an uninterrupted run writes.\n"
    "gptq, awq and rtn load the model, quantize every decoder Linear in memory (gptq and awq layer by layer\n"
    "on the calibration text, as qlab ppl --method does), then write GPTQ v1 (qweight/qzeros/scales/g_idx,\n"
    "quantize_config.json), AutoAWQ GEMM or compressed-tensors pack-quantized, re-read the same way.",
    1,
    1,
    run,
});

}  // namespace

}  // namespace qlab::app
