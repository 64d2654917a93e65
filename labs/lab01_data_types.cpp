// Lab 1 — data type exploration: what each number format can hold, and what it does to real values.
//   lab01.properties    the properties table of every scalar format
//   lab01.number_line   where the representable values sit, and how many fall in [1, 2)
//   lab01.synthetic     round-trip error (SQNR, histogram) on synthetic weight-like tensors
//   lab01.model_tensor  the same on a real weight tensor of the current model
//   lab01.bits          type a number, see its bits in every format
#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "engine/formats/scalar.h"
#include "engine/tensor/synthetic.h"
#include "labs/lab.h"
#include "labs/model_tensor.h"
#include "labs/tensor_stats.h"

namespace qlab::labs {

namespace {

using formats::ScalarFormat;
namespace F = qlab::formats;

std::string num(double v) {
  if (v == 0) return "0";
  double a = std::fabs(v);
  if (a >= 1e5 || a < 1e-3) return fmt::format("{:.3g}", v);
  return fmt::format("{:.6g}", v);
}

StepResult properties_job(const JobContext&, Progress& progress, std::stop_token stop) {
  StepResult r;
  Table t;
  t.title = "Scalar formats";
  t.header = {"format", "bits", "E", "M", "bias", "max", "min normal", "min subn.", "epsilon", "values"};
  for (ScalarFormat f : F::all_scalar_formats()) {
    check_cancel(stop);
    const auto& p = F::properties(f);
    t.rows.push_back({p.name, std::to_string(p.bits), std::to_string(p.exponent_bits),
                      std::to_string(p.mantissa_bits), std::to_string(p.bias), num(p.max_finite),
                      num(p.min_normal), num(p.min_subnormal), num(p.epsilon), fmt::format("{}", p.finite_count)});
    r.record["formats"][p.name] = {{"max", p.max_finite}, {"epsilon", p.epsilon}, {"values", p.finite_count}};
  }
  progress.report(1.0, "properties");
  r.blocks.push_back(std::move(t));
  return r;
}

StepResult number_line_job(const JobContext&, Progress& progress, std::stop_token stop) {
  StepResult r;
  NumberLine line;
  line.title = "Representable values between -7 and 7";
  line.lo = -7;
  line.hi = 7;
  Table dens;
  dens.title = "How many values each format has in [1, 2) and overall";
  dens.header = {"format", "in [1,2)", "step at 1", "finite values"};
  const std::vector<ScalarFormat> shown = {ScalarFormat::F16, ScalarFormat::BF16, ScalarFormat::E4M3, ScalarFormat::E5M2,
                                           ScalarFormat::E2M1, ScalarFormat::INT4, ScalarFormat::NF4};
  std::size_t i = 0;
  for (ScalarFormat f : shown) {
    check_cancel(stop);
    const auto& p = F::properties(f);
    std::vector<double> vals = F::representable_values(f);
    std::vector<double> in_range;
    std::size_t in_12 = 0;
    for (double v : vals) {
      if (v >= line.lo && v <= line.hi) in_range.push_back(v);
      if (v >= 1.0 && v < 2.0) ++in_12;
    }
    line.names.push_back(p.name);
    line.values.push_back(std::move(in_range));
    dens.rows.push_back({p.name, std::to_string(in_12), p.epsilon > 0 ? num(p.epsilon) : "-", fmt::format("{}", vals.size())});
    r.record["in_1_2"][p.name] = in_12;
    progress.report(static_cast<double>(++i) / static_cast<double>(shown.size()), p.name);
  }
  r.blocks.push_back(std::move(line));
  r.blocks.push_back(std::move(dens));
  return r;
}

// Round-trip of a whole tensor through one scalar format. Formats narrower than 16 bits get a
// per-tensor scale (absmax -> the format's largest value), as any real use of them does.
std::vector<float> round_trip(ScalarFormat f, const std::vector<float>& x) {
  const auto& p = F::properties(f);
  double scale = 1.0;
  if (p.bits < 16) {
    double amax = 0;
    for (float v : x) amax = std::max(amax, static_cast<double>(std::fabs(v)));
    if (amax > 0) scale = amax / p.max_finite;
  }
  std::vector<float> q(x.size());
  const float inv = static_cast<float>(1.0 / scale), s = static_cast<float>(scale);
  for (std::size_t i = 0; i < x.size(); ++i) q[i] = F::decode(f, F::encode(f, x[i] * inv)) * s;
  return q;
}

const std::vector<ScalarFormat>& tensor_formats() {
  static const std::vector<ScalarFormat> v = {ScalarFormat::F16, ScalarFormat::BF16, ScalarFormat::E4M3,
                                              ScalarFormat::E5M2, ScalarFormat::INT8, ScalarFormat::E2M1,
                                              ScalarFormat::INT4, ScalarFormat::NF4};
  return v;
}

// SQNR table + bar chart + two error histograms for one or more tensors.
void tensor_report(StepResult& r, const std::vector<std::pair<std::string, std::vector<float>>>& tensors,
                   Progress& progress, const std::stop_token& stop) {
  Table t;
  t.title = "SQNR in dB (higher is better; every 6 dB is one more bit of precision)";
  t.header = {"format"};
  for (const auto& [name, _] : tensors) t.header.push_back(name);
  t.header.push_back("zeroed (" + tensors.front().first + ")");
  BarChart bars;
  bars.title = "SQNR on " + tensors.front().first;
  bars.unit = "dB";
  const auto& fmts = tensor_formats();
  std::size_t done = 0, total = fmts.size() * tensors.size();
  for (ScalarFormat f : fmts) {
    const auto& p = F::properties(f);
    std::vector<std::string> row = {p.name};
    double zeroed = 0;
    for (std::size_t k = 0; k < tensors.size(); ++k) {
      check_cancel(stop);
      const auto& x = tensors[k].second;
      std::vector<float> q = round_trip(f, x);
      ErrorStats s = error_stats(x, q);
      row.push_back(fmt_db(s.sqnr_db));
      r.record["sqnr_db"][tensors[k].first][p.name] = std::isinf(s.sqnr_db) ? nlohmann::json("exact") : nlohmann::json(s.sqnr_db);
      if (k == 0) {
        bars.labels.push_back(p.name);
        bars.values.push_back(s.sqnr_db);  // +inf: exact; the chart says so rather than drawing 0
        zeroed = s.zero_fraction;
        if (f == ScalarFormat::E4M3 || f == ScalarFormat::E2M1) {
          double range = 4 * std::sqrt(s.mse);
          r.blocks.push_back(error_histogram(x, q, range > 0 ? range : 1e-6, 41,
                                             fmt::format("{} error on {}", p.name, tensors[k].first)));
        }
      }
      progress.report(static_cast<double>(++done) / static_cast<double>(total),
                      fmt::format("{} on {}", p.name, tensors[k].first));
    }
    row.push_back(fmt::format("{:.2f}%", 100 * zeroed));
    t.rows.push_back(std::move(row));
  }
  r.blocks.insert(r.blocks.begin(), Block(std::move(bars)));
  r.blocks.insert(r.blocks.begin(), Block(std::move(t)));
}

StepResult synthetic_job(const JobContext& ctx, Progress& progress, std::stop_token stop) {
  StepResult r;
  const auto n = static_cast<std::size_t>(ctx.param_int("values"));
  std::vector<std::pair<std::string, std::vector<float>>> tensors;
  // The tensors of `qlab quantize-tensor --synthetic KIND` with the same number of values (seed 0).
  for (auto k : {tensor::SyntheticKind::Gaussian, tensor::SyntheticKind::Laplace, tensor::SyntheticKind::GaussianOutliers}) {
    tensors.emplace_back(tensor::synthetic_name(k), tensor::synthetic_tensor(k, n));
    double ss = 0;
    for (float v : tensors.back().second) ss += static_cast<double>(v) * v;
    r.record["rms"][tensor::synthetic_name(k)] = std::sqrt(ss / static_cast<double>(n));  // about 0.02 by design
  }
  tensor_report(r, tensors, progress, stop);
  return r;
}

StepResult model_tensor_job(const JobContext& ctx, Progress& progress, std::stop_token stop) {
  progress.report(0.0, "reading the weights");
  WeightSample w = load_weight_sample(ctx.model, 1 << 20, static_cast<int>(ctx.param_int("layer")), ctx.param("projection"));
  check_cancel(stop);
  StepResult r;
  std::string label = fmt::format("{} ({}x{})", w.name, w.rows, w.cols);
  tensor_report(r, {{"model tensor", w.data}}, progress, stop);
  const double peak = peak_to_rms(w.data);
  const auto n = w.data.size();
  const double gauss = peak_to_rms(tensor::synthetic_tensor(tensor::SyntheticKind::Gaussian, n));
  const double outl = peak_to_rms(tensor::synthetic_tensor(tensor::SyntheticKind::GaussianOutliers, n));
  r.blocks.insert(r.blocks.begin(),
                  Block(Text{fmt::format("Tensor {} of the {} model: the first {} of its {} rows. Its largest |w| is {:.1f} "
                                         "times its RMS; a bell curve of as many values gives {:.1f}, the synthetic "
                                         "tensor with outliers {:.1f}. The larger the ratio, the coarser one scale for "
                                         "the whole tensor makes the steps for every ordinary value.",
                                         w.name, ctx.model.display, w.rows, w.full_rows, peak, gauss, outl)}));
  // Which tensors of this model have the largest outliers, to try next (a small model only).
  const auto ranked = rank_by_peak(ctx.model, 256ull << 20);
  if (!ranked.empty()) {
    Table t;
    t.title = "This model's projections with the largest peak / RMS (choose one with s: layer and projection)";
    t.header = {"tensor", "peak / RMS"};
    for (std::size_t i = 0; i < ranked.size() && i < 3; ++i)
      t.rows.push_back({ranked[i].name, fmt::format("{:.1f}", ranked[i].peak_to_rms)});
    r.blocks.push_back(std::move(t));
  }
  r.record["tensor"] = label;
  r.record["peak_to_rms"] = peak;
  return r;
}

// "0 1000 011" for an e4m3 code: sign, exponent, mantissa groups; a storage bit the format does not
// use (UE4M3 keeps 7 bits in a byte) stands apart in front: "0 1111 110".
std::string grouped_bits(const F::ScalarProperties& p, std::uint32_t code) {
  std::string bits;
  for (int b = p.bits - 1; b >= 0; --b) bits += ((code >> b) & 1u) ? '1' : '0';
  if (!p.is_float || p.exponent_bits == 0) return bits;
  const int signbits = p.is_signed ? 1 : 0;
  const int unused = std::max(0, p.bits - signbits - p.exponent_bits - p.mantissa_bits);
  std::vector<int> cuts;  // a space before these positions
  if (unused) cuts.push_back(unused);
  if (signbits) cuts.push_back(unused + signbits);
  if (p.mantissa_bits > 0) cuts.push_back(unused + signbits + p.exponent_bits);
  std::string out;
  for (int i = 0; i < static_cast<int>(bits.size()); ++i) {
    if (std::find(cuts.begin(), cuts.end(), i) != cuts.end()) out += ' ';
    out += bits[static_cast<std::size_t>(i)];
  }
  return out;
}

// A value as the learner typed it, or what the machine makes of it. strtod gives +-inf (ERANGE) past
// a double's range (1e400) and 0 below it; a double past a float's range (1e40) becomes +-inf as a
// float. Both are said in a note.
struct Typed {
  double v = 0;  // the value typed, as a double reads it
  float x = 0;   // as a float: what the formats are given
  std::string note;
};

Typed parse_typed(const std::string& in) {
  errno = 0;
  char* end = nullptr;
  const double v = std::strtod(in.c_str(), &end);
  if (in.empty() || end != in.c_str() + in.size())
    fail("'{}' is not a number (try 0.1, 3.14159, 448, 1e-5, -0, inf or nan)", in);
  Typed t;
  t.v = v;
  t.x = static_cast<float>(v);
  const bool spelled_inf = in.find("inf") != std::string::npos || in.find("INF") != std::string::npos ||
                           in.find("Inf") != std::string::npos;
  if (std::isinf(v) && !spelled_inf)
    t.note = fmt::format("{} is beyond even a double's range: it reads as {}infinity.", in, v < 0 ? "-" : "");
  else if (std::isfinite(v) && std::isinf(t.x))
    t.note = fmt::format("{} is beyond FP32's largest value (3.40282e+38): as a float it is {}infinity.", in,
                         v < 0 ? "-" : "");
  else if (errno == ERANGE && v == 0)
    t.note = fmt::format("{} is below even a double's smallest value: it reads as {}0.", in, std::signbit(v) ? "-" : "");
  return t;
}

std::string signed_num(double v) { return v == 0 && std::signbit(v) ? "-0" : num(v); }

StepResult bits_job(const JobContext& ctx, Progress& progress, std::stop_token) {
  std::string in = ctx.input;
  while (!in.empty() && std::isspace(static_cast<unsigned char>(in.back()))) in.pop_back();
  while (!in.empty() && std::isspace(static_cast<unsigned char>(in.front()))) in.erase(in.begin());
  const Typed typed = parse_typed(in);
  const float x = typed.x;
  StepResult r;
  Table t;
  t.title = fmt::format("{} in every format (finite values saturate at the format's largest; round to nearest even)", in);
  t.header = {"format", "bits", "hex", "stored value", "error"};
  t.right_align = {false, false, false, true, true};
  for (ScalarFormat f : F::all_scalar_formats()) {
    const auto& p = F::properties(f);
    if (std::isnan(x) && !p.has_nan) {
      t.rows.push_back({p.name, "-", "-", "no NaN in this format", "-"});
      continue;
    }
    if (f == ScalarFormat::NF4 && std::fabs(x) > 1.0f) {
      t.rows.push_back({p.name, "-", "-", "needs |x| <= 1", "-"});
      continue;
    }
    // An infinity stays infinite where the format holds one; elsewhere it saturates, and says so.
    const bool inf_kept = std::isinf(x) && p.has_inf;
    const std::uint32_t code = F::encode(f, x, inf_kept ? F::Saturation::NoSaturate : F::Saturation::Saturate);
    const float back = F::decode(f, code);
    // enough digits to show the format's own rounding (0.1 in f32 is 0.100000001)
    const int digits = std::max(6, static_cast<int>(std::ceil(p.mantissa_bits * 0.30103)) + 2);
    std::string stored = back == 0 || !std::isfinite(back) ? signed_num(back) : fmt::format("{:.{}g}", back, digits);
    if (std::isnan(back) && !std::isnan(x)) stored = "NaN (no such value in this format)";
    else if (std::isinf(x) && !p.has_inf) stored += " (no infinity: its largest)";
    else if (x == 0 && std::signbit(x) && !(back == 0 && std::signbit(back)) && !std::isnan(back)) stored += " (no -0)";
    // against the number as typed, so FP32's own rounding shows too
    std::string err = std::isfinite(back) && std::isfinite(typed.v) ? num(static_cast<double>(back) - typed.v) : "-";
    t.rows.push_back({p.name, grouped_bits(p, code), fmt::format("0x{:0{}x}", code, (p.bits + 3) / 4), stored, err});
  }
  r.record["input"] = in;
  progress.report(1.0, "encoded");
  if (!typed.note.empty()) r.blocks.push_back(Text{typed.note});
  r.blocks.push_back(std::move(t));
  return r;
}

}  // namespace

Lab make_lab01() {
  Lab l;
  l.number = 1;
  l.id = "lab01";
  l.milestone_id = "m1";
  Step model_tensor{"lab01.model_tensor", model_tensor_job, false, true};
  model_tensor.params = {Param{"layer", ParamKind::Integer, "0", {}, 0, 4095},
                         Param{"projection", ParamKind::Choice, "auto",
                               {"auto", "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}, 0, 0}};
  Step synthetic{"lab01.synthetic", synthetic_job, false, true};
  synthetic.params = {Param{"values", ParamKind::Integer, "262144", {}, 4096, 1 << 24}};
  l.steps = {
      Step{"lab01.properties", properties_job, false, true},
      Step{"lab01.number_line", number_line_job, false, true},
      std::move(synthetic),
      std::move(model_tensor),
      Step{"lab01.bits", bits_job, true, false},
  };
  return l;
}

}  // namespace qlab::labs
