// The suite's report as one self-contained HTML page: inline CSS, inline SVG (no xmlns address is
// needed inside HTML), a Content-Security-Policy that lets the page load nothing (default-src 'none'),
// and no http(s) address anywhere, so opening it never reaches the network.
#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "engine/report/report.h"

namespace qlab::report {

using suite::SuiteRun;
using suite::VariantResult;

namespace {

std::string esc(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

struct Point {
  std::string name;
  double x, y;
};

// A "nice" axis step for a range.
double nice_step(double range, int ticks) {
  const double raw = range / std::max(1, ticks);
  const double p = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (m * p >= raw) return m * p;
  return 10 * p;
}

// Scatter of points with the Pareto front (no other point both smaller and better) drawn as a line.
std::string pareto_svg(const std::vector<Point>& pts, const std::string& x_label, const std::string& y_label) {
  const double W = 640, H = 360, L = 70, R = 20, T = 20, B = 50;
  double x0 = 0, x1 = 1, y0 = 0, y1 = 1;
  if (!pts.empty()) {
    x0 = x1 = pts[0].x;
    y0 = y1 = pts[0].y;
    for (const auto& p : pts) {
      x0 = std::min(x0, p.x), x1 = std::max(x1, p.x);
      y0 = std::min(y0, p.y), y1 = std::max(y1, p.y);
    }
  }
  x0 = std::min(0.0, x0);
  y0 = std::min(0.0, y0);
  if (x1 - x0 <= 0) x1 = x0 + 1;
  if (y1 - y0 <= 0) y1 = y0 + 1;
  x1 += (x1 - x0) * 0.08;
  y1 += (y1 - y0) * 0.08;
  auto sx = [&](double x) { return L + (x - x0) / (x1 - x0) * (W - L - R); };
  auto sy = [&](double y) { return H - B - (y - y0) / (y1 - y0) * (H - T - B); };
  std::string s = fmt::format(R"svg(<svg class="chart" id="pareto" viewBox="0 0 {} {}" width="{}" height="{}" role="img" aria-label="{} against {}">)svg",
                              W, H, W, H, esc(y_label), esc(x_label));
  s += fmt::format(R"svg(<line x1="{}" y1="{}" x2="{}" y2="{}" class="axis"/><line x1="{}" y1="{}" x2="{}" y2="{}" class="axis"/>)svg",
                   L, H - B, W - R, H - B, L, T, L, H - B);
  const double xs = nice_step(x1 - x0, 8), ys = nice_step(y1 - y0, 6);
  auto tidy = [](double v, double step) { return std::fabs(v) < step * 1e-9 ? 0.0 : v; };  // no "-0"
  for (double x = std::ceil(x0 / xs) * xs; x <= x1; x += xs)
    s += fmt::format(R"svg(<text x="{:.1f}" y="{}" class="tick" text-anchor="middle">{:g}</text>)svg", sx(x), H - B + 16,
                     tidy(x, xs));
  for (double y0t = std::ceil(y0 / ys) * ys, y = y0t; y <= y1; y += ys)
    s += fmt::format(R"svg(<line x1="{}" y1="{:.1f}" x2="{}" y2="{:.1f}" class="grid"/><text x="{}" y="{:.1f}" class="tick" text-anchor="end">{:g}</text>)svg",
                     L, sy(y), W - R, sy(y), L - 6, sy(y) + 4, tidy(y, ys));
  s += fmt::format(R"svg(<text x="{}" y="{}" class="label" text-anchor="middle">{}</text>)svg", (L + W - R) / 2, H - 10, esc(x_label));
  s += fmt::format(R"svg(<text x="16" y="{}" class="label" text-anchor="middle" transform="rotate(-90 16 {})">{}</text>)svg",
                   (T + H - B) / 2, (T + H - B) / 2, esc(y_label));
  std::vector<Point> front;
  for (const auto& p : pts) {
    bool dominated = false;
    for (const auto& q : pts)
      dominated = dominated || (q.x <= p.x && q.y <= p.y && (q.x < p.x || q.y < p.y));
    if (!dominated) front.push_back(p);
  }
  std::sort(front.begin(), front.end(), [](const Point& a, const Point& b) { return a.x < b.x; });
  if (front.size() > 1) {
    std::string path;
    for (const auto& p : front) path += fmt::format("{}{:.1f},{:.1f}", path.empty() ? "" : " ", sx(p.x), sy(p.y));
    s += fmt::format(R"svg(<polyline points="{}" class="front"/>)svg", path);
  }
  for (const auto& p : pts) {
    const bool on = std::any_of(front.begin(), front.end(), [&](const Point& f) { return f.name == p.name; });
    s += fmt::format(R"svg(<circle cx="{:.1f}" cy="{:.1f}" r="5" class="{}"><title>{}: {:g}, {:g}</title></circle>)svg",
                     sx(p.x), sy(p.y), on ? "pt front-pt" : "pt", esc(p.name), p.x, p.y);
    s += fmt::format(R"svg(<text x="{:.1f}" y="{:.1f}" class="pt-label">{}</text>)svg", sx(p.x) + 7, sy(p.y) - 6, esc(p.name));
  }
  return s + "</svg>";
}

std::string bars_svg(const std::string& id, const std::vector<Point>& bars, const std::string& unit, int digits) {
  const double W = 640, row = 24, L = 150, R = 110;
  const double H = row * static_cast<double>(bars.size()) + 10;
  double mx = 0;
  for (const auto& b : bars) mx = std::max(mx, b.y);
  if (mx <= 0) mx = 1;
  std::string s = fmt::format(R"svg(<svg class="chart" id="{}" viewBox="0 0 {} {}" width="{}" height="{}" role="img">)svg",
                              id, W, H, W, H);
  for (std::size_t i = 0; i < bars.size(); ++i) {
    const double y = 5 + row * static_cast<double>(i);
    const double w = std::max(0.0, bars[i].y) / mx * (W - L - R);
    s += fmt::format(R"svg(<text x="{}" y="{:.1f}" class="tick" text-anchor="end">{}</text>)svg", L - 8, y + 15, esc(bars[i].name));
    s += fmt::format(R"svg(<rect x="{}" y="{:.1f}" width="{:.1f}" height="{}" class="bar"><title>{}: {:.{}f} {}</title></rect>)svg",
                     L, y + 3, w, row - 8, esc(bars[i].name), bars[i].y, digits, esc(unit));
    s += fmt::format(R"svg(<text x="{:.1f}" y="{:.1f}" class="tick">{:.{}f} {}</text>)svg", L + w + 6, y + 15, bars[i].y, digits,
                     esc(unit));
  }
  return s + "</svg>";
}

}  // namespace

std::string html(const SuiteRun& r) {
  const VariantResult* base = suite::baseline_of(r);
  std::string s =
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; "
      "img-src data:\">\n"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
  s += fmt::format("<title>Quality suite: {}</title>\n", esc(r.model));
  s += "<style>\nbody{font-family:sans-serif;margin:2em;color:#222;max-width:1200px}\n"
       "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:3px 7px}"
       "td.n{text-align:right;font-variant-numeric:tabular-nums}th{background:#f3f3f3}\n"
       ".axis{stroke:#333}.grid{stroke:#e4e4e4}.tick{font-size:11px;fill:#333}.label{font-size:12px;fill:#111}"
       ".pt{fill:#6a8caf}.front-pt{fill:#c0392b}.front{fill:none;stroke:#c0392b;stroke-width:1.5;stroke-dasharray:4 3}"
       ".pt-label{font-size:11px;fill:#222}.bar{fill:#6a8caf}\n"
       "dt{font-weight:bold;margin-top:.6em}\n</style>\n</head>\n<body>\n";
  s += fmt::format("<h1>Quality suite: {}</h1>\n<p>qlab {} &middot; {} &middot; model fingerprint {}</p>\n",
                   esc(r.model), esc(r.qlab_version), esc(r.when), esc(r.model_fingerprint));
  const TableView t = table(r);
  s += "<table id=\"results\">\n<tr>";
  for (const auto& h : t.header) s += fmt::format("<th>{}</th>", esc(h));
  s += "</tr>\n";
  for (const auto& row : t.rows) {
    s += "<tr>";
    for (std::size_t c = 0; c < row.size(); ++c)
      s += fmt::format("<td{}>{}</td>", t.numeric[c] ? " class=\"n\"" : "", esc(row[c]));
    s += "</tr>\n";
  }
  s += "</table>\n<p>d = difference from the baseline. KLD in nats per token. dMMLU in points.</p>\n";

  std::vector<Point> pareto, kld, mmlu, text;
  for (const auto& v : r.variants) {
    if (!v.error.empty()) continue;
    if (v.ppl && base && base->ppl) pareto.push_back({v.name, v.bits_per_weight, v.ppl->ppl - base->ppl->ppl});
    if (v.ppl) kld.push_back({v.name, 0, v.ppl->kld_mean});
    if (v.mmlu) mmlu.push_back({v.name, 0, 100 * v.mmlu->micro});
    if (v.mmlu && v.mmlu->text_items) text.push_back({v.name, 0, 100 * v.mmlu->answer_text});
  }
  s += "<h2>Perplexity increase against size</h2>\n<p>Each variant at its bits per weight (from the bytes it stores) "
       "and its perplexity increase over the baseline. The red dashed line is the Pareto front: no other variant is "
       "both smaller and better.</p>\n";
  s += pareto_svg(pareto, "bits per weight", "perplexity increase") + "\n";
  s += "<h2>KL-divergence from the baseline</h2>\n";
  s += bars_svg("kld", kld, "nats", 5) + "\n";
  if (!mmlu.empty()) {
    s += "<h2>MMLU accuracy</h2>\n";
    s += bars_svg("mmlu", mmlu, "%", 2) + "\n";
  }
  if (!text.empty()) {
    s += "<h2>Built-in questions by the answer text</h2>\n<p>A model this small does not learn to map the letters "
         "A-D to answers (its letter score sits near the 25% of guessing); scored by the answer text, the same "
         "questions show what quantization does to what it knows.</p>\n";
    s += bars_svg("answer-text", text, "%", 2) + "\n";
  }
  s += "<h2>Beside the module's claims</h2>\n<table id=\"claims\"><tr><th>variant</th><th>module: PPL increase</th>"
       "<th>measured</th><th>module: MMLU loss (points)</th><th>measured</th></tr>\n";
  for (const auto& c : module_claims())
    for (const auto& v : r.variants)
      if (v.name == c.variant && v.error.empty())
        s += fmt::format("<tr><td>{}</td><td>{}</td><td class=\"n\">{}</td><td>{}</td><td class=\"n\">{}</td></tr>\n",
                         esc(v.name), esc(c.ppl_increase),
                         base && base->ppl && v.ppl ? fmt::format("{:+.4f}", v.ppl->ppl - base->ppl->ppl) : "-",
                         esc(c.mmlu_loss),
                         base && base->mmlu && v.mmlu ? fmt::format("{:+.2f}", 100 * (v.mmlu->micro - base->mmlu->micro)) : "-");
  s += "</table>\n<p>Absolute perplexity differences do not transfer between models; the PPL ratio and the "
       "KL-divergence are relative to the model itself, so they compare across models.</p>\n";
  s += "<h2>Protocol and machine</h2>\n<dl>\n";
  auto item = [&](const std::string& k, const std::string& v) {
    if (!v.empty()) s += fmt::format("<dt>{}</dt><dd>{}</dd>\n", esc(k), esc(v));
  };
  item("Text", fmt::format("{} ({} tokens, hash {})", r.text_origin, r.text_tokens, r.text_hash));
  item("Perplexity", r.ppl_protocol);
  item("Chunks", r.chunk_note);
  item("Word perplexity", r.word_ppl_protocol);
  item("MMLU", r.mmlu_origin.empty() ? "" : r.mmlu_origin + "; " + r.mmlu_protocol);
  item("Baseline logits", r.kld_store);
  item("Machine", r.machine);
  item("Threads", r.threads);
  item("Suite time", fmt::format("{:.1f} s", r.seconds));
  item("Decode speed", "not measured by this build for in-memory variants (they compute with float32 copies of their "
                       "quantized weights)");
  s += "</dl>\n";
  for (const auto& v : r.variants)
    if (!v.error.empty()) s += fmt::format("<p class=\"error\">{}: {}</p>\n", esc(v.name), esc(v.error));
  for (const auto& n : r.notes) s += fmt::format("<p>{}</p>\n", esc(n));
  s += "</body>\n</html>\n";
  return s;
}

}  // namespace qlab::report
