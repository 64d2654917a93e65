#pragma once
// Shared helpers for the calibration, GPTQ and AWQ tests: deterministic random matrices (splitmix64 and
// Box-Muller, the same numbers on every platform), activations with correlated, anisotropic channels
// like a transformer's, and round-to-nearest of a whole matrix through the format's own codec.
#include <cmath>
#include <cstdint>
#include <span>
#include <vector>

#include "engine/formats/block.h"

namespace qlab::testing {

struct Rng {
  std::uint64_t s;
  std::uint64_t next() {
    std::uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  double uniform() { return (static_cast<double>(next() >> 11) + 0.5) * 0x1.0p-53; }
  double gaussian() { return std::sqrt(-2.0 * std::log(uniform())) * std::cos(6.283185307179586 * uniform()); }
};

inline std::vector<float> gaussian_matrix(std::int64_t rows, std::int64_t cols, double std, std::uint64_t seed) {
  Rng rng{seed};
  std::vector<float> x(static_cast<std::size_t>(rows * cols));
  for (auto& v : x) v = static_cast<float>(std * rng.gaussian());
  return x;
}

// X [n, cols]: k latent factors mixed into every channel plus a little noise, each channel scaled by
// exp(spread * gaussian) -- strongly correlated channels of very different magnitudes.
inline std::vector<float> correlated_activations(std::int64_t n, std::int64_t cols, std::int64_t k, double spread,
                                                 std::uint64_t seed) {
  Rng rng{seed};
  std::vector<double> mix(static_cast<std::size_t>(k * cols)), scale(static_cast<std::size_t>(cols));
  for (auto& v : mix) v = rng.gaussian();
  for (auto& v : scale) v = std::exp(spread * rng.gaussian());
  std::vector<float> x(static_cast<std::size_t>(n * cols));
  std::vector<double> z(static_cast<std::size_t>(k));
  for (std::int64_t i = 0; i < n; ++i) {
    for (auto& v : z) v = rng.gaussian();
    for (std::int64_t c = 0; c < cols; ++c) {
      double s = 0.1 * rng.gaussian();
      for (std::int64_t j = 0; j < k; ++j) s += z[static_cast<std::size_t>(j)] * mix[static_cast<std::size_t>(j * cols + c)];
      x[static_cast<std::size_t>(i * cols + c)] = static_cast<float>(s * scale[static_cast<std::size_t>(c)] / std::sqrt(double(k)));
    }
  }
  return x;
}

// X^T X in double, both triangles, as float.
inline std::vector<float> direct_gram(std::span<const float> x, std::int64_t n, std::int64_t cols) {
  std::vector<float> g(static_cast<std::size_t>(cols * cols));
  for (std::int64_t i = 0; i < cols; ++i)
    for (std::int64_t j = 0; j < cols; ++j) {
      double s = 0;
      for (std::int64_t t = 0; t < n; ++t)
        s += double(x[static_cast<std::size_t>(t * cols + i)]) * x[static_cast<std::size_t>(t * cols + j)];
      g[static_cast<std::size_t>(i * cols + j)] = static_cast<float>(s);
    }
  return g;
}

// Round-to-nearest of w [rows, cols] in block format `name`, dequantized (the format's own codec).
inline std::vector<float> rtn(const std::string& name, std::span<const float> w, std::int64_t rows, std::int64_t cols) {
  const auto spec = *formats::block_format_from_name(name);
  const auto q = formats::quantize(spec, w, rows, cols, formats::KernelPath::Reference);
  std::vector<float> out(w.size());
  formats::dequantize(q, out, formats::KernelPath::Reference);
  return out;
}

}  // namespace qlab::testing
