#include "engine/suite/variants.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <memory>

#include <fmt/format.h>

#include "engine/core/error.h"
#include "engine/exporter/slab_quantize.h"
#include "engine/formats/format_lookup.h"
#include "engine/gguf/gguf_file.h"
#include "engine/gguf/gguf_model.h"
#include "engine/io/tokenizer.h"
#include "engine/quant/awq_model.h"
#include "engine/quant/calibration.h"
#include "engine/quant/gptq_model.h"
#include "engine/quant/rtn.h"
#include "engine/suite/gguf_variant.h"

namespace qlab::suite {

namespace {

CatalogueEntry entry(std::string name, VariantKind kind, std::string format, std::string description) {
  return {VariantSpec{std::move(name), kind, std::move(format), {}, std::move(description)}, true, ""};
}

}  // namespace

const std::vector<CatalogueEntry>& catalogue() {
  static const std::vector<CatalogueEntry> c = {
      entry("baseline", VariantKind::Baseline, "", "the model as stored"),
      entry("int8-ch", VariantKind::Rtn, "int8-ch", "round-to-nearest int8, one scale per output row"),
      entry("fp8", VariantKind::Rtn, "fp8-tensor", "FP8 E4M3 weights, one scale per tensor (Model Optimizer's FP8)"),
      entry("nvfp4", VariantKind::Rtn, "nvfp4", "NVFP4: E2M1 in blocks of 16 with E4M3 scales, and a tensor scale"),
      entry("mxfp4", VariantKind::Rtn, "mxfp4", "MXFP4: E2M1 in blocks of 32 with power-of-two scales"),
      entry("nf4", VariantKind::Rtn, "nf4", "bitsandbytes NF4, blocks of 64"),
      entry("rtn-int4-g128", VariantKind::Rtn, "int4-g128", "round-to-nearest int4, groups of 128, asymmetric"),
      entry("gptq-int4-g128", VariantKind::Gptq, "int4-g128", "GPTQ int4, groups of 128 (true sequential)"),
      entry("awq-int4-g128", VariantKind::Awq, "int4-g128", "AWQ int4, groups of 128 (scale and clip search)"),
      entry("gguf-q8_0", VariantKind::Gguf, "Q8_0", "llama.cpp Q8_0 (llama-quantize's rules and quantizers)"),
      entry("gguf-q6_k", VariantKind::Gguf, "Q6_K", "llama.cpp Q6_K"),
      entry("gguf-q5_k_m", VariantKind::Gguf, "Q5_K_M", "llama.cpp Q5_K_M type mix"),
      entry("gguf-q4_k_m", VariantKind::Gguf, "Q4_K_M", "llama.cpp Q4_K_M type mix"),
      entry("gguf-q4_0", VariantKind::Gguf, "Q4_0", "llama.cpp Q4_0"),
      entry("gguf-q3_k_m", VariantKind::Gguf, "Q3_K_M", "llama.cpp Q3_K_M type mix"),
      entry("gguf-q2_k", VariantKind::Gguf, "Q2_K", "llama.cpp Q2_K type mix (no importance matrix)"),
  };
  return c;
}

std::vector<std::string> available_variants() {
  std::vector<std::string> v;
  for (const auto& e : catalogue())
    if (e.available) v.push_back(e.spec.name);
  return v;
}

VariantSpec variant_by_name(const std::string& name) {
  std::string names;
  for (const auto& e : catalogue()) {
    if (e.spec.name == name) {
      if (!e.available) fail("variant {}: {}", name, e.why_not);
      return e.spec;
    }
    names += (names.empty() ? "" : " ") + e.spec.name;
  }
  fail("no variant named '{}' (variants: {}; a checkpoint folder goes with --add PATH)", name, names);
}

double checkpoint_bytes(const std::filesystem::path& dir) {
  double bytes = 0;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec))
    if (e.path().extension() == ".safetensors") bytes += static_cast<double>(e.file_size(ec));
  return bytes;
}

