#include "labs/lab08_roofline.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "engine/bench/roofline.h"

namespace qlab::labs {

namespace {

std::string stat_text(const bench::Stat& s, int digits) {
  if (s.samples.empty()) return "-";
  return fmt::format("{:.{}f} ± {:.{}f}", s.mean, digits, s.sd, digits);
}

}  // namespace

std::string bytes_text(double bytes) {
  if (bytes >= 1e9) return fmt::format("{:.2f} GB", bytes / 1e9);
  if (bytes >= 1e6) return fmt::format("{:.0f} MB", bytes / 1e6);
  return fmt::format("{:.0f} kB", bytes / 1e3);
}

Table infer_table(const bench::InferBenchResult& r) {
  Table t;
  t.title = fmt::format("{} thread{}, kernels {}: decode against the memory roofline", r.threads,
                        r.threads == 1 ? "" : "s", r.kernels);
  t.header = {"variant", "weights", "bytes/token", fmt::format("pp{} tok/s", r.prompt_tokens),
              fmt::format("tg{} tok/s", r.decode_tokens), "GB/s", "of bandwidth", "bound here", "Spark bound*"};
  for (const auto& v : r.variants) {
    t.rows.push_back({v.name, v.storage, bytes_text(v.bytes_per_token), stat_text(v.prompt_tps, 1),
                      stat_text(v.decode_tps, 2), fmt::format("{:.1f}", v.achieved_gbs),
                      fmt::format("{:.0f}%", 100 * v.efficiency),
                      fmt::format("{:.1f}", bench::decode_bound_tps(r.read_gbs, v.bytes_per_token)),
                      fmt::format("{:.0f}", bench::decode_bound_tps(bench::kSparkBandwidthGBs, v.bytes_per_token))});
  }
  t.right_align = {false, false, true, true, true, true, true, true, true};
  return t;
}

Text ceilings_text(const bench::InferBenchResult& r) {
  if (!r.device.empty())
    return Text{fmt::format(
        "Measured in this run on the GPU ({}): device copy bandwidth {:.1f} GB/s (bytes read plus written); cuBLAS "
        "GEMM {}x{}x{} at {:.1f} GFLOP/s. \"of bandwidth\" = the GB/s a variant's decoding read / that bandwidth. "
        "* projected, not measured: the Spark's {:.0f} GB/s over the same bytes per token.",
        r.device, r.read_gbs, r.gemm.M, r.gemm.N, r.gemm.K, r.gemm.best, bench::kSparkBandwidthGBs)};
  return Text{fmt::format(
      "Measured in this run: read bandwidth {:.1f} GB/s (the better of {:.1f} ± {:.1f} before and {:.1f} ± {:.1f} "
      "after the variants, summing a {:.0f} MiB buffer); SGEMM {}x{}x{} at {:.1f} GFLOP/s. \"of bandwidth\" = the "
      "GB/s a variant's decoding read / that bandwidth. * projected, not measured: the Spark's {:.0f} GB/s over the "
      "same bytes per token.",
      r.read_gbs, r.read_before.gbs.mean, r.read_before.gbs.sd, r.read_after.gbs.mean, r.read_after.gbs.sd,
      static_cast<double>(r.read_before.bytes) / (1 << 20), r.gemm.M, r.gemm.N, r.gemm.K, r.gemm.best,
      bench::kSparkBandwidthGBs)};
}

LineChart roofline_chart(const bench::InferBenchResult& r, const std::vector<Series>& extra) {
  LineChart c;
  c.title = "Decode tokens/s against bytes read per token (log-log): the bandwidth bounds and the measurements";
  c.x_label = "bytes / token";
  c.y_label = "tokens/s";
  c.log_x = true;
  c.log_y = true;
  double lo = 1e300, hi = 0;
  for (const auto& v : r.variants) {
    lo = std::min(lo, v.bytes_per_token);
    hi = std::max(hi, v.bytes_per_token);
  }
  for (const auto& s : extra)
    for (double x : s.x) {
      lo = std::min(lo, x);
      hi = std::max(hi, x);
    }
  if (!(hi > 0)) return c;
  lo /= 2;
  hi *= 2;
  Series here{fmt::format("bound at {:.1f} GB/s (here)", r.read_gbs), {}, {}};
  Series spark{fmt::format("Spark {:.0f} GB/s (projected)", bench::kSparkBandwidthGBs), {}, {}};
  const int n = 64;
  for (int i = 0; i < n; ++i) {
    const double x = lo * std::pow(hi / lo, static_cast<double>(i) / (n - 1));
    here.x.push_back(x);
    here.y.push_back(bench::decode_bound_tps(r.read_gbs, x));
    spark.x.push_back(x);
    spark.y.push_back(bench::decode_bound_tps(bench::kSparkBandwidthGBs, x));
  }
  Series measured{"measured decode", {}, {}};
  for (const auto& v : r.variants) {
    measured.x.push_back(v.bytes_per_token);
    measured.y.push_back(v.decode_tps.mean);
  }
  c.series = {std::move(measured), std::move(here), std::move(spark)};
  for (const auto& s : extra) c.series.push_back(s);
  return c;
}

}  // namespace qlab::labs
