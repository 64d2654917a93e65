// Lab 1 — data type exploration: what each number format can hold, and what it does to real values.
//   lab01.properties    the properties table of every scalar format
//   lab01.number_line   where the representable values sit, and how many fall in [1, 2)
//   lab01.synthetic     round-trip error (SQNR, histogram) on synthetic weight-like tensors
//   lab01.model_tensor  the same on a real weight tensor of the current model
//   lab01.bits          type a number, see its bits in every format
#include <cctype>
#include <cmath>
#include <string>

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
        bars.values.push_back(std::isinf(s.sqnr_db) ? 0.0 : s.sqnr_db);
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

StepResult synthetic_job(const JobContext&, Progress& progress, std::stop_token stop) {
  StepResult r;
  std::vector<std::pair<std::string, std::vector<float>>> tensors;
  // The tensors of `qlab quantize-tensor --synthetic KIND --rows 256 --cols 1024` (seed 0).
  for (auto k : {tensor::SyntheticKind::Gaussian, tensor::SyntheticKind::Laplace, tensor::SyntheticKind::GaussianOutliers})
    tensors.emplace_back(tensor::synthetic_name(k), tensor::synthetic_tensor(k, 256 * 1024));
  tensor_report(r, tensors, progress, stop);
  return r;
}

StepResult model_tensor_job(const JobContext& ctx, Progress& progress, std::stop_token stop) {
  progress.report(0.0, "reading the weights");
  WeightSample w = load_weight_sample(ctx.model, 1 << 20);
  check_cancel(stop);
  StepResult r;
  std::string label = fmt::format("{} ({}x{})", w.name, w.rows, w.cols);
  tensor_report(r, {{"model tensor", w.data}}, progress, stop);
  r.blocks.insert(r.blocks.begin(), Block(Text{fmt::format("Tensor {} of the {} model: the first {} of its {} rows.",
                                                            w.name, ctx.model.display, w.rows, w.full_rows)}));
  r.record["tensor"] = label;
  return r;
}

// "0 1000 011" for an e4m3 code: sign, exponent, mantissa groups.
std::string grouped_bits(const F::ScalarProperties& p, std::uint32_t code) {
  std::string bits;
  for (int b = p.bits - 1; b >= 0; --b) bits += ((code >> b) & 1u) ? '1' : '0';
  if (!p.is_float || p.exponent_bits == 0) return bits;
  std::string out;
  int signbits = p.is_signed ? 1 : 0;
  for (int i = 0; i < static_cast<int>(bits.size()); ++i) {
    if ((i == signbits && signbits) || (i == signbits + p.exponent_bits && p.mantissa_bits > 0)) out += ' ';
    out += bits[static_cast<std::size_t>(i)];
  }
  return out;
}

StepResult bits_job(const JobContext& ctx, Progress& progress, std::stop_token) {
  std::string in = ctx.input;
  while (!in.empty() && std::isspace(static_cast<unsigned char>(in.back()))) in.pop_back();
  while (!in.empty() && std::isspace(static_cast<unsigned char>(in.front()))) in.erase(in.begin());
  double value = 0;
  try {
    std::size_t used = 0;
    value = std::stod(in, &used);
    if (used != in.size()) throw std::invalid_argument("trailing");
  } catch (const std::exception&) {
    fail("'{}' is not a number (try 0.1, 3.14159, 448, 1e-5 or -2.5)", in);
  }
  const float x = static_cast<float>(value);
  StepResult r;
  Table t;
  t.title = fmt::format("{} in every format (saturating, round to nearest even)", in);
  t.header = {"format", "bits", "hex", "stored value", "error"};
  for (ScalarFormat f : F::all_scalar_formats()) {
    const auto& p = F::properties(f);
    if (f == ScalarFormat::NF4 && std::fabs(x) > 1.0f) {
      t.rows.push_back({p.name, "-", "-", "needs |x| <= 1", "-"});
      continue;
    }
    std::uint32_t code = F::encode(f, x);
    float back = F::decode(f, code);
    std::string err = std::isfinite(back) ? num(static_cast<double>(back) - static_cast<double>(x)) : "-";
    t.rows.push_back({p.name, grouped_bits(p, code), fmt::format("0x{:0{}x}", code, (p.bits + 3) / 4), num(back), err});
  }
  r.record["input"] = in;
  progress.report(1.0, "encoded");
  r.blocks.push_back(std::move(t));
  return r;
}

}  // namespace

Lab make_lab01() {
  Lab l;
  l.number = 1;
  l.id = "lab01";
  l.milestone_id = "m1";
  l.steps = {
      Step{"lab01.properties", properties_job, false, true},
      Step{"lab01.number_line", number_line_job, false, true},
      Step{"lab01.synthetic", synthetic_job, false, true},
      Step{"lab01.model_tensor", model_tensor_job, false, true},
      Step{"lab01.bits", bits_job, true, false},
  };
  return l;
}

}  // namespace qlab::labs
