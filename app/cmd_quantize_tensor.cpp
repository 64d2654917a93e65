// qlab quantize-tensor: push one float32 tensor (a raw file or a synthetic one) through a block
// format, print the error metrics and the bits per weight of the bytes it produced.
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "app/cli.h"
#include "app/quantize_tensor_calibrated.h"
#include "engine/core/atomic_file.h"
#include "engine/core/error.h"
#include "engine/formats/block.h"
#include "engine/formats/format_lookup.h"
#include "engine/formats/metrics.h"
#include "engine/formats/scalar.h"
#include "engine/tensor/synthetic.h"

namespace qlab::app {
namespace {

using formats::BlockFormatSpec;

// Synthetic tensors come from the engine's one generator (engine/tensor/synthetic.h), as lab 1's do.
std::vector<float> synthetic(const std::string& kind, std::int64_t rows, std::int64_t cols, std::uint64_t seed) {
  const auto k = tensor::synthetic_kind_from_name(kind);
  if (!k) throw UsageError(fmt::format("--synthetic must be gaussian, gaussian-outliers or laplace, got '{}'", kind));
  return tensor::synthetic_tensor(*k, static_cast<std::size_t>(rows * cols), seed);
}

std::vector<float> read_tensor(const std::string& path, std::int64_t rows, std::int64_t cols) {
  // The size is checked before anything is read or allocated; a FIFO or a device is refused.
  const InputFile in(path, ~std::uint64_t{0});
  const std::uint64_t want = static_cast<std::uint64_t>(rows) * static_cast<std::uint64_t>(cols) * 4;
  if (in.size() != want)
    fail("{} holds {} bytes, but --rows {} --cols {} of float32 needs {} bytes", path, in.size(), rows, cols, want);
  const std::string bytes = in.read_all();
  std::vector<float> x(static_cast<std::size_t>(rows * cols));
  std::memcpy(x.data(), bytes.data(), bytes.size());  // raw little-endian float32 (the hosts we build for)
  return x;
}

BlockFormatSpec format_arg(const std::string& name) {
  try {
    return formats::block_format(name);
  } catch (const formats::UnknownFormat& e) {
    throw UsageError(e.what());
  }
}

// JSON has no infinity: an exact round trip reports its SQNR as null.
nlohmann::json finite_or_null(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }

std::string histogram_text(const formats::ErrorHistogram& h) {
  std::uint64_t top = 1;
  for (auto c : h.counts) top = std::max(top, c);
  std::string out;
  const double width = h.counts.empty() ? 0.0 : (h.hi - h.lo) / static_cast<double>(h.counts.size());
  for (std::size_t i = 0; i < h.counts.size(); ++i) {
    double lo = h.lo + width * static_cast<double>(i);
    auto bar = static_cast<std::size_t>(std::lround(40.0 * static_cast<double>(h.counts[i]) / static_cast<double>(top)));
    out += fmt::format("  {:>+11.3e} .. {:>+11.3e}  {:>10}  {}\n", lo, lo + width, h.counts[i], std::string(bar, '#'));
  }
  return out;
}

int run(const Args& a) {
  if (const std::string method = tensor_method(a); method != "rtn") return run_calibrated_tensor(a, method);
  const BlockFormatSpec spec = format_arg(a.require("format"));
  const bool has_in = a.has("in"), has_syn = a.has("synthetic");
  if (has_in == has_syn) throw UsageError("give exactly one of --in FILE or --synthetic KIND");
  if (has_in && (!a.has("rows") || !a.has("cols"))) throw UsageError("--in needs --rows R and --cols C");
  constexpr long long kMaxDim = 1LL << 24;
  const std::int64_t rows = a.get_int("rows", 256, 1, kMaxDim);
  const std::int64_t cols = a.get_int("cols", 4096, 1, kMaxDim);
  if (rows * cols > (1LL << 31)) throw UsageError(fmt::format("--rows x --cols = {} values is too many (max 2^31)", rows * cols));
  const auto seed = static_cast<std::uint64_t>(a.get_int("seed", 0, 0, (1LL << 62)));
  const int bins = static_cast<int>(a.get_int("bins", 21, 1, 1000));
  const auto path = a.has("reference") ? formats::KernelPath::Reference : formats::KernelPath::Fast;

  std::string source = has_in ? *a.get("in") : "synthetic " + *a.get("synthetic");
  std::vector<float> x = has_in ? read_tensor(*a.get("in"), rows, cols) : synthetic(*a.get("synthetic"), rows, cols, seed);

  // Columns that do not fill whole blocks: an error that says how to pad, or --pad does it.
  std::int64_t qcols = cols;
  std::vector<float> padded;
  if (a.has("pad")) {
    qcols = formats::padded_cols(spec, cols);
    if (qcols != cols) padded = formats::pad_columns(x, rows, cols, qcols);
  } else {
    try {
      formats::check_shape(spec, rows, cols);
    } catch (const Error& e) {
      fail("{} (add --pad to do that)", e.what());
    }
  }
  const std::vector<float>& qx = padded.empty() ? x : padded;

  std::vector<float> y(qx.size());
  using clock = std::chrono::steady_clock;
  auto t0 = clock::now();
  formats::QuantizedTensor q;
  try {
    q = formats::quantize(spec, qx, rows, qcols, path);
  } catch (const Error& e) {
    if (has_in) fail("{}: {}", source, e.what());
    throw;
  }
  auto t1 = clock::now();
  formats::dequantize(q, y, path);
  auto t2 = clock::now();
  if (qcols != cols) {  // metrics and output over the original columns only
    for (std::int64_t r = 0; r < rows; ++r)
      std::memmove(y.data() + r * cols, y.data() + r * qcols, static_cast<std::size_t>(cols) * 4);
    y.resize(x.size());
  }
  const formats::ErrorMetrics m = formats::error_metrics(x, y, bins);

  if (auto out = a.get("dequant-out"))
    write_file_atomic(*out, std::string_view(reinterpret_cast<const char*>(y.data()), y.size() * 4));

  const double n = static_cast<double>(rows) * static_cast<double>(cols);
  const double bpw = 8.0 * static_cast<double>(q.storage_bytes()) / n;
  const double fp16_bytes = 2.0 * n;
  const double ms_q = std::chrono::duration<double, std::milli>(t1 - t0).count();
  const double ms_d = std::chrono::duration<double, std::milli>(t2 - t1).count();
  const std::int64_t max_row = static_cast<std::int64_t>(m.max_abs_error_index) / cols;
  const std::int64_t max_col = static_cast<std::int64_t>(m.max_abs_error_index) % cols;

  if (a.json()) {
    nlohmann::json j = {{"format", spec.name},
                        {"description", spec.description},
                        {"source", source},
                        {"rows", rows},
                        {"cols", cols},
                        {"padded_cols", qcols},
                        {"storage_bytes", q.storage_bytes()},
                        {"bits_per_weight", bpw},
                        {"fp16_bytes", static_cast<std::uint64_t>(fp16_bytes)},
                        {"compression_vs_fp16", fp16_bytes / static_cast<double>(q.storage_bytes())},
                        {"mse", m.mse},
                        {"rel_frobenius", finite_or_null(m.rel_frobenius)},
                        {"sqnr_db", finite_or_null(m.sqnr_db)},
                        {"max_abs_error", m.max_abs_error},
                        {"max_abs_error_at", {max_row, max_col}},
                        {"signal_rms", std::sqrt(m.signal_power)},
                        {"histogram", {{"lo", m.histogram.lo}, {"hi", m.histogram.hi}, {"counts", m.histogram.counts}}},
                        {"quantize_ms", ms_q},
                        {"dequantize_ms", ms_d}};
    if (has_syn) j["seed"] = seed;
    if (auto out = a.get("dequant-out")) j["dequant_out"] = *out;
    print_json(j.dump(2));
    return 0;
  }
  fmt::print("format          {}  ({})\n", spec.name, spec.description);
  fmt::print("tensor          {} [{} x {}]{}{}\n", source, rows, cols, has_syn ? fmt::format(", seed {}", seed) : "",
             qcols != cols ? fmt::format(", padded to {} columns", qcols) : "");
  fmt::print("storage         {} bytes (fp16: {:.0f})  = {:.4f} bits per weight, {:.2f}x smaller than fp16\n",
             q.storage_bytes(), fp16_bytes, bpw, fp16_bytes / static_cast<double>(q.storage_bytes()));
  fmt::print("MSE             {:.4e}   (signal RMS {:.4e})\n", m.mse, std::sqrt(m.signal_power));
  fmt::print("rel. Frobenius  {:.4e}\n", m.rel_frobenius);
  fmt::print("SQNR            {:.2f} dB\n", m.sqnr_db);
  fmt::print("max |error|     {:.4e} at row {}, column {}\n", m.max_abs_error, max_row, max_col);
  fmt::print("time            quantize {:.1f} ms, dequantize {:.1f} ms\n", ms_q, ms_d);
  fmt::print("error histogram (dequantized - original):\n{}", histogram_text(m.histogram));
  if (auto out = a.get("dequant-out")) fmt::print("wrote           {} (float32 [{} x {}])\n", *out, rows, cols);
  return 0;
}

const Registrar reg{with_calibrated_tensor_options(Command{
    "quantize-tensor",
    "quantize one float32 tensor with a block format: error metrics and bits per weight",
    "--format F (--in FILE --rows R --cols C | --synthetic KIND [--rows R --cols C --seed S]) "
    "[--pad] [--dequant-out FILE]",
    {
        {"format", "F", "block format: nvfp4 mxfp4 nf4 nf4-dq int4-g128 int4-g128-sym int8-ch fp8-tensor ..."},
        {"in", "FILE", "raw little-endian float32 tensor, row-major [R x C]"},
        {"rows", "R", "rows (output channels); synthetic default 256"},
        {"cols", "C", "columns (input channels; blocks run along them); synthetic default 4096"},
        {"synthetic", "KIND", "gaussian, gaussian-outliers or laplace (std 0.02)"},
        {"seed", "S", "seed of the synthetic tensor (default 0)"},
        {"pad", "", "zero-pad each row to a whole number of blocks"},
        {"dequant-out", "FILE", "write the dequantized tensor (raw float32, same shape); a device or pipe is "
                                "written to directly, a link through to its file"},
        {"bins", "N", "error histogram bins (default 21)"},
        {"reference", "", "run the plain reference kernels (same bytes, slower)"},
    },
    "Bits per weight come from the bytes the format really stores (codes, block scales, zero points,\n"
    "second-level scales and per-tensor scalars). SQNR = 10 log10(sum x^2 / sum (x^ - x)^2).",
    0,
    0,
    run,
})};

}  // namespace
}  // namespace qlab::app
