// `qlab ppl MODEL [--text FILE | --tokens FILE] [--ctx N] [--quant F] [--quant-all] [--kld] [--sliding S]`:
// perplexity the llama.cpp way (or the sliding-window way), optionally of a fake-quantized copy of
// the model and its KL-divergence from the original.
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "app/calibrated_quant.h"
#include "app/cli.h"
#include "app/device_arg.h"
#include "app/model_arg.h"
#include "app/model_source.h"
#include "engine/core/atomic_file.h"
#include "engine/core/error.h"
#include "engine/eval/perplexity.h"
#include "engine/eval/ppl_setup.h"
#include "engine/formats/format_lookup.h"
#include "engine/io/safetensors.h"
#include "engine/io/tokenizer.h"
#include "engine/quant/rtn.h"

namespace qlab::app {
namespace {

nlohmann::json quantiles_json(const eval::Quantiles& q) {
  return {{"max", q.max}, {"p99.9", q.p999}, {"p99", q.p99}, {"p95", q.p95},  {"p90", q.p90},
          {"median", q.median}, {"p10", q.p10}, {"p5", q.p5}, {"p1", q.p1}, {"min", q.min}};
}

// A perplexity that is NaN or infinite is an error, not a result: say which weight made it so.
[[noreturn]] void fail_not_finite(const std::filesystem::path& dir) {
  if (is_gguf_source(dir))
    fail("{}: the perplexity is not a number (a weight holds a NaN or an infinity, or the forward pass overflowed)",
         dir.string());
  const io::TensorStore store = io::TensorStore::open(dir);
  if (const auto bad = store.first_non_finite())
    fail("{}: tensor '{}' holds a NaN or an infinity (element {}), so the perplexity is not a number", dir.string(),
         bad->first, bad->second);
  fail("{}: the perplexity is not a number although every weight is finite (the forward pass overflowed)",
       dir.string());
}

int run(const Args& a) {
  const auto dir = resolve_model_source(a.positional().at(0));
  if (a.has("text") && a.has("tokens")) throw UsageError("give one of --text FILE and --tokens FILE, not both");
  // A model folder that ships its own held-out text (the built-in model does) is scored on it by default.
  std::filesystem::path text_path;
  if (a.has("text")) {
    text_path = a.require("text");
  } else if (!a.has("tokens")) {
    if (!std::filesystem::exists(dir / "eval.txt"))
      throw UsageError(fmt::format("give --text FILE or --tokens FILE ({} has no held-out eval.txt of its own)",
                                   dir.string()));
    text_path = dir / "eval.txt";
  }
  eval::PplRequest req;
  req.stride = a.get_int("sliding", 0, 1, 1 << 20);
  req.max_chunks = a.get_int("chunks", 0, 1, 1LL << 40);
  req.n_ctx = a.get_int("ctx", 0, 4, 1 << 20);  // 0: the set-up's default (512, or the trained context)
  req.rewrite_bos = !a.has("no-bos");
  if (a.has("kld") && !a.has("quant"))
    throw UsageError("--kld compares a quantized model with the original: add --quant F");
  if (a.has("quant-all") && !a.has("quant")) throw UsageError("--quant-all needs --quant F");
  const std::string method = quant_method(a);
  std::optional<formats::BlockFormatSpec> spec;
  if (a.has("quant")) {
    try {
      spec = formats::block_format(a.require("quant"));
    } catch (const formats::UnknownFormat& e) {
      throw UsageError(e.what());
    }
  }

  const DeviceArg device = choose_device(a, "ppl");
  const model::Model base = load_model_source(dir);
  // A GGUF file's text is tokenized as llama-perplexity does: special tokens' text is plain text.
  std::optional<io::Tokenizer> tok = load_tokenizer_source(dir, /*special_as_text=*/true);
  if (tok) tok->check_fits(base.vocab_size(), is_gguf_source(dir) ? dir : dir / "config.json");
  if (!text_path.empty()) {
    if (!tok) fail("{} has no tokenizer: use --tokens FILE with token ids instead of --text", dir.string());
    req.text = read_file(text_path);
  } else {
    req.tokens = read_token_file(a.require("tokens"));
  }
  const eval::PplSetup setup = eval::ppl_setup(base.config(), tok ? &*tok : nullptr, std::move(req));
  for (const auto& w : setup.warnings) fmt::print(stderr, "warning: {}: {}\n", dir.string(), w);
  eval::PplOptions opt = setup.options;
  opt.backend = device.backend;
  const std::vector<std::int32_t>& tokens = setup.tokens;

  StderrProgress progress;
  nlohmann::json j{{"model", dir.string()}, {"tokens", tokens.size()}, {"ctx", opt.n_ctx},
                   {"protocol", setup.protocol}};
  device.add_to(j);
  const bool json = a.json();
  if (!json && device.report()) fmt::print("device: {}\n", device.where);
  if (!json) fmt::print("{} tokens; protocol: {}\n", tokens.size(), setup.protocol);

  model::Model test = base;  // shares every weight until fake quantization replaces some
  if (spec && method != "rtn") {
    quantize_calibrated(a, method, dir, test, *spec, progress, j, json, {}, {}, nullptr, device.backend);
  } else if (spec) {
    // Without --kld the original weights are not read again: let their pages go as each is replaced.
    // On a GPU the packed bytes themselves (the same logits): the device dequantizes them a slab at a time.
    const auto st = quant::fake_quantize_model(test, *spec, {.embeddings = a.has("quant-all")}, progress,
                                               !a.has("kld"), device.gpu);
    j["quant"] = {{"format", spec->name}, {"matrices", st.matrices}, {"weights", st.weights},
                  {"embeddings_and_lm_head", a.has("quant-all") ? "quantized" : "kept"}};
    if (!json)
      fmt::print("fake-quantized {} matrices ({:.0f} weights) to {}{}\n", st.matrices, st.weights, spec->name,
                 a.has("quant-all") ? ", embeddings and lm_head included" : "; embeddings and lm_head kept");
  }

  auto ppl_json = [](const eval::PplResult& r) {
    return nlohmann::json{{"ppl", r.nll.ppl()},         {"ppl_error", r.nll.ppl_error()},
                          {"scored_tokens", r.nll.count}, {"chunks", r.chunks},
                          {"running_ppl", r.running_ppl}};
  };
  if (a.has("kld")) {
    const eval::KldResult r = eval::kl_divergence(base, test, tokens, opt, progress);
    if (!std::isfinite(r.base.nll.ppl()) || !std::isfinite(r.test.nll.ppl())) fail_not_finite(dir);
    const double secs = r.base.seconds;
    const double tps = secs > 0 ? 2.0 * static_cast<double>(r.base.tokens_evaluated) / secs : 0;
    const double n = static_cast<double>(r.kld.size());
    const double mb = r.base.nll.sum / n, mt = r.test.nll.sum / n;
    const double var_b = r.base.nll.sum2 / n - mb * mb, var_t = r.test.nll.sum2 / n - mt * mt;
    const double cov = r.cov_nll();
    // ln(PPL(Q)/PPL(base)) = mean(nll_q - nll_b); its error from the variances and covariance of the series.
    const double ln_ratio = mt - mb;
    const double ln_ratio_err = n > 1 ? std::sqrt(std::max(0.0, (var_b + var_t) * n / (n - 1) - 2 * cov) / n) : 0;
    const double corr = (var_b > 0 && var_t > 0) ? cov / std::sqrt(var_b * var_t * n * n / ((n - 1) * (n - 1))) : 0;
    double rms_dp = 0;
    for (double d : r.delta_p) rms_dp += d * d;
    rms_dp = std::sqrt(rms_dp / n);
    double mean_dp = 0;
    for (double d : r.delta_p) mean_dp += d;
    mean_dp /= n;
    const auto kq = eval::quantiles(r.kld);
    const auto dq = eval::quantiles(r.delta_p);
    j["base"] = ppl_json(r.base);
    j["quantized"] = ppl_json(r.test);
    j["ln_ppl_ratio"] = ln_ratio;
    j["ln_ppl_ratio_error"] = ln_ratio_err;
    j["ppl_ratio"] = std::exp(ln_ratio);
    j["ln_ppl_correlation"] = corr;
    j["kld"] = {{"mean", r.mean_kld()}, {"error", r.mean_kld_error()}, {"quantiles", quantiles_json(kq)}};
    j["delta_p"] = {{"mean", mean_dp}, {"rms", rms_dp}, {"quantiles", quantiles_json(dq)}};
    j["same_top"] = {{"fraction", r.same_top_fraction()}, {"error", r.same_top_error()}};
    j["seconds"] = secs;
    j["tokens_per_s"] = tps;
    if (json) {
      print_json(j.dump(2));
      return 0;
    }
    fmt::print("PPL(base) = {:.4f} +/- {:.5f}\n", r.base.nll.ppl(), r.base.nll.ppl_error());
    fmt::print("PPL(Q)    = {:.4f} +/- {:.5f}   ({} scored tokens, {} chunks)\n", r.test.nll.ppl(),
               r.test.nll.ppl_error(), r.kld.size(), r.test.chunks);
    fmt::print("Cor(ln PPL(Q), ln PPL(base)): {:.2f}%\n", 100 * corr);
    fmt::print("Mean ln(PPL(Q)/PPL(base)): {:.6f} +/- {:.6f}   PPL(Q)/PPL(base): {:.6f}\n", ln_ratio, ln_ratio_err,
               std::exp(ln_ratio));
    fmt::print("Mean    KLD: {:.6f} +/- {:.6f}\n", r.mean_kld(), r.mean_kld_error());
    fmt::print("Maximum KLD: {:.6f}\n99.9%   KLD: {:.6f}\n99.0%   KLD: {:.6f}\nMedian  KLD: {:.6f}\n"
               "10.0%   KLD: {:.6f}\n 5.0%   KLD: {:.6f}\n 1.0%   KLD: {:.6f}\nMinimum KLD: {:.6f}\n",
               kq.max, kq.p999, kq.p99, kq.median, kq.p10, kq.p5, kq.p1, kq.min);
    fmt::print("Mean    Δp: {:.3f}%   RMS Δp: {:.3f}%\n", 100 * mean_dp, 100 * rms_dp);
    fmt::print("Same top p: {:.3f} +/- {:.3f} %\n", 100 * r.same_top_fraction(), 100 * r.same_top_error());
    fmt::print("{:.1f} tokens/s ({} model evaluations of {} tokens in {:.2f} s)\n", tps, 2 * r.base.chunks,
               opt.n_ctx, secs);
    return 0;
  }

  const eval::PplResult r = eval::perplexity(test, tokens, opt, progress);
  if (!std::isfinite(r.nll.ppl())) fail_not_finite(dir);
  const double tps = r.seconds > 0 ? static_cast<double>(r.tokens_evaluated) / r.seconds : 0;
  j.update(ppl_json(r));
  j["seconds"] = r.seconds;
  j["tokens_per_s"] = tps;
  if (json) {
    print_json(j.dump(2));
    return 0;
  }
  std::string running;
  for (std::size_t i = 0; i < r.running_ppl.size(); ++i)
    running += fmt::format("{}[{}]{:.4f}", i ? "," : "", i + 1, r.running_ppl[i]);
  fmt::print("{}\n", running);
  fmt::print("Final estimate: PPL = {:.4f} +/- {:.5f}   ({} scored tokens)\n", r.nll.ppl(), r.nll.ppl_error(),
             r.nll.count);
  fmt::print("{:.1f} tokens/s ({} tokens evaluated in {:.2f} s)\n", tps, r.tokens_evaluated, r.seconds);
  return 0;
}

const Registrar reg{with_calibration_options(Command{
    "ppl", "perplexity (llama.cpp protocol or sliding window), optionally fake-quantized, with KL-divergence",
    "MODEL [--text FILE | --tokens FILE] [--ctx N] [--chunks N] [--quant F [--method rtn|gptq|awq]] [--quant-all] "
    "[--kld] [--sliding STRIDE] [--no-bos]",
    {{"text", "FILE", "UTF-8 text, tokenized once with the model's tokenizer (BOS first if it adds one); "
              "default: the model folder's eval.txt (the built-in model's held-out text)"},
     {"tokens", "FILE", "token ids, whitespace-separated, used as given"},
     {"ctx", "N", "context per chunk / window (default 512, or the model's trained context if shorter)"},
     {"quant", "F", "fake-quantize every linear weight to block format F (see qlab formats list)"},
     {"quant-all", "", "with --quant: quantize the embeddings and lm_head too"},
     {"kld", "", "with --quant: KL-divergence of the quantized model from the original"},
     {"sliding", "STRIDE", "sliding-window protocol: windows of --ctx every STRIDE tokens, every token scored once"},
     {"chunks", "N", "evaluate only the first N chunks / windows"},
     {"no-bos", "", "do not overwrite each chunk's first token with BOS"},
     device_options()[0], device_options()[1]},
    "Default protocol (llama.cpp perplexity): the stream is cut into chunks of --ctx tokens; with a BOS "
    "token the first token of each chunk is replaced by it; only the second half of each chunk is "
    "scored. The +/- is llama.cpp's standard error. Reports tokens/s.",
    1, 1, run})};

}  // namespace
}  // namespace qlab::app