VariantSpec added_variant(const std::filesystem::path& path) {
  std::error_code ec;
  VariantSpec v;
  v.kind = VariantKind::Added;
  v.path = path;
  if (std::filesystem::is_regular_file(path, ec)) {
    if (!gguf::is_gguf_file(path))
      fail("--add {}: not a GGUF file (no \"GGUF\" magic) and not a checkpoint folder", path.string());
    v.name = path.stem().string();
    v.description = fmt::format("GGUF file {}", path.string());
    return v;
  }
  if (!std::filesystem::is_directory(path, ec))
    fail("--add {}: neither a folder (a checkpoint in Hugging Face layout: config.json, *.safetensors, "
         "tokenizer.json) nor a GGUF file",
         path.string());
  if (!std::filesystem::is_regular_file(path / "config.json", ec))
    fail("--add {}: no config.json: not a model folder", path.string());
  v.name = path.filename().empty() ? path.parent_path().filename().string() : path.filename().string();
  v.description = fmt::format("checkpoint {}", path.string());
  return v;
}

namespace {

// Bytes of a checkpoint of `base` whose Linears are stored in `spec`.
void quantized_size(const model::Model& base, const formats::BlockFormatSpec& spec, bool gptq_g_idx, MadeVariant& out) {
  const io::ModelConfig& c = base.config();
  const double params = static_cast<double>(c.parameter_count());
  double linear_params = 0, linear_bytes = 0;
  for (const auto& lw : base.weights().layers)
    for (const tensor::Matrix* w : {&lw.wq, &lw.wk, &lw.wv, &lw.wo, &lw.w_gate, &lw.w_up, &lw.w_down}) {
      linear_params += static_cast<double>(w->rows * w->cols);
      const std::int64_t cols = formats::padded_cols(spec, w->cols);
      linear_bytes += static_cast<double>(formats::storage_sizes(spec, w->rows, cols).total());
      if (gptq_g_idx) linear_bytes += 4.0 * static_cast<double>(w->cols);  // g_idx: int32 per input column
    }
  const double elem = c.dtype == "float32" ? 4.0 : 2.0;
  out.parameters = params;
  out.bytes = linear_bytes + (params - linear_params) * elem;
  out.size_note = fmt::format("Linears as {} stores them{}; embeddings, lm_head and norms as {} ({} bytes each)",
                              spec.name, gptq_g_idx ? " plus GPTQ's g_idx" : "", c.dtype, elem);
}

// NVFP4 and per-tensor FP8 as a served checkpoint holds them: the members of a fused group (q/k/v,
// gate/up) share one per-tensor scale from the group's amax (ModelOpt's preprocess_linear_fusion;
// vLLM and TensorRT-LLM run each group as one layer with one scale), so the variant holds, weight for
// weight, what `qlab quantize --method nvfp4-w4a16|fp8` writes (exporter/slab_quantize.h). Kept packed.
void quantize_fused_groups(model::Model& m, const formats::BlockFormatSpec& spec, Progress& progress,
                           std::stop_token stop) {
  const io::QuantScheme scheme =
      io::quant_scheme(spec.kind == formats::BlockKind::NVFP4 ? "nvfp4-w4a16" : "fp8", io::QuantLayout::ModelOpt);
  model::Weights& w = m.mutable_weights();
  for (std::size_t i = 0; i < w.layers.size(); ++i) {
    model::LayerWeights& l = w.layers[i];
    for (const std::vector<tensor::Matrix*>& group : std::vector<std::vector<tensor::Matrix*>>{
             {&l.wq, &l.wk, &l.wv}, {&l.wo}, {&l.w_gate, &l.w_up}, {&l.w_down}}) {
      check_cancel(stop);
      std::vector<std::vector<float>> src;
      float amax = 0;
      for (const tensor::Matrix* x : group) {
        src.push_back(x->to_f32());
        for (float v : src.back()) amax = std::max(amax, std::fabs(v));
      }
      const float ts = exporter::tensor_scale_for(scheme, amax);
      for (std::size_t k = 0; k < group.size(); ++k) {
        tensor::Matrix& x = *group[k];
        const std::int64_t cols = x.cols;
        x = tensor::Matrix::owned_packed(exporter::quantize_slab(spec, src[k], x.rows, cols, ts), spec, cols);
      }
    }
    progress.report(static_cast<double>(i + 1) / static_cast<double>(w.layers.size()), fmt::format("layer {}", i));
  }
}

std::filesystem::path calibration_file(const MakeContext& ctx) {
  std::error_code ec;
  if (std::filesystem::is_regular_file(ctx.model_dir / "calib.txt", ec)) return ctx.model_dir / "calib.txt";
  if (!ctx.builtin_dir.empty() && std::filesystem::is_regular_file(ctx.builtin_dir / "calib.txt", ec))
    return ctx.builtin_dir / "calib.txt";
  fail("GPTQ and AWQ need calibration text: {} has no calib.txt and the built-in model's is not installed",
       ctx.model_dir.string());
}

}  // namespace

