// bitsandbytes create_dynamic_map(signed=True, max_exponent_bits=7, total_bits=8), in float32 as
// torch computes it, and the nearest-value encoder of bnb's default backend.
#include "engine/formats/block_dynamic_map.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace qlab::formats {

namespace {

// torch.linspace(0.1, 1, steps, dtype=float32) on the CPU: start + step*i below the halfway point,
// end - step*(steps-1-i) above it, each evaluated as one fused multiply-add (how the ATen kernel
// compiled on the machine that made the reference fixtures; rounding the product separately
// moves a third of the 256 values by an ulp, see block_fixtures_test).
float linspace_point(float start, float end, int steps, int idx) {
  const float step = (end - start) / static_cast<float>(steps - 1);
  return idx < steps / 2 ? std::fma(step, static_cast<float>(idx), start)
                         : std::fma(-step, static_cast<float>(steps - idx - 1), end);
}

}  // namespace

std::array<float, 256> make_bnb_dynamic_map() {
  std::vector<float> data;
  for (int i = 0; i < 7; ++i) {
    const int fraction_items = (1 << i) + 1;
    // 10 ** (-6 + i) is a Python number; torch multiplies a float32 tensor by it in float32.
    const float scale = static_cast<float>(std::pow(10.0, -6 + i));
    std::vector<float> means;
    for (int j = 0; j + 1 < fraction_items; ++j)
      means.push_back((linspace_point(0.1f, 1.0f, fraction_items, j) +
                       linspace_point(0.1f, 1.0f, fraction_items, j + 1)) / 2.0f);
    for (float m : means) data.push_back(scale * m);
    for (float m : means) data.push_back(-scale * m);
  }
  data.push_back(0.0f);
  data.push_back(1.0f);
  std::sort(data.begin(), data.end());
  std::array<float, 256> out{};
  std::copy_n(data.begin(), 256, out.begin());
  return out;
}

const std::array<float, 256>& bnb_dynamic_map() {
  static const std::array<float, 256> m = make_bnb_dynamic_map();
  return m;
}

std::uint8_t bnb_dynamic_encode(const std::array<float, 256>& map, float x) {
  // |x - v| rounded to float never decreases moving away from x on either side, so the minimum
  // sits at the neighbours of x; equal distances further left (rounding can make them equal) win
  // the tie, as torch.argmin takes the first.
  x = std::clamp(x, -1.0f, 1.0f);
  const std::size_t hi = static_cast<std::size_t>(std::upper_bound(map.begin(), map.end(), x) - map.begin());
  if (hi == 0) return 0;
  std::size_t best = hi - 1;
  const float dl = std::fabs(x - map[best]);
  if (hi < map.size() && std::fabs(x - map[hi]) < dl) return static_cast<std::uint8_t>(hi);
  while (best > 0 && std::fabs(x - map[best - 1]) == dl) --best;
  return static_cast<std::uint8_t>(best);
}

}  // namespace qlab::formats
