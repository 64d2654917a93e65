// GPTQ against the reference algorithm run in PyTorch (tests/fixtures/gen_gptq.py: IST-DASLab/gptq's
// fasterquant and Quantizer, AutoGPTQ's scales / g_idx bookkeeping) on a fixed W [32 x 256] and
// X [512 x 256], for bits 2/3/4/8, groups 32/64/128/per row, asymmetric and symmetric, act-order with
// and without static groups, and both group rules.
// Tolerances: both sides compute in float32 but sum in different orders (LAPACK / BLAS builds, torch's
// kernels), so a weight that lands within rounding of a decision boundary can take the neighbouring
// code, and GPTQ feeds that difference forward along its row. Designed, not guessed: g_idx and the
// first group's parameters (made before any update) must match exactly, the codes almost everywhere,
// and the output error -- the quantity GPTQ minimises -- to 2%.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

#include "engine/quant/gptq.h"
#include "engine/quant/input_stats.h"

namespace qlab::quant {
namespace {

namespace fs = std::filesystem;

fs::path fixture_dir() { return fs::path(QLAB_SOURCE_DIR) / "tests" / "fixtures" / "gptq"; }

template <typename T>
std::vector<T> read_bin(const fs::path& p, std::size_t n) {
  std::ifstream in(p, std::ios::binary);
  if (!in) throw std::runtime_error("fixture missing: " + p.string() +
                                    " -- run: python3 tests/fixtures/gen_gptq.py --out tests/fixtures/gptq");
  std::vector<T> v(n);
  in.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(n * sizeof(T)));
  if (in.gcount() != static_cast<std::streamsize>(n * sizeof(T))) throw std::runtime_error(p.string() + " is short");
  return v;
}

nlohmann::json manifest() {
  const fs::path p = fixture_dir() / "manifest.json";
  std::ifstream in(p);
  if (!in)
    throw std::runtime_error("fixture missing: " + p.string() +
                             " -- run: python3 tests/fixtures/gen_gptq.py --out tests/fixtures/gptq (needs torch)");
  return nlohmann::json::parse(in);
}

GptqOptions options_of(const nlohmann::json& c) {
  GptqOptions o;
  o.bits = c["bits"];
  o.group_size = c["group_size"];
  o.symmetric = c["sym"];
  o.act_order = c["act_order"];
  o.static_groups = c["static_groups"];
  o.rule = c["rule"] == "format" ? IntGroupRule::Format : IntGroupRule::GptqReference;
  return o;
}

TEST(GptqReference, MatchesTheReferenceImplementation) {
  nlohmann::json m;
  ASSERT_NO_THROW(m = manifest()) << "fixture missing: run python3 tests/fixtures/gen_gptq.py --out tests/fixtures/gptq";
  const std::int64_t rows = m["rows"], cols = m["cols"], n = m["tokens"];
  const auto R = static_cast<std::size_t>(rows), C = static_cast<std::size_t>(cols);
  const auto w = read_bin<float>(fixture_dir() / "W.bin", R * C);
  const auto h = read_bin<float>(fixture_dir() / "H.bin", C * C);
  const auto x = read_bin<float>(fixture_dir() / "X.bin", static_cast<std::size_t>(n) * C);
  ASSERT_GE(m["configs"].size(), 10u);
  InputStats stats(cols, true, "X.bin");
  stats.add(x.data(), n);
  const auto gram = stats.gram();
  for (const auto& c : m["configs"]) {
    const std::string name = c["name"];
    SCOPED_TRACE(name);
    const auto G = static_cast<std::size_t>(c["groups"].get<int>());
    const auto codes = read_bin<std::uint8_t>(fixture_dir() / (name + ".codes.bin"), R * C);
    const auto scales = read_bin<float>(fixture_dir() / (name + ".scales.bin"), R * G);
    const auto zeros = read_bin<float>(fixture_dir() / (name + ".zeros.bin"), R * G);
    const auto g_idx = read_bin<std::int32_t>(fixture_dir() / (name + ".g_idx.bin"), C);
    const auto q = gptq_quantize(w, rows, cols, h, options_of(c), name);
    ASSERT_EQ(static_cast<std::size_t>(q.groups()), G);
    EXPECT_EQ(q.g_idx, g_idx);
    // The group made first (before any error feedback reached it) has the reference's parameters exactly.
    const std::size_t first = q.perm.empty() ? 0 : static_cast<std::size_t>(g_idx[static_cast<std::size_t>(q.perm[0])]);
    for (std::size_t r = 0; r < R; ++r) {
      EXPECT_EQ(q.scales[r * G + first], scales[r * G + first]) << "row " << r;
      EXPECT_EQ(q.zeros[r * G + first], zeros[r * G + first]) << "row " << r;
    }
    std::size_t same = 0;
    for (std::size_t i = 0; i < R * C; ++i) same += q.codes[i] == codes[i];
    const double frac = static_cast<double>(same) / static_cast<double>(R * C);
    EXPECT_GE(frac, 0.99) << same << " of " << R * C << " codes equal";
    const double ref = c["output_error"];
    const double ours = output_error(w, q.dequantized, rows, cols, gram);
    EXPECT_NEAR(ours, ref, 0.02 * ref) << "ours " << ours << " reference " << ref;
    const double ref_rtn = c["rtn_output_error"];
    EXPECT_LT(ours * 5, ref_rtn);
    // End to end: the Hessian accumulated here from X instead of the reference's.
    const auto q2 = gptq_quantize(w, rows, cols, stats.hessian(), options_of(c), name);
    EXPECT_NEAR(output_error(w, q2.dequantized, rows, cols, gram), ref, 0.05 * ref);
  }
}

}  // namespace
}  // namespace qlab::quant
