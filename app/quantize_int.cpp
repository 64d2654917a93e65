// qlab quantize --method gptq|awq|rtn (quantize_int.h).
#include "app/quantize_int.h"

#include <chrono>
#include <optional>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "app/calibrated_quant.h"
#include "app/device_arg.h"
#include "app/model_arg.h"
#include "app/signal_stop.h"
#include "engine/core/error.h"
#include "engine/core/resident_memory.h"
#include "engine/exporter/int_export.h"
#include "engine/exporter/source_folder.h"
#include "engine/formats/format_lookup.h"
#include "engine/io/model_config.h"
#include "engine/io/tensor_map.h"
#include "engine/quant/layer_journal.h"
#include "engine/quant/rtn_model.h"

namespace qlab::app {

namespace {

io::IntLayout parse_int_layout(const Args& a, const std::string& method) {
  const std::string e = a.get_or("export", method == "awq" ? "awq" : "gptq");
  if (e == "gptq") return io::IntLayout::Gptq;
  if (e == "awq") return io::IntLayout::Awq;
  if (e == "compressed-tensors") return io::IntLayout::CompressedTensors;
  throw UsageError(fmt::format("--export for --method {} must be gptq, awq or compressed-tensors, got '{}'", method, e));
}

io::DType linear_dtype(const std::filesystem::path& model_dir, const io::ModelConfig& c) {
  const io::TensorStore store = io::TensorStore::open(model_dir);
  for (const io::TensorEntry& e : io::tensor_map(c))
    if (e.linear_weight())
      if (const io::TensorRef* t = store.find(e.name)) return t->dtype;
  return io::DType::F16;
}

// Everything a finished layer depends on: an interrupted run is resumed only with all of it the same.
nlohmann::json layer_journal_key(const Args& a, const std::string& method, const std::filesystem::path& model_dir,
                                 const formats::BlockFormatSpec& spec) {
  namespace fs = std::filesystem;
  const io::TensorStore store = io::TensorStore::open(model_dir);
  const fs::path calib = calibration_text(a, model_dir);
  std::error_code ec;
  const auto mtime = fs::last_write_time(calib, ec);
  return {{"writer", "qlab quantize (layers)"},
          {"version", 1},
          {"source", fs::absolute(model_dir).lexically_normal().string()},
          {"source_files", exporter::SourceStamps(store).to_json()},
          {"method", method},
          {"format", spec.name},
          {"act_order", a.has("act-order")},
          {"calib", {{"file", fs::absolute(calib).lexically_normal().string()},
                     {"bytes", ec ? 0 : fs::file_size(calib, ec)},
                     {"mtime_ns", ec ? 0 : std::chrono::duration_cast<std::chrono::nanoseconds>(
                                               mtime.time_since_epoch()).count()}}},
          {"samples", a.get_or("samples", "default")},
          {"seq_len", a.get_or("seq-len", "default")},
          {"seed", a.get_or("seed", "0")}};
}

}  // namespace

bool is_int_quantize_method(const std::string& method) { return method == "gptq" || method == "awq" || method == "rtn"; }

int run_int_quantize(const Args& a) {
  const auto model_dir = resolve_model_arg(a.positional().at(0));
  const std::string method = a.require("method"), out = a.require("out");
  const formats::BlockFormatSpec& spec = formats::block_format(a.get_or("format", "int4-g128"));
  if (spec.kind != formats::BlockKind::IntGroup)
    throw UsageError(fmt::format("--method {} writes integer group formats (int4-g128, int4-g32-sym, int8-ch, ...); "
                                 "'{}' is not one (use --method nvfp4, mxfp4, fp8 for those)", method, spec.name));
  if (method == "rtn")
    for (const char* f : {"calib", "samples", "seq-len", "seed", "act-order"})
      if (a.has(f)) throw UsageError(fmt::format("--{} needs --method gptq or awq (rtn uses no data)", f));
  if (method != "gptq" && a.has("act-order")) throw UsageError("--act-order is a gptq option");
  if (method == "rtn")
    for (const char* f : {"device", "gpu-math"})
      if (a.has(f)) throw UsageError(fmt::format("--{} goes with methods that calibrate (gptq, awq, nvfp4, modelopt "
                                                 "fp8): rtn runs no model", f));
  if (method == "rtn" && a.has("resume"))
    throw UsageError("--resume continues gptq and awq runs (rtn keeps no finished layers: run it again)");
  for (const char* f : {"exclude", "slab-mb"})
    if (a.has(f)) throw UsageError(fmt::format("--{} goes with the streaming methods (nvfp4, mxfp4, fp8)", f));

  const io::ModelConfig cfg = io::load_model_config(model_dir / "config.json");
  io::IntScheme scheme;
  scheme.layout = parse_int_layout(a, method);
  scheme.bits = spec.bits;
  scheme.group_size = spec.block_size > 0 ? spec.block_size : -1;
  scheme.symmetric = spec.symmetric;
  scheme.act_order = a.has("act-order");
  scheme.method = method;
  scheme.ignore = {"lm_head"};
  // compressed-tensors stores scales in the model's dtype; float16 scales (what the int formats make)
  // are exact in float32 and float16, and for a bfloat16 model kept as float16 rather than rounded.
  scheme.scale_dtype = linear_dtype(model_dir, cfg) == io::DType::F32 ? io::DType::F32 : io::DType::F16;
  // Shapes first: a layout that cannot hold the model is refused before any calibration.
  try {
    exporter::check_int_export(cfg, scheme);
  } catch (const Error& e) {
    fail("{}; `qlab ppl MODEL --quant {} --method {}` scores it in memory without a checkpoint", e.what(), spec.name,
         method);
  }
  const std::uint64_t max_shard = static_cast<std::uint64_t>(a.get_int("max-shard-mb", 5000, 1, 1 << 24)) * 1'000'000ull;
  // Before any work: an --out that the writer would refuse at the end (after the whole calibration).
  exporter::check_source_and_out(model_dir, out);
  io::CheckpointWriter::check_out_dir(out, a.has("force"));
  // GPTQ and AWQ keep each finished layer beside --out, so an interrupted run can be resumed.
  std::optional<quant::LayerJournal> journal;
  if (method != "rtn")
    journal.emplace(quant::LayerJournal::folder_for(out), layer_journal_key(a, method, model_dir, spec),
                    a.has("resume"), a.has("force"));
  if (journal && a.has("resume") && !a.json())
    fmt::print("{}\n", journal->resumed_layers() > 0
                          ? fmt::format("resuming: {} finished layer{} of the interrupted run in {}",
                                        journal->resumed_layers(), journal->resumed_layers() == 1 ? "" : "s",
                                        journal->dir().string())
                          : std::string("--resume: no interrupted run of this folder was found; starting from layer 1"));

  SignalStop signals;
  std::optional<DeviceArg> device;  // where gptq/awq's calibration passes run
  if (method != "rtn") device = choose_device(a, "quantize");
  if (device && device->report() && !a.json()) fmt::print("device: {}\n", device->where);
  model::Model m = model::Model::load(model_dir);
  exporter::IntLinears linears;
  const quant::LinearSink sink = [&](int layer, const char* name, quant::QuantizedLinear&& q) {
    q.dequantized = {};  // the model holds it
    q.dequantized.shrink_to_fit();
    linears.emplace(fmt::format("model.layers.{}.{}", layer, name), std::move(q));
  };
  nlohmann::json j;
  exporter::IntExportResult r;
  try {
    StderrProgress progress;
    if (method == "rtn") {
      const auto rep = quant::quantize_model_rtn(m, scheme.bits, scheme.group_size, scheme.symmetric, progress,
                                                 signals.token(), sink);
      j["calibration"] = nullptr;
      j["quantize_seconds"] = rep.seconds;
    } else {
      quantize_calibrated(a, method, model_dir, m, spec, progress, j, a.json(), sink, signals.token(),
                          journal ? &*journal : nullptr, device->backend);
      device->add_to(j);
    }
    exporter::IntExportOptions eo;
    eo.max_shard_bytes = max_shard;
    eo.replace_existing = a.has("force");
    eo.stop = signals.token();
    try {
      r = exporter::write_int_checkpoint(model_dir, out, m, linears, scheme, eo, progress);
    } catch (const Cancelled&) {
      throw;
    } catch (const Error& e) {
      // Every layer is quantized and kept; what failed is the writing (a full disk, say): keep them, so
      // the run needs only --resume once the cause is fixed.
      if (!journal || journal->layers_done() == 0) throw;
      journal->keep();
      fail("{}; the {} quantized layers are kept in {}: --resume writes the checkpoint without quantizing again",
           e.what(), journal->layers_done(), journal->dir().string());
    }
    if (journal) journal->remove();
  } catch (const Cancelled&) {
    if (signals.signal() == 0) throw;
    if (journal && journal->layers_done() > 0) {
      const int done = journal->layers_done();
      journal->keep();
      fmt::print(stderr, "\nqlab quantize: interrupted; {} finished layer{} kept in {}: the same command with "
                 "--resume continues from there\n", done, done == 1 ? "" : "s", journal->dir().string());
    } else {
      fmt::print(stderr, "\nqlab quantize: interrupted; nothing was written\n");
    }
    signals.end_as_signalled();
  }
  const double bpw = r.linear_weights ? 8.0 * static_cast<double>(r.linear_written_bytes) / r.linear_weights : 0.0;
  if (a.json()) {
    j["out"] = out;
    j["method"] = method;
    j["export"] = io::int_layout_name(scheme.layout);
    j["format"] = spec.name;
    j["act_order"] = scheme.act_order;
    j["quantized_linears"] = r.quantized;
    j["kept_tensors"] = r.kept;
    j["source_bytes"] = r.source_bytes;
    j["written_tensor_bytes"] = r.files.tensor_bytes;
    j["written_bytes"] = r.files.bytes;
    j["linear_source_bytes"] = r.linear_source_bytes;
    j["linear_written_bytes"] = r.linear_written_bytes;
    j["linear_bits_per_weight"] = bpw;
    j["shards"] = r.files.shards;
    j["seconds_write"] = r.seconds_write;
    j["seconds_check"] = r.seconds_check;
    j["peak_rss_bytes"] = static_cast<double>(peak_resident_bytes());
    j["reread_check"] = "passed";
    j["resumed_layers"] = journal ? journal->resumed_layers() : 0;
    print_json(j.dump(2));
    return 0;
  }
  fmt::print("wrote {} ({} {} in the {} layout, {} Linear weights packed, {} tensors kept)\n", out, method, spec.name,
             io::int_layout_name(scheme.layout), r.quantized, r.kept);
  fmt::print("  Linear weights  {:.3f} GB -> {:.3f} GB ({:.3f} bits per weight, scales and zeros included)\n",
             r.linear_source_bytes / 1e9, r.linear_written_bytes / 1e9, bpw);
  fmt::print("  whole model     {:.3f} GB -> {:.3f} GB (embeddings, lm_head and norms kept as stored)\n",
             r.source_bytes / 1e9, r.files.tensor_bytes / 1e9);
  fmt::print("  {} shard(s), {:.1f} s writing, {:.1f} s re-read check: passed\n", r.files.shards, r.seconds_write,
             r.seconds_check);
  fmt::print("  peak resident memory {:.2f} GB\n", static_cast<double>(peak_resident_bytes()) / 1e9);
  return 0;
}

}  // namespace qlab::app
