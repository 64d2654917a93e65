#pragma once
// The memory roofline of decoding: every weight is read once per generated token, so
//   decode tokens/s <= read bandwidth / bytes read per token.
// The bound holds for any engine on any machine (a batch of sequences shares one read of the
// weights, which is how servers beat it per sequence; one sequence cannot).
//   kSparkBandwidthGBs   NVIDIA DGX Spark's LPDDR5x memory, 273 GB/s (NVIDIA's DGX Spark datasheet
//                        and hardware overview); bounds computed with it are projections, not
//                        measurements
namespace qlab::bench {

inline constexpr double kSparkBandwidthGBs = 273.0;

inline double decode_bound_tps(double bandwidth_gbs, double bytes_per_token) {
  return bytes_per_token > 0 ? bandwidth_gbs * 1e9 / bytes_per_token : 0.0;
}

}  // namespace qlab::bench
