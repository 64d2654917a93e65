// quantize-tensor --method gptq|awq (see quantize_tensor_calibrated.h): W raw little-endian float32
// [R x C] (out x in, as Hugging Face stores a Linear), X raw float32 [N x C]. The output error
// ||(Q - W) X^T||^2 / ||W X^T||^2 of the method and of round-to-nearest, both on the same format.
#include "app/quantize_tensor_calibrated.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstring>

#include "engine/core/atomic_file.h"
#include "engine/core/error.h"
#include "engine/formats/format_lookup.h"
#include "engine/quant/awq.h"
#include "engine/quant/gptq.h"
#include "engine/quant/input_stats.h"

namespace qlab::app {

namespace {

std::vector<float> read_f32(const std::string& path, std::int64_t rows, std::int64_t cols, const char* what) {
  const std::string bytes = read_file(path);
  const std::uint64_t want = static_cast<std::uint64_t>(rows) * static_cast<std::uint64_t>(cols) * 4;
  if (bytes.size() != want)
    fail("{} holds {} bytes, but {} [{} x {}] of float32 needs {} bytes", path, bytes.size(), what, rows, cols, want);
  std::vector<float> x(static_cast<std::size_t>(rows * cols));
  std::memcpy(x.data(), bytes.data(), bytes.size());
  return x;
}

double weight_mse(const std::vector<float>& a, const std::vector<float>& b) {
  double e = 0;
  for (std::size_t i = 0; i < a.size(); ++i) e += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
  return e / static_cast<double>(a.size());
}

}  // namespace

std::vector<Option> calibrated_tensor_options() {
  return {{"method", "M", "rtn (default), gptq or awq (int group formats; need --acts)"},
          {"acts", "FILE", "gptq/awq: the Linear's input activations, raw float32 [N x C]"},
          {"samples", "N", "gptq/awq: rows N of --acts (tokens)"},
          {"act-order", "", "gptq: columns in order of decreasing Hessian diagonal (desc_act)"},
          {"static-groups", "", "gptq: every group's parameters from W before any update"},
          {"damp", "D", "gptq: damping, a fraction of the mean Hessian diagonal (default 0.01)"}};
}

Command with_calibrated_tensor_options(Command c) {
  for (Option& o : calibrated_tensor_options()) c.options.push_back(std::move(o));
  return c;
}

std::string tensor_method(const Args& a) {
  const std::string m = a.get_or("method", "rtn");
  if (m != "rtn" && m != "gptq" && m != "awq")
    throw UsageError(fmt::format("--method must be rtn, gptq or awq, not '{}'", m));
  if (m == "rtn") {
    for (const char* f : {"acts", "samples", "act-order", "static-groups", "damp"})
      if (a.has(f)) throw UsageError(fmt::format("--{} needs --method gptq or awq", f));
    return m;
  }
  if (m == "awq")
    for (const char* f : {"act-order", "static-groups", "damp"})
      if (a.has(f)) throw UsageError(fmt::format("--{} is a gptq option", f));
  if (!a.has("in") || !a.has("rows") || !a.has("cols") || !a.has("acts") || !a.has("samples"))
    throw UsageError(fmt::format("--method {} needs --in W.bin --rows R --cols C --acts X.bin --samples N", m));
  if (a.has("synthetic")) throw UsageError(fmt::format("--method {} quantizes --in W.bin, not --synthetic", m));
  return m;
}

int run_calibrated_tensor(const Args& a, const std::string& method) {
  formats::BlockFormatSpec spec;
  try {
    spec = formats::block_format(a.require("format"));
  } catch (const formats::UnknownFormat& e) {
    throw UsageError(e.what());
  }
  constexpr long long kMaxDim = 1LL << 24;
  const std::int64_t rows = a.get_int("rows", 0, 1, kMaxDim), cols = a.get_int("cols", 0, 1, kMaxDim);
  const std::int64_t n = a.get_int("samples", 0, 1, kMaxDim);
  if (rows * cols > (1LL << 31) || n * cols > (1LL << 31)) throw UsageError("--rows/--samples x --cols: too many values (max 2^31)");
  if (spec.kind != formats::BlockKind::IntGroup)
    fail("--method {} quantizes to integer group formats (int4-g128, int4-g32-sym, int8-ch, ...), not {}", method,
         spec.name);
  const std::string in = a.require("in"), acts = a.require("acts");
  const bool pad = a.has("pad");
  const std::vector<float> w = read_f32(in, rows, cols, "--rows x --cols");
  const std::vector<float> x = read_f32(acts, n, cols, "--samples x --cols");
  const std::int64_t g = spec.block_size > 0 ? spec.block_size : cols;
  if (cols % g != 0 && cols > g && !pad)
    fail("{}: in_features {} is not a multiple of {}'s group size {} (add --pad: the last group is shorter, as zero "
         "padding would make it)", in, cols, spec.name, g);

  using clock = std::chrono::steady_clock;
  quant::InputStats stats(cols, true, acts);
  stats.add(x.data(), n);
  const std::vector<float> gram = stats.gram();
  // Round-to-nearest on the same format, with the same group rule.
  const quant::QuantizedLinear rtn = quant::round_to_nearest(w, rows, cols, spec.bits, spec.block_size > 0 ? spec.block_size : -1,
                                                             spec.symmetric, in);
  const auto t0 = clock::now();
  std::vector<float> q;
  nlohmann::json extra;
  if (method == "gptq") {
    quant::GptqOptions o = quant::gptq_options_for(spec);
    o.act_order = a.has("act-order");
    o.static_groups = a.has("static-groups");
    o.damp = a.get_double("damp", 0.01);
    o.allow_partial_group = pad;
    quant::GptqStats st;
    const auto warn = [](const std::string& s) { fmt::print(stderr, "warning: {}\n", s); };
    quant::QuantizedLinear r = quant::gptq_quantize(w, rows, cols, stats.hessian(), o, in, warn, &st);
    q = std::move(r.dequantized);
    extra = {{"act_order", o.act_order}, {"static_groups", o.static_groups}, {"damp", st.damp},
             {"damp_raises", st.damp_raises}, {"dead_columns", st.dead_columns}, {"gptq_loss", st.loss}};
  } else {
    quant::AwqOptions o = quant::awq_options_for(spec);
    quant::AwqLinearResult r = quant::awq_quantize_linear(w, rows, cols, x, n, o, in);
    q = std::move(r.effective);
    extra = {{"awq_ratio", r.search.ratio}, {"awq_scale_loss", r.search.loss}};
  }
  const double secs = std::chrono::duration<double>(clock::now() - t0).count();
  const double err = quant::output_error(w, q, rows, cols, gram);
  const double err_rtn = quant::output_error(w, rtn.dequantized, rows, cols, gram);
  if (auto out = a.get("dequant-out"))
    write_file_atomic(*out, std::string_view(reinterpret_cast<const char*>(q.data()), q.size() * 4));
  if (a.json()) {
    nlohmann::json j = {{"method", method}, {"format", spec.name}, {"source", in}, {"acts", acts},
                        {"rows", rows}, {"cols", cols}, {"samples", n},
                        {"output_error", err}, {"rtn_output_error", err_rtn},
                        {"rtn_over_method", err > 0 ? nlohmann::json(err_rtn / err) : nlohmann::json(nullptr)},
                        {"weight_mse", weight_mse(w, q)}, {"rtn_weight_mse", weight_mse(w, rtn.dequantized)},
                        {"quantize_ms", 1000 * secs}};
    j.update(extra);
    if (auto out = a.get("dequant-out")) j["dequant_out"] = *out;
    print_json(j.dump(2));
    return 0;
  }
  fmt::print("method          {} to {}  ({})\n", method, spec.name, spec.description);
  fmt::print("weight          {} [{} x {}], activations {} [{} x {}]\n", in, rows, cols, acts, n, cols);
  fmt::print("output error    ||(Q-W)X^T||^2/||WX^T||^2 = {:.4e}   (rtn {:.4e}: {:.2f}x lower)\n", err, err_rtn,
             err > 0 ? err_rtn / err : 0.0);
  fmt::print("weight MSE      {:.4e}   (rtn {:.4e})\n", weight_mse(w, q), weight_mse(w, rtn.dequantized));
  if (method == "gptq")
    fmt::print("gptq            damp {:.4f}{}, {} dead columns, act-order {}, {:.1f} ms\n", extra["damp"].get<double>(),
               extra["damp_raises"].get<int>() ? fmt::format(" (raised {} times)", extra["damp_raises"].get<int>()) : "",
               extra["dead_columns"].get<int>(), extra["act_order"].get<bool>() ? "on" : "off", 1000 * secs);
  else
    fmt::print("awq             best ratio {:.2f}, {:.1f} ms\n", extra["awq_ratio"].get<double>(), 1000 * secs);
  if (auto out = a.get("dequant-out")) fmt::print("wrote           {} (float32 [{} x {}])\n", *out, rows, cols);
  return 0;
}

}  // namespace qlab::app
