#pragma once
// Repeated measurements summarised as llama-bench prints them: mean and sample standard deviation.
#include <cmath>
#include <vector>

namespace qlab::bench {

struct Stat {
  std::vector<double> samples;
  double mean = 0;
  double sd = 0;  // sample standard deviation (n - 1); 0 for a single sample
};

inline Stat stat_of(std::vector<double> samples) {
  Stat s;
  s.samples = std::move(samples);
  const auto n = static_cast<double>(s.samples.size());
  if (s.samples.empty()) return s;
  for (double v : s.samples) s.mean += v;
  s.mean /= n;
  if (s.samples.size() > 1) {
    double ss = 0;
    for (double v : s.samples) ss += (v - s.mean) * (v - s.mean);
    s.sd = std::sqrt(ss / (n - 1));
  }
  return s;
}

}  // namespace qlab::bench