MadeVariant make_variant(const VariantSpec& v, const MakeContext& ctx, Progress& progress, std::stop_token stop) {
  const auto t0 = std::chrono::steady_clock::now();
  const model::Model& base = *ctx.base;
  switch (v.kind) {
    case VariantKind::Baseline: {
      MadeVariant out{base};
      out.parameters = static_cast<double>(base.config().parameter_count());
      out.bytes = checkpoint_bytes(ctx.model_dir);
      out.size_note = "the checkpoint's *.safetensors files";
      return out;
    }
    case VariantKind::Added: {
      std::error_code ec;
      const bool file = std::filesystem::is_regular_file(v.path, ec);
      MadeVariant out{file ? gguf::load_gguf_model(std::make_shared<const gguf::GgufFile>(gguf::GgufFile::open(v.path)))
                           : model::Model::load(v.path)};
      out.parameters = static_cast<double>(out.model.config().parameter_count());
      out.bytes = file ? static_cast<double>(std::filesystem::file_size(v.path)) : checkpoint_bytes(v.path);
      out.size_note = file ? "the GGUF file's size (metadata and tokenizer included)"
                           : "the checkpoint's *.safetensors files";
      return out;
    }
    case VariantKind::Gguf: {
      MadeVariant out{base};
      check_cancel(stop);
      const GgufVariantStats st = make_gguf_variant(out.model, v.format, progress, stop);
      out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      out.parameters = static_cast<double>(base.config().parameter_count());
      out.bytes = st.bytes;
      std::string types;
      for (const auto& t : st.types) types += (types.empty() ? "" : ", ") + t;
      out.size_note = fmt::format("the GGUF file's tensor data as llama-quantize types it ({}; norms f32){}", types,
                                  st.fell_back ? fmt::format("; {} tensors with rows too short for their type "
                                                             "took llama.cpp's fallback type", st.fell_back)
                                               : "");
      return out;
    }
    default: break;
  }
  const formats::BlockFormatSpec& spec = formats::block_format(v.format);
  MadeVariant out{base};
  check_cancel(stop);
  if (v.kind == VariantKind::Rtn &&
      (spec.kind == formats::BlockKind::NVFP4 || spec.kind == formats::BlockKind::FP8Tensor)) {
    quantize_fused_groups(out.model, spec, progress, stop);
  } else if (v.kind == VariantKind::Rtn) {
    quant::fake_quantize_model(out.model, spec, {}, progress, false, false, stop);
  } else {
    const io::Tokenizer tok = io::Tokenizer::load(ctx.model_dir);
    const bool gptq = v.kind == VariantKind::Gptq;
    const std::int64_t seq = quant::calibration_seq_len(base.config(), 0, gptq ? 2048 : 512);
    const quant::Warn warn = [&](const std::string& s) { out.warnings.push_back(s); };
    const quant::CalibrationSet set = quant::load_calibration(calibration_file(ctx), tok, 128, seq, 0, warn);
    if (gptq) {
      quant::GptqModelOptions o;
      o.gptq = quant::gptq_options_for(spec);
      quant::quantize_model_gptq(out.model, set, o, progress, stop, warn);
    } else {
      quant::quantize_model_awq(out.model, set, quant::awq_options_for(spec), progress, stop, warn);
    }
  }
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  quantized_size(base, spec, v.kind == VariantKind::Gptq, out);
  return out;
}

}  // namespace qlab::suite
