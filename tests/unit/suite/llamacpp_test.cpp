// The suite's perplexity of each GGUF variant against llama-perplexity's on the same model, text and
// protocol (tests/fixtures/llamacpp_ppl/expected.json, made by gen_llamacpp_ppl.py with llama.cpp's
// llama-quantize and llama-perplexity): equal within 0.1%, the baseline (F32) too; KLD within 10% and
// same-top-token within 1 point of llama-perplexity --kl-divergence's.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "engine/suite/suite.h"
#include "suite_test_util.h"

namespace qlab::suite {
namespace {

using namespace qlab::testing;

TEST(LlamaCpp, GgufPerplexityEqualsLlamaPerplexitysWithinATenthOfAPercent) {
  const auto file = fixtures() / "llamacpp_ppl" / "expected.json";
  if (!std::filesystem::exists(file))
    GTEST_SKIP() << "fixture not made yet: run `python3 tests/fixtures/gen_llamacpp_ppl.py --llama-quantize BIN "
                    "--llama-perplexity BIN --commit SHA --out tests/fixtures/llamacpp_ppl` with a CPU build of "
                    "llama.cpp and commit expected.json";
  const auto j = nlohmann::json::parse(read_file(file));
  const auto dir = scratch("suite-llamacpp");
  // The same text as the fixture's: the eval text with its separator "<|endoftext|>" as a line break
  // (llama-perplexity reads special tokens' text as plain text; see gen_llamacpp_ppl.py).
  std::string text = read_file(builtin_dir() / "eval.txt");
  for (std::size_t at; (at = text.find("<|endoftext|>")) != std::string::npos;) text.replace(at, 13, "\n");
  const auto plain = dir / "eval_plain.txt";
  std::ofstream(plain, std::ios::binary) << text;
  SuiteOptions o;
  o.text = plain;
  o.model_dir = builtin_dir();
  o.builtin_dir = builtin_dir();
  o.model_display = "builtin";
  o.builtin_model = true;
  o.mmlu_enabled = false;
  o.cache_root = dir;
  for (const auto& [name, v] : j.at("variants").items())
    if (name != "baseline") o.variants.push_back(name);
  const SuiteRun r = run_suite(o);
  ASSERT_EQ(r.variants.size(), j.at("variants").size());
  for (const auto& n : r.notes) EXPECT_EQ(n.find("special-token strings"), std::string::npos) << n;
  for (const auto& v : r.variants) {
    SCOPED_TRACE(v.name);
    ASSERT_TRUE(v.error.empty()) << v.error;
    const auto& want = j.at("variants").at(v.name);
    const std::int64_t per_chunk = j.at("ctx").get<std::int64_t>() / 2 - 1;  // the second half, less the last
    if (want.contains("chunks")) {
      EXPECT_EQ(v.ppl->scored, want.at("chunks").get<std::int64_t>() * per_chunk);
    }
    const double theirs = want.at("ppl").get<double>();
    EXPECT_LT(std::abs(v.ppl->ppl / theirs - 1), 1e-3) << "qlab " << v.ppl->ppl << ", llama-perplexity " << theirs;
    if (want.contains("kld_mean")) {
      // KLD and same-top against the baseline's logits: llama.cpp's from its F32 GGUF, qlab's from the HF
      // model; both round activations as llama.cpp's kernels do, so they agree to a few percent (a wrong
      // variant is off by several times).
      const double kld = want.at("kld_mean").get<double>();
      EXPECT_LT(std::abs(v.ppl->kld_mean / kld - 1), 0.1) << "KLD qlab " << v.ppl->kld_mean << ", llama.cpp " << kld;
      EXPECT_LT(std::abs(100 * v.ppl->same_top - want.at("same_top_percent").get<double>()), 1.0);
    }
    if (want.contains("kld_mean"))
      std::printf("%-12s PPL qlab %.4f llama.cpp %.4f  KLD qlab %.6f llama.cpp %.6f  same top qlab %.3f llama.cpp %.3f\n",
                  v.name.c_str(), v.ppl->ppl, theirs, v.ppl->kld_mean, want.at("kld_mean").get<double>(),
                  100 * v.ppl->same_top, want.value("same_top_percent", 0.0));
  }
}

}  // namespace
}  // namespace qlab::suite
