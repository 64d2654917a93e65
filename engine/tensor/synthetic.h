#pragma once
// Synthetic weight-like tensors: the one generator behind lab 1, lab 2, `qlab quantize-tensor` and the
// benchmarks, so the same request (kind, size, seed) gives the same values, and the same numbers, in each.
//   gaussian           N(0, 0.02^2): the spread of an initialized transformer Linear weight
//   gaussian-outliers  the same, with one value in a thousand replaced by an outlier of 5 to 15
//                      standard deviations (random sign): the outlier channels real LLM weights have
//   laplace            Laplace with the same variance (scale b = 0.02 / sqrt 2): heavier tails
// Values come from splitmix64 and closed-form transforms (Box-Muller, inverse CDF), not std::
// distributions (implementation-defined), so every platform and standard library gives the same bits.
// The stream does not depend on the shape: n values are the first n of the (kind, seed) sequence.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace qlab::tensor {

enum class SyntheticKind { Gaussian, GaussianOutliers, Laplace };

inline constexpr double kSyntheticStd = 0.02;

const char* synthetic_name(SyntheticKind k);  // "gaussian", "gaussian-outliers", "laplace"
std::optional<SyntheticKind> synthetic_kind_from_name(std::string_view name);
const std::vector<SyntheticKind>& all_synthetic_kinds();

std::vector<float> synthetic_tensor(SyntheticKind k, std::size_t n, std::uint64_t seed = 0);

}  // namespace qlab::tensor
